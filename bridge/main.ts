/**
 * The bridge process: reads its configuration from the environment once, connects to every
 * Janus node in the topology, and serves the worker's API and the health endpoint.
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
import { loadTopology, TopologyError, type Topology } from './topology/index.ts';

const MIN_SECRET_LENGTH = 16;

function fail(message: string): never {
  process.stderr.write(`bridge: ${message}\n`);
  process.exit(2);
}

async function main(): Promise<void> {
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
  const nodes = new NodeManager({ topology, apiSecret, log, reclaim: saved?.nodes });
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
  log.info('bridge listening', { host, port, topology: topology.file, nodes: topology.nodes.map((n) => n.id), ...(saved === undefined ? {} : { takingBack: saved.streams.length }) });

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

void main();
