/**
 * The bridge's operations side: Prometheus metrics (prom-client) at GET /metrics, the live view the
 * dashboard reads through the worker (`streams`), the worker's counters (`metrics` reports), and
 * Janus's own statistics (POST /janus/events from each node's sample event handler).
 *
 * Gauges are read from the nodes and the media layer when scraped, so they cannot drift; counters
 * and histograms are fed by the API (`ApiMonitor`) and the media layer's cascade-ready hook.
 * See README "Operations" for every metric.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { ApiMonitor } from '../api/index.ts';
import type { Logger } from '../log.ts';
import type { StreamSnapshot } from '../media/index.ts';
import { errorBody, httpStatus, secretsEqual } from '../../protocol/index.ts';
import type { BridgeEvent, BridgeRequest, CdnError, ErrorCode, NodeInfo, StreamInfo, StreamNodeInfo, StreamsResult, WorkerReport } from '../../protocol/index.ts';
import { JanusStats, sumBitrates } from './janus-stats.ts';
import { ViewerHistory } from './history.ts';

export { JanusStats, sumBitrates, JANUS_EVENT_TYPE_MEDIA, type HandleBitrate } from './janus-stats.ts';
export { ViewerHistory } from './history.ts';

/** Where Janus posts its events (janus-config's sample event handler `backend`). */
export const JANUS_EVENTS_PATH = '/janus/events';
export const METRICS_PATH = '/metrics';
/** Largest Janus event post accepted (bytes). */
export const MAX_JANUS_EVENTS_BODY = 1024 * 1024;

export interface MetricsSources {
  nodes: { snapshot(): NodeInfo[] };
  media: { streams(): StreamSnapshot[] };
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
  readonly #timer: NodeJS.Timeout;
  #closed = false;

  readonly requestDuration: Histogram<'method'>;
  readonly requestErrors: Counter<'method' | 'code'>;
  readonly eventsSent: Counter<'event'>;
  readonly cascadeReadySeconds: Histogram;
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
    const nodes = (): NodeInfo[] => opts.nodes.snapshot();
    const streams = (): StreamSnapshot[] => opts.media.streams();
    const stats = this.janusStats;
    new Gauge({
      name: 'fanout_node_up',
      help: 'Whether the bridge has a live Janus connection to the node (1) or not (0).',
      labelNames: ['node', 'role'],
      registers,
      collect() {
        this.reset();
        for (const n of nodes()) this.set({ node: n.id, role: n.role }, n.up ? 1 : 0);
      },
    });
    new Gauge({
      name: 'fanout_node_publishers',
      help: 'Publisher handles the bridge holds on the node.',
      labelNames: ['node', 'role'],
      registers,
      collect() {
        this.reset();
        for (const n of nodes()) this.set({ node: n.id, role: n.role }, n.load.publishers);
      },
    });
    new Gauge({
      name: 'fanout_node_subscribers',
      help: 'Subscriber (player) handles the bridge holds on the node.',
      labelNames: ['node', 'role'],
      registers,
      collect() {
        this.reset();
        for (const n of nodes()) this.set({ node: n.id, role: n.role }, n.load.subscribers);
      },
    });
    new Gauge({
      name: 'fanout_streams_live',
      help: 'Published streams whose publisher is configured on the origin.',
      registers,
      collect() {
        this.set(streams().filter((s) => s.configuredAt !== undefined).length);
      },
    });
    new Gauge({
      name: 'fanout_edge_cascades',
      help: 'Streams relayed to each edge, by relay state (pending, ready).',
      labelNames: ['edge', 'state'],
      registers,
      collect() {
        this.reset();
        const counts = new Map<string, { pending: number; ready: number }>();
        for (const n of nodes()) if (n.role === 'edge') counts.set(n.id, { pending: 0, ready: 0 });
        for (const s of streams()) {
          for (const e of s.edges) {
            const c = counts.get(e.node) ?? { pending: 0, ready: 0 };
            if (e.state === 'pending' || e.state === 'ready') c[e.state]++;
            counts.set(e.node, c);
          }
        }
        for (const [edge, c] of counts) {
          this.set({ edge, state: 'ready' }, c.ready);
          this.set({ edge, state: 'pending' }, c.pending);
        }
      },
    });
    new Gauge({
      name: 'fanout_stream_viewers',
      help: 'Players of each live stream, by the node they play from.',
      labelNames: ['stream', 'node'],
      registers,
      collect() {
        this.reset();
        for (const s of streams()) {
          for (const n of [s.origin, ...s.edges.map((e) => e.node)]) {
            this.set({ stream: s.name, node: n }, s.players.filter((p) => p.node === n && p.handle !== undefined).length);
          }
        }
      },
    });
    new Gauge({
      name: 'fanout_stream_bitrate_in_bps',
      help: 'Bits per second the origin receives from each stream\'s publisher (Janus stats), by kind.',
      labelNames: ['stream', 'kind'],
      registers,
      collect() {
        this.reset();
        for (const s of streams()) {
          const b = stats.bitrate(s.publisherHandle);
          if (b === undefined) continue;
          this.set({ stream: s.name, kind: 'audio' }, b.in.audio);
          this.set({ stream: s.name, kind: 'video' }, b.in.video);
        }
      },
    });
    new Gauge({
      name: 'fanout_node_bitrate_out_bps',
      help: 'Bits per second each node sends to its players (Janus stats of their subscriber handles), by kind.',
      labelNames: ['node', 'kind'],
      registers,
      collect() {
        this.reset();
        const out = new Map<string, { audio: number; video: number }>();
        for (const n of nodes()) out.set(n.id, { audio: 0, video: 0 });
        for (const s of streams()) {
          for (const p of s.players) {
            const b = stats.bitrate(p.handle);
            const o = out.get(p.node);
            if (b === undefined || o === undefined) continue;
            o.audio += b.out.audio;
            o.video += b.out.video;
          }
        }
        for (const [node, b] of out) {
          this.set({ node, kind: 'audio' }, b.audio);
          this.set({ node, kind: 'video' }, b.video);
        }
      },
    });
    const sessionOwners = this.#sessionOwners;
    new Gauge({
      name: 'fanout_worker_sessions',
      help: 'WCS sessions open on the worker, as reported over their bridge links.',
      registers,
      collect() {
        this.set(sessionOwners.size);
      },
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
    const list: StreamInfo[] = this.#opts.media.streams().map((s) => this.#streamInfo(s));
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

  #streamInfo(s: StreamSnapshot): StreamInfo {
    const stats = this.janusStats;
    const share = (node: string, role: 'origin' | 'edge', state: StreamNodeInfo['state']): StreamNodeInfo => {
      const players = s.players.filter((p) => p.node === node && p.handle !== undefined);
      const info: StreamNodeInfo = { node, role, state, viewers: players.length };
      const out = sumBitrates(players.map((p) => stats.bitrate(p.handle)?.out));
      if (out !== undefined) info.bitrateOut = out;
      return info;
    };
    const nodes = [share(s.origin, 'origin', 'ready'), ...s.edges.map((e) => share(e.node, 'edge', e.state))];
    const bitrateIn = stats.bitrate(s.publisherHandle)?.in;
    return {
      name: s.name,
      origin: s.origin,
      since: s.configuredAt ?? 0,
      publishing: s.publishing,
      ...(bitrateIn === undefined ? {} : { bitrateIn }),
      ...(s.cascadeReadyMs === undefined ? {} : { cascadeReadyMs: s.cascadeReadyMs }),
      viewers: nodes.reduce((sum, n) => sum + n.viewers, 0),
      nodes,
    };
  }

  #sample(): void {
    try {
      const streams = this.#opts.media.streams();
      const viewers = streams.reduce((sum, s) => sum + s.players.filter((p) => p.handle !== undefined).length, 0);
      this.history.add({ t: this.#now(), viewers, streams: streams.filter((s) => s.configuredAt !== undefined).length });
    } catch (err) {
      this.#log.warn('cannot sample viewers', { err });
    }
  }

  #remember<T>(map: Map<string, T>, id: string, value: T): void {
    if (map.size >= MAX_PENDING) {
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
