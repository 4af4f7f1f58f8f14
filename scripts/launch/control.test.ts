import { describe, expect, it } from 'vitest';
import { agentPort, agentUrls, agentUrlsVar, controlPlan, eventsUrlFor, parseFlags, primaryUrl, type ControlPlanInput } from './control.ts';

const settings = { stateDir: '/tmp/fanout-x', topologyFile: '/repo/loadbalancing.xml', port: 8790, bridgeSecret: 'b', janusApiSecret: 'j', logLevel: 'info' };
const nodes = [{ id: 'origin' }, { id: 'edge-1' }, { id: 'edge-2' }];
const input = (over: Partial<ControlPlanInput> = {}): ControlPlanInput => ({
  mode: 'agents',
  nodes,
  local: new Set(['origin', 'edge-1', 'edge-2']),
  settings,
  agentSecrets: { origin: 'cred-origin', 'edge-1': 'cred-edge-1', 'edge-2': 'cred-edge-2' },
  inherited: { PATH: '/bin', FANOUT_BRIDGE_STATE_DIR: '/elsewhere' },
  ...over,
});

describe('parseFlags', () => {
  it('no flags: the worker and one agent per node', () => {
    expect(parseFlags([])).toEqual({ worker: true, control: 'agents' });
    expect(parseFlags(['--no-worker'])).toEqual({ worker: false, control: 'agents' });
    expect(parseFlags(['--agents'])).toEqual({ worker: true, control: 'agents' });
  });

  it('--bridge: one bridge for every node, with or without the worker', () => {
    expect(parseFlags(['--bridge'])).toEqual({ worker: true, control: 'bridge' });
    expect(parseFlags(['--bridge', '--no-worker'])).toEqual({ worker: false, control: 'bridge' });
    expect(() => parseFlags(['--bridge', '--agents'])).toThrow('--agents and --bridge exclude each other: one agent per node (the default), or one bridge for every node');
  });

  it('the worker gets each node agent (AGENT_URLS); the one bridge gives it none', () => {
    expect(agentUrlsVar(controlPlan(input()))).toBe('origin=http://127.0.0.1:8791,edge-1=http://127.0.0.1:8792,edge-2=http://127.0.0.1:8793');
    expect(agentUrlsVar(controlPlan(input({ mode: 'bridge' })))).toBe('');
  });

  it('an unknown flag fails naming it and the flags there are', () => {
    expect(() => parseFlags(['--no-worker', '--bridg'])).toThrow('unknown flag "--bridg" (the launcher takes --no-worker, --agents, --bridge; everything else is set in the environment)');
  });
});

describe('agentPort', () => {
  it('is FANOUT_BRIDGE_PORT + 1 + the node\'s topology index', () => {
    expect([0, 1, 2].map((i) => agentPort(8790, i))).toEqual([8791, 8792, 8793]);
  });

  it('fails when the port would be past 65535, naming the node\'s place in the topology', () => {
    expect(agentPort(65533, 1)).toBe(65535);
    expect(() => agentPort(65533, 2)).toThrow('FANOUT_BRIDGE_PORT 65533 leaves no port for the agent of topology node #3 (65536 > 65535)');
  });
});

describe('controlPlan', () => {
  it('bridge mode: one bridge on FANOUT_BRIDGE_PORT with its journal in <state>/bridge; every node\'s events and agent URL are the bridge\'s', () => {
    const plan = controlPlan(input({ mode: 'bridge' }));
    expect(plan.map(({ env: _, ...c }) => c)).toEqual([
      { name: 'bridge', node: undefined, port: 8790, url: 'http://127.0.0.1:8790', args: [], stateDir: '/tmp/fanout-x/bridge', logName: 'bridge.log' },
    ]);
    expect(plan[0]?.env['FANOUT_BRIDGE_STATE_DIR']).toBe('/tmp/fanout-x/bridge');
    expect(eventsUrlFor(plan, 'edge-2')).toBe('http://127.0.0.1:8790/janus/events');
    expect(agentUrls(plan, ['origin', 'edge-1'])).toEqual({ origin: 'http://127.0.0.1:8790', 'edge-1': 'http://127.0.0.1:8790' });
    expect(primaryUrl(plan, ['origin'])).toBe('http://127.0.0.1:8790');
  });

  it('agents mode: one agent per node, `--node <id>`, its own port, journal folder and log file, in topology order', () => {
    const plan = controlPlan(input());
    expect(plan.map(({ env: _, ...c }) => c)).toEqual([
      { name: 'agent origin', node: 'origin', port: 8791, url: 'http://127.0.0.1:8791', args: ['--node', 'origin'], stateDir: '/tmp/fanout-x/agents/origin', logName: 'agent-origin.log' },
      { name: 'agent edge-1', node: 'edge-1', port: 8792, url: 'http://127.0.0.1:8792', args: ['--node', 'edge-1'], stateDir: '/tmp/fanout-x/agents/edge-1', logName: 'agent-edge-1.log' },
      { name: 'agent edge-2', node: 'edge-2', port: 8793, url: 'http://127.0.0.1:8793', args: ['--node', 'edge-2'], stateDir: '/tmp/fanout-x/agents/edge-2', logName: 'agent-edge-2.log' },
    ]);
  });

  it('agents mode: each agent\'s environment has its own port, credential and journal folder (over one inherited from the shell), the Janus secret and topology', () => {
    const [, edge1] = controlPlan(input());
    expect(edge1?.env).toEqual({
      PATH: '/bin',
      FANOUT_TOPOLOGY: '/repo/loadbalancing.xml',
      FANOUT_BRIDGE_PORT: '8792',
      FANOUT_BRIDGE_HOST: '127.0.0.1',
      BRIDGE_SECRET: 'cred-edge-1',
      JANUS_API_SECRET: 'j',
      FANOUT_LOG_LEVEL: 'info',
      FANOUT_BRIDGE_STATE_DIR: '/tmp/fanout-x/agents/edge-1',
    });
  });

  it('agents mode: each node\'s Janus posts its events to its own agent; agentUrls and bridgeUrl (the origin\'s agent) follow', () => {
    const plan = controlPlan(input());
    expect(nodes.map((n) => eventsUrlFor(plan, n.id))).toEqual([
      'http://127.0.0.1:8791/janus/events',
      'http://127.0.0.1:8792/janus/events',
      'http://127.0.0.1:8793/janus/events',
    ]);
    expect(agentUrls(plan, ['origin', 'edge-1', 'edge-2'])).toEqual({
      origin: 'http://127.0.0.1:8791',
      'edge-1': 'http://127.0.0.1:8792',
      'edge-2': 'http://127.0.0.1:8793',
    });
    expect(primaryUrl(plan, ['origin'])).toBe('http://127.0.0.1:8791');
  });

  it('agents mode: a node that is not local gets no agent here, and the others keep their topology-order ports', () => {
    const plan = controlPlan(input({ local: new Set(['origin', 'edge-2']) }));
    expect(plan.map((c) => [c.name, c.port])).toEqual([
      ['agent origin', 8791],
      ['agent edge-2', 8793],
    ]);
    expect(() => eventsUrlFor(plan, 'edge-1')).toThrow('no control process drives node "edge-1"');
  });

  it('agents mode with no local node fails saying there is no agent to start', () => {
    expect(() => controlPlan(input({ local: new Set() }))).toThrow('--agents: no node of the topology is local, so there is no agent to start here');
  });
});
