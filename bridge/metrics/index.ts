/**
 * The bridge's operations side: Prometheus metrics (prom-client) at GET /metrics, the live view the
 * dashboard reads through the worker (`streams`), the worker's counters (`metrics` reports), and
 * Janus's own statistics (POST /janus/events from each node's sample event handler).
 *
 * Gauges are read from the nodes and the media layer when scraped, so they cannot drift
 * (./gauges.ts); counters and histograms are fed by the API (`ApiMonitor`) and the media layer's
 * cascade-ready hook. See README "Operations" for every metric.
 *
 * Each process reports what it drives: the one bridge (`--bridge`) every node; an agent
 * (`--node <id>`) its own node, so a scrape of every agent shows the whole CDN. An origin's agent
 * makes no cascade (the worker's coordinator relays each stream, then asks the origin's agent for
 * a forward): it reports its forwards (fanout_origin_forwards, fanout_forward_ready_seconds), and
 * each edge's agent its copies and their players (fanout_edge_cascades, fanout_stream_viewers).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { ApiMonitor } from '../api/index.ts';
import type { Logger } from '../log.ts';
import { errorBody, httpStatus, secretsEqual } from '../../protocol/index.ts';
import type { BridgeEvent, BridgeRequest, CdnError, ErrorCode, StreamsResult, WorkerReport } from '../../protocol/index.ts';
import { registerGauges } from './gauges.ts';
import { JanusStats } from './janus-stats.ts';
import { ViewerHistory } from './history.ts';
import { sampleOf, sharesOf, streamInfos, type MediaView, type NodesView, type Share, type StreamView } from './view.ts';

export { JanusStats, sumBitrates, JANUS_EVENT_TYPE_MEDIA, type HandleBitrate } from './janus-stats.ts';
export { ViewerHistory } from './history.ts';
export { UNKNOWN_ORIGIN, type CopyView, type MediaView, type NodesView, type StreamView } from './view.ts';

/** Where Janus posts its events (janus-config's sample event handler `backend`). */
export const JANUS_EVENTS_PATH = '/janus/events';
export const METRICS_PATH = '/metrics';
/** Largest Janus event post accepted (bytes). */
export const MAX_JANUS_EVENTS_BODY = 1024 * 1024;

export interface MetricsSources {
  nodes: NodesView;
  media: MediaView;
}

export interface BridgeMetricsOptions extends MetricsSources {
  log: Logger;
  /** When set, GET /metrics needs `Authorization: Bearer <token>` (FANOUT_METRICS_TOKEN). */
  metricsToken?: string | undefined;
  /** When set, Janus's event posts need HTTP basic auth with this password (JANUS_API_SECRET). */
  janusEventsSecret?: string | undefined;
  /** How often viewers are sampled for the dashboard's chart, and how many samples are kept. */
  historyPeriodMs?: number;
  historySize?: number;
  janusStats?: JanusStats;
  now?: () => number;
}

const LATENCY_BUCKETS = [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const SETUP_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 30];
/** Starts of plays and publishes waiting for PLAYING / PUBLISHING: a bound so a lost event cannot grow it. */
const MAX_PENDING = 10_000;
/** Forwards already timed (publishId and edge): a bound, the oldest forgotten first. */
const MAX_FORWARDS_TIMED = 10_000;

export class BridgeMetrics implements ApiMonitor {
  readonly registry = new Registry();
  readonly janusStats: JanusStats;
  readonly history: ViewerHistory;
  readonly #opts: BridgeMetricsOptions;
  readonly #now: () => number;
  readonly #log: Logger;
  readonly #pendingPlays = new Map<string, { owner: string; node: string; startedAt: number }>();
  readonly #pendingPublishes = new Map<string, { owner: string; startedAt: number }>();
  /** Worker connections that are WCS sessions (they reported one opened and not yet closed). */
  readonly #sessionOwners = new Set<string>();
  /**
   * ms from the publisher configured to the first forward of each publish to each edge, by
   * `publishId edge` (undefined: the stream was gone): observed once, since a coordinator asking
   * again, or later, is not a setup.
   */
  readonly #forwardsTimed = new Map<string, number | undefined>();
  readonly #timer: NodeJS.Timeout;
  #closed = false;

  readonly requestDuration: Histogram<'method'>;
  readonly requestErrors: Counter<'method' | 'code'>;
  readonly eventsSent: Counter<'event'>;
  readonly cascadeReadySeconds: Histogram;
  readonly forwardReadySeconds: Histogram<'edge'>;
  readonly timeToPlaying: Histogram<'node'>;
  readonly timeToPublishing: Histogram;
  readonly workerSessionsOpened: Counter;
  readonly workerSessionsClosed: Counter;
  readonly workerFrames: Counter<'direction'>;
  readonly workerRejected: Counter<'code'>;
  readonly workerValidationFailures: Counter;
  readonly janusEvents: Counter;

  constructor(opts: BridgeMetricsOptions) {
    this.#opts = opts;
    this.#now = opts.now ?? Date.now;
    this.#log = opts.log.child({ component: 'metrics' });
    this.janusStats = opts.janusStats ?? new JanusStats({ now: this.#now });
    const periodMs = opts.historyPeriodMs ?? 2000;
    this.history = new ViewerHistory(opts.historySize ?? 300, periodMs);
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });

    // ------------------------------------------------------------ read when scraped
    const sessionOwners = this.#sessionOwners;
    registerGauges(this.registry, {
      nodes: () => opts.nodes.snapshot(),
      streams: () => opts.media.streams(),
      shares: () => this.#shares(),
      stats: this.janusStats,
      workerSessions: () => sessionOwners.size,
    });

    // ------------------------------------------------------------ fed by events
    this.requestDuration = new Histogram({
      name: 'fanout_api_request_duration_seconds',
      help: 'Time the bridge took to answer each worker API request, by method (errors included).',
      labelNames: ['method'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.requestErrors = new Counter({
      name: 'fanout_api_errors_total',
      help: 'Worker API requests answered with an error, by method and error code ("invalid": not a valid request).',
      labelNames: ['method', 'code'],
      registers,
    });
    this.eventsSent = new Counter({
      name: 'fanout_api_events_sent_total',
      help: 'Events the bridge pushed over worker links, by event kind (each link counts once: a node event to two balancer links is 2).',
      labelNames: ['event'],
      registers,
    });
    this.cascadeReadySeconds = new Histogram({
      name: 'fanout_cascade_ready_seconds',
      help: 'Time from a publisher configured on the origin to its stream relayed to every healthy edge.',
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.forwardReadySeconds = new Histogram({
      name: 'fanout_forward_ready_seconds',
      help:
        'Time from a publisher configured on the origin to its first forward to each edge (an origin agent\'s: the coordinator relays the stream, then asks the forward; the one bridge reports fanout_cascade_ready_seconds instead).',
      labelNames: ['edge'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.timeToPlaying = new Histogram({
      name: 'fanout_time_to_playing_seconds',
      help: 'Time from a play request reaching the bridge to the player\'s WebRTC up (PLAYING), by node.',
      labelNames: ['node'],
      buckets: SETUP_BUCKETS,
      registers,
    });
    this.timeToPublishing = new Histogram({
      name: 'fanout_time_to_publishing_seconds',
      help: 'Time from a publish request reaching the bridge to the publisher\'s media flowing (PUBLISHING).',
      buckets: SETUP_BUCKETS,
      registers,
    });
    this.workerSessionsOpened = new Counter({ name: 'fanout_worker_sessions_opened_total', help: 'WCS sessions the worker opened.', registers });
    this.workerSessionsClosed = new Counter({
      name: 'fanout_worker_sessions_closed_total',
      help: 'WCS sessions that ended (reported by the worker, or their bridge link closed without a report).',
      registers,
    });
    this.workerFrames = new Counter({
      name: 'fanout_worker_frames_total',
      help: 'WCS frames the worker received from (in) and sent to (out) clients.',
      labelNames: ['direction'],
      registers,
    });
    this.workerRejected = new Counter({
      name: 'fanout_worker_frames_rejected_total',
      help: 'Client frames and streams the worker refused with a fail or FAILED frame, by error code.',
      labelNames: ['code'],
      registers,
    });
    this.workerValidationFailures = new Counter({
      name: 'fanout_worker_validation_failures_total',
      help: 'Client frames the worker refused as invalid (error code INVALID_ARGUMENT).',
      registers,
    });
    this.janusEvents = new Counter({ name: 'fanout_janus_events_total', help: 'Events Janus nodes posted to the bridge.', registers });

    this.#timer = setInterval(() => this.#sample(), periodMs);
    this.#timer.unref();
    this.#sample();
  }

  // ------------------------------------------------------------ ApiMonitor

  requestDone(done: { owner: string; request: BridgeRequest | undefined; startedAt: number; result?: unknown; error?: CdnError }): void {
    const method = done.request?.method ?? 'invalid';
    const seconds = Math.max(0, this.#now() - done.startedAt) / 1000;
    if (done.request !== undefined) this.requestDuration.observe({ method }, seconds);
    if (done.error !== undefined) {
      this.requestErrors.inc({ method, code: done.error.code });
      return;
    }
    // The worker names each publish and play in its request; their events carry that id.
    const req = done.request;
    if (req?.method === 'play') {
      this.#remember(this.#pendingPlays, req.params.playId, { owner: done.owner, node: req.params.node, startedAt: done.startedAt });
    } else if (req?.method === 'publish') {
      this.#remember(this.#pendingPublishes, req.params.publishId, { owner: done.owner, startedAt: done.startedAt });
    } else if (req?.method === 'forward') {
      this.#forwardMade(req.params.publishId, req.params.edge);
    }
  }

  eventSent(_owner: string, event: BridgeEvent): void {
    this.eventsSent.inc({ event: event.event });
    const now = this.#now();
    if (event.event === 'player') {
      const pending = this.#pendingPlays.get(event.playId);
      if (pending === undefined) return;
      this.#pendingPlays.delete(event.playId);
      if (event.status === 'PLAYING') this.timeToPlaying.observe({ node: pending.node }, (now - pending.startedAt) / 1000);
    } else if (event.event === 'publisher') {
      const pending = this.#pendingPublishes.get(event.publishId);
      if (pending === undefined) return;
      this.#pendingPublishes.delete(event.publishId);
      if (event.status === 'PUBLISHING') this.timeToPublishing.observe((now - pending.startedAt) / 1000);
    }
  }

  ownerClosed(owner: string): void {
    for (const [id, p] of this.#pendingPlays) if (p.owner === owner) this.#pendingPlays.delete(id);
    for (const [id, p] of this.#pendingPublishes) if (p.owner === owner) this.#pendingPublishes.delete(id);
    // A session whose link went without its final report (the worker isolate died): it ended too.
    if (this.#sessionOwners.delete(owner)) this.workerSessionsClosed.inc();
  }

  workerReport(owner: string, r: WorkerReport): void {
    if (r.sessionsOpened > 0) this.workerSessionsOpened.inc(r.sessionsOpened);
    if (r.sessionsClosed > 0) this.workerSessionsClosed.inc(r.sessionsClosed);
    // A session's own link reports its opening first and its closing last; the balancer's link
    // reports sessions that never had one (opened and closed in the same report).
    if (r.sessionsOpened > r.sessionsClosed) this.#sessionOwners.add(owner);
    else if (r.sessionsClosed > 0) this.#sessionOwners.delete(owner);
    if (r.framesIn > 0) this.workerFrames.inc({ direction: 'in' }, r.framesIn);
    if (r.framesOut > 0) this.workerFrames.inc({ direction: 'out' }, r.framesOut);
    for (const [code, n] of Object.entries(r.rejected)) {
      if (n === undefined || n <= 0) continue;
      this.workerRejected.inc({ code }, n);
      if (code === 'INVALID_ARGUMENT') this.workerValidationFailures.inc(n);
    }
  }

  streams(): StreamsResult {
    const streams = this.#opts.media.streams();
    const list = streamInfos(streams, this.#shares(streams), this.#opts.nodes.originIds, (h) => this.janusStats.bitrate(h), (s) => this.#forwardedMs(s));
    return { at: this.#now(), streams: list, history: this.history.samples(), historyPeriodMs: this.history.periodMs };
  }

  handleHttp(req: IncomingMessage, res: ServerResponse, url: URL): boolean {
    if (url.pathname === METRICS_PATH && req.method === 'GET') {
      void this.#serveMetrics(req, res);
      return true;
    }
    if (url.pathname === JANUS_EVENTS_PATH && req.method === 'POST') {
      this.#takeJanusEvents(req, res);
      return true;
    }
    return false;
  }

  /** The cascade-ready hook of the media layer. */
  cascadeReady(_stream: string, ms: number): void {
    this.cascadeReadySeconds.observe(ms / 1000);
  }

  /** The Prometheus text exposition. */
  render(): Promise<string> {
    return this.registry.metrics();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
  }

  // ------------------------------------------------------------ internals

  /** Every stream and copy this process holds, one share per node (./view.ts). */
  #shares(streams = this.#opts.media.streams()): Share[] {
    return sharesOf(streams, this.#opts.media.relays?.() ?? []);
  }

  #sample(): void {
    try {
      const streams = this.#opts.media.streams();
      this.history.add({ t: this.#now(), ...sampleOf(streams, this.#shares(streams)) });
    } catch (err) {
      this.#log.warn('cannot sample viewers', { err });
    }
  }

  /**
   * A forward the coordinator asked of this origin succeeded: the first one of a publish to an edge
   * is timed from the publisher's configuration. A later one (the edge restarted, the coordinator
   * asked again) is not a setup time, and a stream gone meanwhile has nothing to time from.
   */
  #forwardMade(publishId: string, edge: string): void {
    const key = `${publishId} ${edge}`;
    if (this.#forwardsTimed.has(key)) return;
    const configuredAt = this.#opts.media.streams().find((s) => s.publishId === publishId)?.configuredAt;
    const ms = configuredAt === undefined ? undefined : Math.max(0, this.#now() - configuredAt);
    this.#remember(this.#forwardsTimed, key, ms, MAX_FORWARDS_TIMED);
    if (ms !== undefined) this.forwardReadySeconds.observe({ edge }, ms / 1000);
  }

  /**
   * An origin agent's stand-in for the bridge's cascade-ready time (the dashboard's "Cascade"): ms
   * from the publisher configured to forwarded to every edge it is forwarded to now, once each of
   * those forwards was timed here. The bridge's "every healthy edge" is the coordinator's to know;
   * it forwards to every edge that is up.
   */
  #forwardedMs(s: StreamView): number | undefined {
    const forwards = s.forwards ?? [];
    if (forwards.length === 0) return undefined;
    let max = 0;
    for (const f of forwards) {
      const ms = this.#forwardsTimed.get(`${s.publishId} ${f.edge}`);
      if (ms === undefined) return undefined;
      max = Math.max(max, ms);
    }
    return max;
  }

  #remember<T>(map: Map<string, T>, id: string, value: T, bound = MAX_PENDING): void {
    if (map.size >= bound) {
      const oldest = map.keys().next().value;
      if (oldest !== undefined) map.delete(oldest);
    }
    map.set(id, value);
  }

  async #serveMetrics(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const token = this.#opts.metricsToken;
    if (token !== undefined && token !== '' && !secretsEqual(bearer(req), token)) {
      sendError(res, 'UNAUTHENTICATED', 'GET /metrics needs Authorization: Bearer <FANOUT_METRICS_TOKEN>', { 'www-authenticate': 'Bearer' });
      return;
    }
    try {
      const text = await this.render();
      res.writeHead(200, { 'content-type': this.registry.contentType, 'cache-control': 'no-store' });
      res.end(text);
    } catch (err) {
      this.#log.error('cannot render metrics', { err });
      sendError(res, 'INTERNAL', 'cannot render metrics');
    }
  }

  #takeJanusEvents(req: IncomingMessage, res: ServerResponse): void {
    const refuse = (code: ErrorCode, message: string): void => {
      if (!res.headersSent) sendError(res, code, message);
    };
    const secret = this.#opts.janusEventsSecret;
    if (secret !== undefined && secret !== '' && !secretsEqual(basicPassword(req), secret)) {
      req.resume();
      refuse('UNAUTHENTICATED', 'Janus event posts need basic auth with the Janus API secret');
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_JANUS_EVENTS_BODY) {
        refuse('PAYLOAD_TOO_LARGE', `a Janus event post is at most ${MAX_JANUS_EVENTS_BODY} bytes`);
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (size > MAX_JANUS_EVENTS_BODY) return;
      let body: unknown;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        refuse('INVALID_ARGUMENT', 'the body is not JSON');
        return;
      }
      this.janusEvents.inc(Array.isArray(body) ? body.length : 1);
      this.janusStats.ingest(body);
      if (res.headersSent) return;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
    });
    req.on('error', () => undefined);
  }
}

/** An error answer in the one body shape of the worker and the bridge, its status from the code. */
function sendError(res: ServerResponse, code: ErrorCode, message: string, headers: Record<string, string> = {}): void {
  res.writeHead(httpStatus(code), { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(errorBody(code, message)));
}

function bearer(req: IncomingMessage): string {
  const auth = req.headers.authorization ?? '';
  return auth.startsWith('Bearer ') ? auth.slice('Bearer '.length) : '';
}

function basicPassword(req: IncomingMessage): string {
  const auth = req.headers.authorization ?? '';
  if (!auth.startsWith('Basic ')) return '';
  const decoded = Buffer.from(auth.slice('Basic '.length), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0 ? '' : decoded.slice(colon + 1);
}
