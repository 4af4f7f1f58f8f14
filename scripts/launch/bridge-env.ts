/**
 * What the launcher gives the bridge, or each node's agent (`--agents`): its environment (secrets,
 * port, topology and the state folder its journal lives in) and how soon it is started again after
 * it dies. Apart from main.ts so the unit tests can check them without starting anything.
 */
import { join } from 'node:path';

/**
 * Delay before a dead bridge (or agent) is started again (a service manager's Restart=always with a short
 * RestartSec): media does not depend on the bridge (Janus keeps its sessions for the new one to
 * claim), and the sooner it is back the sooner new requests are served again.
 */
export const BRIDGE_RESTART_MS = 250;

export interface BridgeEnvSettings {
  /** The launcher's FANOUT_STATE_DIR (absolute). */
  stateDir: string;
  topologyFile: string;
  port: number;
  bridgeSecret: string;
  janusApiSecret: string;
  logLevel: string;
}

/**
 * The bridge's state folder: one for every bridge process of a launcher run, so a restarted bridge
 * finds the journal of the one before it.
 */
export function bridgeStateDir(stateDir: string): string {
  return join(stateDir, 'bridge');
}

/**
 * The bridge's environment: the launcher's own, with the settings it decides on top, so a
 * FANOUT_BRIDGE_STATE_DIR inherited from the shell cannot point two runs at one journal.
 */
export function bridgeEnv(inherited: NodeJS.ProcessEnv, s: BridgeEnvSettings): NodeJS.ProcessEnv {
  return {
    ...inherited,
    FANOUT_TOPOLOGY: s.topologyFile,
    FANOUT_BRIDGE_PORT: String(s.port),
    FANOUT_BRIDGE_HOST: '127.0.0.1',
    BRIDGE_SECRET: s.bridgeSecret,
    JANUS_API_SECRET: s.janusApiSecret,
    FANOUT_LOG_LEVEL: s.logLevel,
    FANOUT_BRIDGE_STATE_DIR: bridgeStateDir(s.stateDir),
  };
}

/**
 * A node's agent's state folder: one per node, so that agents never share a journal (each takes
 * back only what it made on its own node), and the same for every restart of that agent.
 */
export function agentStateDir(stateDir: string, node: string): string {
  return join(stateDir, 'agents', node);
}

/**
 * A node's agent's environment: the bridge's, with the agent's own port, journal folder and
 * credential (`secret`: its node's, derived from BRIDGE_SECRET, protocol/credentials.ts; it never
 * gets BRIDGE_SECRET itself).
 */
export function agentEnv(inherited: NodeJS.ProcessEnv, s: BridgeEnvSettings, agent: { node: string; port: number; secret: string }): NodeJS.ProcessEnv {
  return {
    ...bridgeEnv(inherited, { ...s, port: agent.port, bridgeSecret: agent.secret }),
    FANOUT_BRIDGE_STATE_DIR: agentStateDir(s.stateDir, agent.node),
  };
}
