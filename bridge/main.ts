/**
 * The bridge process: reads its configuration from the environment once, connects to every
 * Janus node in the topology (or, as a node's agent, `--node <id>`, to that node only), and serves
 * the worker's API and the health endpoint.
 *
 *   --node <id>          drive only this node of the topology (one agent per Janus node); its API
 *                        then also does the cross-node work a coordinator asks (relay, forward)
 *
 *   FANOUT_TOPOLOGY      topology file (default: loadbalancing.xml)
 *   FANOUT_BRIDGE_HOST   listen address (default 127.0.0.1)
 *   FANOUT_BRIDGE_PORT   listen port (default 8790)
 *   BRIDGE_SECRET        shared secret the worker must present (required)
 *   JANUS_API_SECRET     Janus api_secret, also the VideoRoom admin_key (optional; the launcher always sets one)
 *   FANOUT_LOG_LEVEL     debug | info | warn | error (default info)
 *   FANOUT_NO_MEDIA_TIMEOUT_MS  end a publisher whose media stopped (Janus reports it ~2 s after the last packet) for this long more (default 1000; 0: never)
 *   FANOUT_METRICS_TOKEN when set, GET /metrics needs `Authorization: Bearer <token>` (optional)
 *   FANOUT_BRIDGE_OWNER_GRACE_MS  how long what a lost worker link owned (and what a restart took back)
 *                        waits for a `bind` before it is released (default 30000)
 *   FANOUT_BRIDGE_STATE_DIR  where the bridge keeps its journal of what it made on Janus, so that a
 *                        restarted bridge (kill -9, a crash, a deploy) takes it all back with the media
 *                        still flowing (`npm start` and the image set it; unset: a restart loses every stream)
 *
 * Janus nodes post their events (bitrates) to /janus/events with basic auth whose password is
 * JANUS_API_SECRET (janus-config's sample event handler).
 */
import Janode from 'janode';
import { BRIDGE_OWNER_GRACE_MS, errorText } from '../protocol/index.ts';
import { ApiServer } from './api/index.ts';
import { createLogger, parseLogLevel, type LogLevel } from './log.ts';
import { createMedia, DEFAULT_NO_MEDIA_TIMEOUT_MS } from './media/index.ts';
import { BridgeMetrics, JanusStats } from './metrics/index.ts';
import { NodeManager } from './nodes/index.ts';
import { Journal } from './state/journal.ts';
import { loadTopology, NODE_ID_PATTERN, TopologyError, type Topology } from './topology/index.ts';

const MIN_SECRET_LENGTH = 16;

/** Who speaks in startup errors: the bridge, or the agent of the node `--node` names. */
let speaker = 'bridge';

function fail(message: string): never {
  process.stderr.write(`${speaker}: ${message}\n`);
  process.exit(2);
}

async function main(): Promise<void> {
  const only = nodeArg(process.argv.slice(2));
  if (only !== undefined) speaker = `agent ${only}`;
  const env = process.env;
  let level: LogLevel;
  try {
    level = parseLogLevel(env['FANOUT_LOG_LEVEL']);
  } catch (err) {
    fail(errorText(err));
  }
  const log = createLogger(level, { component: 'bridge' });
  Janode.Logger.setLevel(level === 'debug' ? 'warn' : 'error');

  const secret = env['BRIDGE_SECRET'] ?? '';
  if (secret.length < MIN_SECRET_LENGTH) {
    fail(`BRIDGE_SECRET must be set to a secret of at least ${MIN_SECRET_LENGTH} characters (there is no default)`);
  }
  const port = Number(env['FANOUT_BRIDGE_PORT'] ?? '8790');
  if (!Number.isInteger(port) || port < 1 || port > 65535) fail(`FANOUT_BRIDGE_PORT must be a port number, got "${env['FANOUT_BRIDGE_PORT']}"`);
  const host = env['FANOUT_BRIDGE_HOST'] ?? '127.0.0.1';
  const noMediaTimeoutMs = Number(env['FANOUT_NO_MEDIA_TIMEOUT_MS'] || DEFAULT_NO_MEDIA_TIMEOUT_MS);
  if (!Number.isInteger(noMediaTimeoutMs) || noMediaTimeoutMs < 0) {
    fail(`FANOUT_NO_MEDIA_TIMEOUT_MS must be a whole number of milliseconds (0: never), got "${env['FANOUT_NO_MEDIA_TIMEOUT_MS']}"`);
  }


  let topology: Topology;
  try {
    topology = loadTopology(env['FANOUT_TOPOLOGY'] ?? 'loadbalancing.xml');
  } catch (err) {
    fail(err instanceof TopologyError ? err.message : errorText(err));
  }

  const ownerGraceMs = Number(env['FANOUT_BRIDGE_OWNER_GRACE_MS'] || BRIDGE_OWNER_GRACE_MS);
  if (!Number.isInteger(ownerGraceMs) || ownerGraceMs < 0) {
    fail(`FANOUT_BRIDGE_OWNER_GRACE_MS must be a whole number of milliseconds, got "${env['FANOUT_BRIDGE_OWNER_GRACE_MS']}"`);
  }
  const apiSecret = env['JANUS_API_SECRET'] || undefined;
  const stateDir = env['FANOUT_BRIDGE_STATE_DIR'] || undefined;
  if (stateDir === undefined) log.warn('FANOUT_BRIDGE_STATE_DIR is not set: a restart of this bridge ends every stream');
  const saved = stateDir === undefined ? undefined : Journal.read(stateDir, log);
  if (only !== undefined && !topology.nodes.some((n) => n.id === only)) {
    fail(`--node ${only}: the topology (${topology.file}) has no such node; its nodes are ${topology.nodes.map((n) => n.id).join(', ')}`);
  }
  const nodes = new NodeManager({ topology, apiSecret, log, reclaim: saved?.nodes, only });
  // Fanout's VideoRoom config uses the API secret as its admin_key (janus-config/).
  let metrics: BridgeMetrics | undefined;
  const janusStats = new JanusStats();
  const media = createMedia({ nodes, adminKey: apiSecret, log, noMediaTimeoutMs, stateDir, ownerGraceMs, janusStats, onCascadeReady: (stream, ms) => metrics?.cascadeReady(stream, ms) });
  metrics = new BridgeMetrics({ nodes, media, log, metricsToken: env['FANOUT_METRICS_TOKEN'] || undefined, janusEventsSecret: apiSecret, janusStats });
  const api = new ApiServer({ topology, nodes, media, secret, log, monitor: metrics, ownerGraceMs });
  try {
    await api.listen(port, host);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    fail(code === 'EADDRINUSE' ? `port ${port} on ${host} is already in use` : `cannot listen on ${host}:${port}: ${errorText(err)}`);
  }
  // Before the nodes connect: their first connections claim the sessions the journal names.
  media.adopt(saved, api.resources);
  nodes.start();
  log.info(only === undefined ? 'bridge listening' : 'agent listening', { host, port, topology: topology.file, nodes: [...nodes.nodes.keys()], ...(saved === undefined ? {} : { takingBack: saved.streams.length }) });

  let stopping = false;
  const stop = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log.info('bridge stopping', { signal });
    await api.close();
    metrics?.close();
    await media.close();
    await nodes.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

/** The node an agent drives (`--node <id>` or `--node=<id>`); undefined: every node. */
function nodeArg(args: readonly string[]): string | undefined {
  let node: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i] ?? '';
    if (a === '--node') {
      node = args[++i];
      if (node === undefined || node.startsWith('--')) fail('--node needs a node id, e.g. --node edge-1');
    } else if (a.startsWith('--node=')) {
      node = a.slice('--node='.length);
    } else {
      fail(`unknown argument "${a}" (the bridge takes --node <id>; everything else is set in the environment)`);
    }
  }
  if (node !== undefined && !NODE_ID_PATTERN.test(node)) fail(`--node "${node}" is not a node id such as "edge-1"`);
  return node;
}

void main();
