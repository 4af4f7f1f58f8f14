import { describe, expect, it } from 'vitest';
import { agentEnv, agentStateDir, BRIDGE_RESTART_MS, bridgeEnv, bridgeStateDir } from './bridge-env.ts';

const settings = { stateDir: '/tmp/fanout-x', topologyFile: '/repo/loadbalancing.xml', port: 8790, bridgeSecret: 'b', janusApiSecret: 'j', logLevel: 'info' };

describe('bridgeEnv', () => {
  it('points the bridge\'s journal at <FANOUT_STATE_DIR>/bridge, over a FANOUT_BRIDGE_STATE_DIR inherited from the shell', () => {
    const env = bridgeEnv({ PATH: '/bin', FANOUT_BRIDGE_STATE_DIR: '/elsewhere' }, settings);
    expect(env['FANOUT_BRIDGE_STATE_DIR']).toBe('/tmp/fanout-x/bridge');
    expect(bridgeStateDir(settings.stateDir)).toBe('/tmp/fanout-x/bridge');
    expect(env['PATH']).toBe('/bin');
  });

  it('gives the bridge its port on loopback, its secrets, topology and log level', () => {
    expect(bridgeEnv({}, settings)).toEqual({
      FANOUT_TOPOLOGY: '/repo/loadbalancing.xml',
      FANOUT_BRIDGE_PORT: '8790',
      FANOUT_BRIDGE_HOST: '127.0.0.1',
      BRIDGE_SECRET: 'b',
      JANUS_API_SECRET: 'j',
      FANOUT_LOG_LEVEL: 'info',
      FANOUT_BRIDGE_STATE_DIR: '/tmp/fanout-x/bridge',
    });
  });
});

describe('BRIDGE_RESTART_MS', () => {
  it('restarts a dead bridge within 250 ms, well inside the 1 s a viewer may notice and the 30 s Janus keeps its sessions', () => {
    expect(BRIDGE_RESTART_MS).toBe(250);
  });
});

describe('agentEnv', () => {
  it('gives a node\'s agent its own port, its own credential and its own journal folder <FANOUT_STATE_DIR>/agents/<node>, over one inherited from the shell', () => {
    const env = agentEnv({ PATH: '/bin', FANOUT_BRIDGE_STATE_DIR: '/elsewhere' }, settings, { node: 'edge-2', port: 8793, secret: 'edge-2-credential' });
    expect(env['FANOUT_BRIDGE_STATE_DIR']).toBe('/tmp/fanout-x/agents/edge-2');
    expect(agentStateDir(settings.stateDir, 'edge-2')).toBe('/tmp/fanout-x/agents/edge-2');
    expect(env['FANOUT_BRIDGE_PORT']).toBe('8793');
    expect([env['BRIDGE_SECRET'], env['JANUS_API_SECRET'], env['FANOUT_TOPOLOGY'], env['PATH']]).toEqual(['edge-2-credential', 'j', '/repo/loadbalancing.xml', '/bin']);
  });
});
