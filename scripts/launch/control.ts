/**
 * The launcher's flags, and the control processes it runs beside the Janus nodes: the one bridge
 * that drives every node, or (`--agents`) one agent per local Janus node, `bridge/main.ts --node
 * <id>`, each with its own port, journal folder and log file, and each receiving the events of its
 * own Janus node only. Pure (nothing is started here), so the unit tests check the plan itself.
 */
import { agentEnv, agentStateDir, bridgeEnv, bridgeStateDir, type BridgeEnvSettings } from './bridge-env.ts';

/** Who drives the Janus nodes: one bridge for all of them, or one agent each. */
export type ControlMode = 'bridge' | 'agents';

export interface LaunchFlags {
  worker: boolean;
  control: ControlMode;
}

export class ControlError extends Error {
  override readonly name = 'ControlError';
}

const FLAGS = ['--no-worker', '--agents', '--bridge'] as const;

/**
 * The launcher's command-line flags. An unknown flag is an error rather than ignored: a mistyped
 * `--bridg` would otherwise start agents and leave the user believing they run the one bridge.
 */
export function parseFlags(argv: readonly string[]): LaunchFlags {
  for (const a of argv) {
    if (!(FLAGS as readonly string[]).includes(a)) throw new ControlError(`unknown flag "${a}" (the launcher takes ${FLAGS.join(', ')}; everything else is set in the environment)`);
  }
  const worker = !argv.includes('--no-worker');
  if (argv.includes('--agents') && argv.includes('--bridge')) throw new ControlError('--agents and --bridge exclude each other: one agent per node (the default), or one bridge for every node');
  const control: ControlMode = argv.includes('--bridge') ? 'bridge' : 'agents';
  return { worker, control };
}

/** One control process the launcher starts and restarts. */
export interface ControlProcess {
  /** Its name in messages and in stack.json: "bridge", or "agent <node>". */
  name: string;
  /** The node an agent drives; undefined for the bridge, which drives every node. */
  node: string | undefined;
  port: number;
  url: string;
  /** Arguments after `bridge/main.ts`. */
  args: string[];
  /** Its journal folder (FANOUT_BRIDGE_STATE_DIR): the same for every restart of it. */
  stateDir: string;
  /** Its log file's name, in the launcher's log folder. */
  logName: string;
  env: NodeJS.ProcessEnv;
}

/**
 * An agent's port: FANOUT_BRIDGE_PORT + 1 + the node's index in the topology. Indexed by topology
 * order (not by which nodes are local) so a node's agent keeps its port whatever else is local.
 */
export function agentPort(bridgePort: number, topologyIndex: number): number {
  const port = bridgePort + 1 + topologyIndex;
  if (port > 65535) throw new ControlError(`FANOUT_BRIDGE_PORT ${bridgePort} leaves no port for the agent of topology node #${topologyIndex + 1} (${port} > 65535)`);
  return port;
}

export interface ControlPlanInput {
  mode: ControlMode;
  /** Every node of the topology, in its order. */
  nodes: ReadonlyArray<{ id: string }>;
  /** The nodes whose Janus the launcher runs here: only those get an agent. */
  local: ReadonlySet<string>;
  /** The bridge's settings; an agent's port, journal folder and credential replace the bridge's own. */
  settings: BridgeEnvSettings;
  /** Each node's agent credential (protocol/credentials.ts agentSecret), for the agents' plan. */
  agentSecrets: Readonly<Record<string, string>>;
  inherited: NodeJS.ProcessEnv;
}

/**
 * The control processes to start. One agent per LOCAL node: a remote node's agent runs beside its
 * own Janus (docker-compose.yml), as the issue asks of `npm start` ("one agent per node it starts").
 */
export function controlPlan(p: ControlPlanInput): ControlProcess[] {
  if (p.mode === 'bridge') {
    return [
      {
        name: 'bridge',
        node: undefined,
        port: p.settings.port,
        url: `http://127.0.0.1:${p.settings.port}`,
        args: [],
        stateDir: bridgeStateDir(p.settings.stateDir),
        logName: 'bridge.log',
        env: bridgeEnv(p.inherited, p.settings),
      },
    ];
  }
  const plan = p.nodes.flatMap((node, index): ControlProcess[] => {
    if (!p.local.has(node.id)) return [];
    const port = agentPort(p.settings.port, index);
    return [
      {
        name: `agent ${node.id}`,
        node: node.id,
        port,
        url: `http://127.0.0.1:${port}`,
        args: ['--node', node.id],
        stateDir: agentStateDir(p.settings.stateDir, node.id),
        logName: `agent-${node.id}.log`,
        env: agentEnv(p.inherited, p.settings, { node: node.id, port, secret: secretOf(p, node.id) }),
      },
    ];
  });
  if (plan.length === 0) throw new ControlError('--agents: no node of the topology is local, so there is no agent to start here');
  return plan;
}

function secretOf(p: ControlPlanInput, node: string): string {
  const secret = p.agentSecrets[node];
  if (secret === undefined) throw new Error(`no credential for the agent of ${node}`);
  return secret;
}

/** The control process that drives `node`: the bridge, or that node's agent. */
export function controllerOf(plan: readonly ControlProcess[], node: string): ControlProcess {
  const found = plan.find((c) => c.node === undefined || c.node === node);
  if (found === undefined) throw new Error(`no control process drives node "${node}"`);
  return found;
}

/** Where a node's Janus posts its events (the sample event handler): the process that drives it. */
export function eventsUrlFor(plan: readonly ControlProcess[], node: string): string {
  return `${controllerOf(plan, node).url}/janus/events`;
}

/**
 * stack.json's `agentUrls`: each local node's controller, as the worker will find it ("the agent of
 * a node"). With one bridge every node maps to it, as the worker maps every node to BRIDGE_URL.
 */
export function agentUrls(plan: readonly ControlProcess[], nodes: Iterable<string>): Record<string, string> {
  return Object.fromEntries([...nodes].map((n) => [n, controllerOf(plan, n).url]));
}

/**
 * The worker's AGENT_URLS (`node=url,...`) for a plan of agents: every local node's agent. Empty
 * with the one bridge (every node is at BRIDGE_URL, and the bridge cascades by itself).
 */
export function agentUrlsVar(plan: readonly ControlProcess[]): string {
  return plan.flatMap((c) => (c.node === undefined ? [] : [`${c.node}=${c.url}`])).join(',');
}

/**
 * stack.json's `bridgeUrl` and the worker's BRIDGE_URL, kept for every reader that links to one
 * bridge (the suites, the bench, the worker's test setup). With agents it is the agent of the first
 * origin (`originIds` in topology order) run here: a single-link reader can still publish and play
 * on that origin there, and a request for another node fails loudly with NOT_FOUND naming the agent
 * instead of silently reaching nobody. No local origin: the first agent.
 */
export function primaryUrl(plan: readonly ControlProcess[], originIds: readonly string[]): string {
  const first = plan.find((c) => c.node === undefined) ?? originIds.map((id) => plan.find((c) => c.node === id)).find((c) => c !== undefined) ?? plan[0];
  if (first === undefined) throw new Error('no control process');
  return first.url;
}
