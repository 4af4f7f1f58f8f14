/**
 * The bridge's HTTP face: the authenticated WebSocket API for the worker (`/api`), the health
 * endpoint (`/health`), and the monitor's routes (`/metrics`, Janus's event posts; see ../metrics).
 * Every request is validated, answered once with its id, and everything a connection owned is
 * released when it closes.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import * as v from 'valibot';
import { WebSocketServer, type WebSocket } from 'ws';
import {
  BRIDGE_API_PATH,
  BRIDGE_KEEPALIVE_MS,
  NODE_REPORT_MS,
  BRIDGE_OWNER_GRACE_MS,
  BRIDGE_RELEASE_CLOSE_CODE,
  BridgeRequest,
  CdnError,
  errorBody,
  Errors,
  httpStatus,
  issueText,
  secretsEqual,
  type BridgeEvent,
  type ErrorCode,
  type Logger,
  type Method,
  type Params,
  type Result,
} from '../../protocol/index.ts';
import type { NodeManager } from '../nodes/index.ts';
import { RESOURCE_OWNER_ID, Resources } from './resources.ts';
import type { Topology } from '../topology/index.ts';

/** Who owns streams and players: one worker connection. */
export interface Owner {
  readonly id: string;
  /** Pushes an event to this owner; dropped if the connection is gone. */
  send(event: BridgeEvent): void;
}

/** The media operations behind the API (implemented in ../media). */
export interface MediaService {
  publish(owner: Owner, params: Params<'publish'>): Promise<Result<'publish'>>;
  unpublish(owner: Owner, params: Params<'unpublish'>): Promise<Result<'unpublish'>>;
  play(owner: Owner, params: Params<'play'>): Promise<Result<'play'>>;
  answer(owner: Owner, params: Params<'answer'>): Promise<Result<'answer'>>;
  stop(owner: Owner, params: Params<'stop'>): Promise<Result<'stop'>>;
  /** The client's trickled ICE candidates for one of the owner's publishes or plays. */
  trickle(owner: Owner, params: Params<'trickle'>): Promise<Result<'trickle'>>;
  /** While what an earlier run left is being taken back: resolves when that is done. */
  adopting(): Promise<void> | undefined;
  /** Makes the owner of these ids `owner` (a new link after a lost one); says which are gone. */
  bind(owner: Owner, params: Params<'bind'>): Promise<Result<'bind'>>;
  /** Tears down everything the owner still has (its connection closed). */
  release(owner: Owner): Promise<void>;
  // Cross-node work a coordinator asks of one node's agent (../media/cross-node.ts).
  /** What this agent's origin publishes and its edges hold; `listener` gets `source` events until `unwatch`. */
  sources(listener: (e: BridgeEvent) => void): { result: Result<'sources'>; unwatch: () => void };
  relay(params: Params<'relay'>): Promise<Result<'relay'>>;
  unrelay(params: Params<'unrelay'>): Promise<Result<'unrelay'>>;
  forward(params: Params<'forward'>): Promise<Result<'forward'>>;
  unforward(params: Params<'unforward'>): Promise<Result<'unforward'>>;
}

/**
 * The operations side (../metrics): told what every request did and every event the bridge sent,
 * and asked for the dashboard's view and its own HTTP routes. Optional, so the API runs without it.
 */
export interface ApiMonitor {
  /** A request was answered (`request` undefined: the frame was not a valid request). */
  requestDone(done: { owner: string; request: BridgeRequest | undefined; startedAt: number; result?: unknown; error?: CdnError }): void;
  eventSent(owner: string, event: BridgeEvent): void;
  ownerClosed(owner: string): void;
  workerReport(owner: string, report: Params<'metrics'>): void;
  streams(): Result<'streams'>;
  /** Serves the monitor's own HTTP routes (GET /metrics, Janus's event posts); true when it did. */
  handleHttp(req: IncomingMessage, res: ServerResponse, url: URL): boolean;
}

export interface ApiServerOptions {
  topology: Topology;
  nodes: NodeManager;
  media: MediaService;
  secret: string;
  log: Logger;
  monitor?: ApiMonitor;
  /** Largest accepted WebSocket message (bytes). */
  maxPayload?: number;
  /** WebSocket-level ping period to every worker link; a link silent for a whole period is dropped. */
  keepAliveMs?: number;
  /** How long a lost link's publishes and plays wait for a `bind` (default BRIDGE_OWNER_GRACE_MS). */
  ownerGraceMs?: number;
}

/** Requests answered without waiting for a restarted bridge to take its state back. */
const INSTANT_METHODS: ReadonlySet<Method> = new Set(['nodes', 'ping', 'streams', 'metrics']);

export class ApiServer {
  readonly #opts: ApiServerOptions;
  readonly #http: Server;
  readonly #wss: WebSocketServer;
  readonly #owners = new Set<WebSocket>();
  /** The links that asked for `nodes`: only they get `node` events and reports. */
  readonly #nodeWatchers = new Set<WebSocket>();
  /** The links that asked for `sources` (coordinators), with how to stop their `source` events. */
  readonly #sourceWatchers = new Map<WebSocket, () => void>();
  /** Lost links' releases, waiting out the grace. */
  readonly #graceTimers = new Set<NodeJS.Timeout>();
  /** Links that answered (pong or any frame) since the last keep-alive tick. */
  readonly #alive = new WeakSet<WebSocket>();
  readonly #keepAlive: NodeJS.Timeout;
  readonly #reports: NodeJS.Timeout;
  /** WHIP/WHEP sessions: publishes and plays no link owns (`resource: true`). */
  readonly #resources: Resources;
  #nextOwner = 1;
  #closed = false;

  constructor(opts: ApiServerOptions) {
    this.#opts = opts;
    this.#resources = new Resources({ media: opts.media, log: opts.log, onEvent: (event) => this.#monitor((m) => m.eventSent(RESOURCE_OWNER_ID, event)) });
    this.#http = createServer((req, res) => this.#onHttp(req, res));
    this.#wss = new WebSocketServer({ noServer: true, maxPayload: opts.maxPayload ?? 256 * 1024 });
    this.#http.on('upgrade', (req, socket, head) => this.#onUpgrade(req, socket, head));
    opts.nodes.on('changed', (node) => this.#broadcast({ event: 'node', node: node.info() }));
    this.#keepAlive = setInterval(() => this.#tick(), opts.keepAliveMs ?? BRIDGE_KEEPALIVE_MS);
    this.#keepAlive.unref();
    // Membership and load, whether anything changed or not: a worker that hears nothing for
    // NODE_STALE_MS takes this agent's nodes as down.
    this.#reports = setInterval(() => this.#broadcast({ event: 'report', ...this.#nodesResult() }), NODE_REPORT_MS);
    this.#reports.unref();
  }

  /** Drops worker links that stayed silent for a whole period (a half-open TCP link never closes). */
  #tick(): void {
    for (const ws of this.#owners) {
      if (!this.#alive.has(ws)) {
        this.#opts.log.warn('worker link silent for a keep-alive period; dropping it');
        ws.terminate();
        continue;
      }
      this.#alive.delete(ws);
      ws.ping();
    }
  }

  listen(port: number, host: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#http.once('error', reject);
      this.#http.listen(port, host, () => {
        this.#http.off('error', reject);
        resolve();
      });
    });
  }

  /** The resource (WHIP/WHEP) registry, for the media layer's journal and taking back. */
  get resources(): Resources {
    return this.#resources;
  }

  get address(): { port: number; host: string } {
    const a = this.#http.address();
    if (a === null || typeof a === 'string') throw new Error('not listening');
    return { port: a.port, host: a.address };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#keepAlive);
    clearInterval(this.#reports);
    for (const t of this.#graceTimers) clearTimeout(t);
    this.#graceTimers.clear();
    this.#resources.close();
    for (const ws of this.#owners) ws.close(1001, 'bridge shutting down');
    this.#wss.close();
    await new Promise<void>((resolve) => this.#http.close(() => resolve()));
  }

  health(): { status: 'ok' | 'degraded'; mode: string; loadBalancing: boolean; nodes: ReturnType<NodeManager['snapshot']> } {
    const nodes = this.#opts.nodes.snapshot();
    return {
      status: nodes.every((n) => n.up) ? 'ok' : 'degraded',
      mode: this.#opts.topology.mode,
      loadBalancing: this.#opts.topology.loadBalancing,
      nodes,
    };
  }

  #onHttp(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://bridge');
    if (req.method === 'GET' && url.pathname === '/health') {
      const body = this.health();
      res.writeHead(body.status === 'ok' ? 200 : 503, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
      return;
    }
    if (this.#opts.monitor?.handleHttp(req, res, url) === true) return;
    const body = errorBody('NOT_FOUND', `no route for ${req.method} ${url.pathname}`);
    res.writeHead(httpStatus(body.error.code), { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  }

  #onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    // Refused before the upgrade, as a plain HTTP answer with the one error body (the worker's shape).
    const reject = (code: ErrorCode, reason: string, message: string): void => {
      const body = JSON.stringify(errorBody(code, message));
      socket.end(
        `HTTP/1.1 ${httpStatus(code)} ${reason}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      );
    };
    const url = new URL(req.url ?? '/', 'http://bridge');
    if (url.pathname !== BRIDGE_API_PATH) return reject('NOT_FOUND', 'Not Found', `the bridge API is at ${BRIDGE_API_PATH}`);
    const auth = req.headers.authorization ?? '';
    const token = auth.startsWith('Bearer ') ? auth.slice('Bearer '.length) : '';
    if (!secretsEqual(token, this.#opts.secret)) {
      this.#opts.log.warn('bridge API: rejected a connection with a wrong or missing secret', { remote: req.socket.remoteAddress });
      // The bridge's own 401: the worker, whose secret this is, reports it as BRIDGE_UNAUTHENTICATED.
      return reject('UNAUTHENTICATED', 'Unauthorized', 'a valid bridge secret is required (Authorization: Bearer <BRIDGE_SECRET>)');
    }
    this.#wss.handleUpgrade(req, socket, head, (ws) => this.#onConnection(ws));
  }

  #onConnection(ws: WebSocket): void {
    const ownerId = `w${this.#nextOwner++}`;
    const log = this.#opts.log.child({ owner: ownerId });
    const owner: Owner = {
      id: ownerId,
      send: (event) => {
        this.#monitor((m) => m.eventSent(ownerId, event));
        if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(event));
      },
    };
    this.#owners.add(ws);
    this.#alive.add(ws);
    log.debug('worker connected');
    ws.on('pong', () => this.#alive.add(ws));
    ws.on('message', (data, isBinary) => {
      this.#alive.add(ws);
      void this.#onMessage(owner, ws, data, isBinary, log);
    });
    ws.on('error', (err) => log.warn('worker connection error', { err }));
    ws.on('close', (code) => {
      this.#owners.delete(ws);
      this.#nodeWatchers.delete(ws);
      this.#sourceWatchers.get(ws)?.();
      this.#sourceWatchers.delete(ws);
      this.#monitor((m) => m.ownerClosed(ownerId));
      const release = (): void => void this.#opts.media.release(owner).catch((err: unknown) => log.error('release failed', { err }));
      if (code === BRIDGE_RELEASE_CLOSE_CODE || this.#closed) {
        log.debug('worker disconnected; releasing what it owned');
        release();
        return;
      }
      // Lost, not closed: what it owned stays, media flowing, for a new link to `bind`.
      const graceMs = this.#opts.ownerGraceMs ?? BRIDGE_OWNER_GRACE_MS;
      log.info('worker link lost; what it owned waits for a bind', { code, graceMs });
      const timer = setTimeout(() => {
        this.#graceTimers.delete(timer);
        release();
      }, graceMs);
      timer.unref();
      this.#graceTimers.add(timer);
    });
  }

  async #onMessage(owner: Owner, ws: WebSocket, data: unknown, isBinary: boolean, log: Logger): Promise<void> {
    const reply = (msg: unknown): void => {
      if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(msg));
    };
    const invalid = (id: number, message: string): void => {
      const error = Errors.invalid(message);
      reply({ id, error: error.toWire() });
      this.#monitor((m) => m.requestDone({ owner: owner.id, request: undefined, startedAt: Date.now(), error }));
    };
    if (isBinary || !(data instanceof Buffer)) {
      invalid(-1, 'binary frames are not accepted');
      return;
    }
    let json: unknown;
    try {
      json = JSON.parse(data.toString('utf8'));
    } catch {
      invalid(-1, 'the frame is not valid JSON');
      return;
    }
    const parsed = v.safeParse(BridgeRequest, json);
    if (!parsed.success) {
      const id = typeof json === 'object' && json !== null && 'id' in json && typeof json.id === 'number' ? json.id : -1;
      invalid(id, issueText(parsed.issues[0], 'invalid request'));
      return;
    }
    const req = parsed.output;
    const started = Date.now();
    try {
      // While a restarted bridge takes its state back, media requests wait for it (a WHEP DELETE
      // must find its session, not a NOT_FOUND); at any other time they go on in the same turn, so
      // they reach the media layer in the order they came.
      const adopting = INSTANT_METHODS.has(req.method) ? undefined : this.#opts.media.adopting();
      if (adopting !== undefined) await adopting;
      const result = await this.#dispatch(owner, ws, req);
      reply({ id: req.id, result });
      this.#monitor((m) => m.requestDone({ owner: owner.id, request: req, startedAt: started, result }));
      log.debug('request done', { method: req.method, ms: Date.now() - started });
    } catch (err) {
      const e = CdnError.from(err);
      if (e.code === 'INTERNAL') log.error('request failed', { method: req.method, err: e });
      else log.debug('request refused', { method: req.method, code: e.code, err: e.message });
      reply({ id: req.id, error: e.toWire() });
      this.#monitor((m) => m.requestDone({ owner: owner.id, request: req, startedAt: started, error: e }));
    }
  }

  /** Calls the monitor, if any; a monitor that throws is logged, never fatal to the API. */
  #monitor(call: (m: ApiMonitor) => void): void {
    const m = this.#opts.monitor;
    if (m === undefined) return;
    try {
      call(m);
    } catch (err) {
      this.#opts.log.error('monitor threw', { err });
    }
  }

  #dispatch(owner: Owner, ws: WebSocket, req: BridgeRequest): Promise<Result<Method>> {
    const media = this.#opts.media;
    switch (req.method) {
      case 'nodes':
        this.#nodeWatchers.add(ws);
        return Promise.resolve(this.#nodesResult());
      case 'ping':
        return Promise.resolve({ time: Date.now() });
      case 'bind':
        return media.bind(owner, req.params);
      case 'publish':
        return req.params.resource === true ? this.#resources.publish(req.params) : media.publish(owner, req.params);
      case 'unpublish':
        return req.params.resource === true ? this.#resources.unpublish(req.params) : media.unpublish(owner, req.params);
      case 'play':
        return req.params.resource === true ? this.#resources.play(req.params) : media.play(owner, req.params);
      case 'answer':
        return media.answer(owner, req.params);
      case 'stop':
        return req.params.resource === true ? this.#resources.stop(req.params) : media.stop(owner, req.params);
      case 'trickle':
        return req.params.resource === true ? this.#resources.trickle(req.params) : media.trickle(owner, req.params);
      case 'streams':
        if (this.#opts.monitor === undefined) return Promise.reject(new CdnError('UNAVAILABLE', 'the bridge runs without its monitor'));
        return Promise.resolve(this.#opts.monitor.streams());
      case 'metrics':
        this.#monitor((m) => m.workerReport(owner.id, req.params));
        return Promise.resolve({});
      case 'sources': {
        this.#sourceWatchers.get(ws)?.();
        const { result, unwatch } = media.sources((e) => owner.send(e));
        this.#sourceWatchers.set(ws, unwatch);
        return Promise.resolve(result);
      }
      case 'relay':
        return media.relay(req.params);
      case 'unrelay':
        return media.unrelay(req.params);
      case 'forward':
        return media.forward(req.params);
      case 'unforward':
        return media.unforward(req.params);
    }
  }

  /** A node event, to the links that asked for `nodes` (the balancers), and no other. */
  #nodesResult(): Result<'nodes'> {
    return { mode: this.#opts.topology.mode, loadBalancing: this.#opts.topology.loadBalancing, nodes: this.#opts.nodes.snapshot() };
  }

  #broadcast(event: BridgeEvent): void {
    const text = JSON.stringify(event);
    for (const ws of this.#nodeWatchers) {
      if (ws.readyState !== ws.OPEN) continue;
      ws.send(text);
      this.#monitor((m) => m.eventSent('node-watcher', event));
    }
  }
}
