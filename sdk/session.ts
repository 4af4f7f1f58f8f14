/**
 * A session: the SDK's connection to a Fanout (or WCS) server. It asks the load balancer first when
 * given `lbUrl`, keeps the WebSocket, routes the server's frames to its streams, and holds the
 * extra connections to the nodes its streams were redirected to (edges for plays, origins for
 * publishes).
 */
import { resolveServer, withToken, type FetchLike } from './balancer.ts';
import { WcsConnection, type CloseInfo, type SocketFactory } from './connection.ts';
import { SESSION_STATUS, type SessionStatus } from './constants.ts';
import { Emitter, type Listener } from './emitter.ts';
import { browserMedia, type MediaEnvironment } from './media.ts';
import type { ConnectionParams, StreamFrame } from './protocol.ts';
import { Stream, type StreamHost, type StreamOptions, type StreamSink } from './stream.ts';
import { uuid } from './uuid.ts';
import { errorText } from '../protocol/errors.ts';

/** Options of `createSession()`. */
export interface SessionOptions {
  /** The server's WebSocket URL, e.g. `wss://origin.cdn.example.com/`. */
  urlServer: string;
  /**
   * The load balancer (`GET`, answers `{server, ws, wss}`): the session connects where it says,
   * or to `urlServer` when it fails or takes more than 5 s.
   */
  lbUrl?: string;
  /** The WCS application key. Default "defaultApp". */
  appKey?: string;
  /**
   * A token the server checks (Fanout: a publish/play token from `npm run token`). Sent in the
   * `connection` frame, to every edge a player is sent to, and as `?token=` to `lbUrl`.
   */
  authToken?: string;
  /** Free-form data sent with the `connection` frame. */
  custom?: Record<string, unknown>;
  /** Ask the server to keep the session alive with pings. Default false (Fanout pings anyway). */
  keepAlive?: boolean;
  /** ICE servers for every peer connection of the session. Default `[]`. */
  iceServers?: RTCIceServer[];
  /** How long connecting may take, load balancer excluded (ms). Default 10000. */
  timeout?: number;
  /** How long ICE gathering may take before the SDP is sent with what it has (ms). Default 5000. */
  iceGatheringTimeout?: number;
  /** How long the server may take to answer a publish, play or stop (ms). Default 20000. */
  requestTimeout?: number;
}

/** Replaceable runtime pieces, for tests and other hosts. @internal */
export interface SessionRuntime {
  socketFactory: SocketFactory;
  fetch: FetchLike;
  media: MediaEnvironment;
}

/** Why a session ended. */
export interface DisconnectInfo {
  code: number;
  reason: string;
}

/** What each session event passes to its listeners: the session first, then the event's detail. */
export type SessionEventMap = {
  CONNECTED: [session: Session];
  ESTABLISHED: [session: Session];
  DISCONNECTED: [session: Session, info: DisconnectInfo];
  FAILED: [session: Session, info: string];
  WARN: [session: Session, info: string];
};

interface Shared {
  conn: WcsConnection;
  users: number;
  ready: Promise<WcsConnection>;
}

function defaultRuntime(): SessionRuntime {
  return {
    socketFactory: (url) => new WebSocket(url),
    fetch: (url, init) => fetch(url, init),
    media: browserMedia,
  };
}

function clientParams(opts: SessionOptions): ConnectionParams {
  const ua = typeof navigator === 'undefined' ? 'unknown' : navigator.userAgent;
  return {
    appKey: opts.appKey ?? 'defaultApp',
    mediaProviders: ['WebRTC'],
    keepAlive: opts.keepAlive ?? false,
    clientVersion: '2.0',
    clientOSVersion: ua,
    clientBrowserVersion: ua,
    ...(opts.authToken === undefined ? {} : { authToken: opts.authToken }),
    ...(opts.custom === undefined ? {} : { custom: opts.custom }),
  };
}

/**
 * A session with a server. Create it with `createSession()`.
 *
 * @example
 * const session = createSession({ urlServer: 'ws://origin.localhost:8787/' })
 *   .on(SESSION_STATUS.ESTABLISHED, (s) => s.createStream({ name: 'cam1', display }).play())
 *   .on(SESSION_STATUS.FAILED, (s, info) => console.error(info));
 */
export class Session {
  readonly #id = uuid();
  readonly #opts: SessionOptions;
  readonly #rt: SessionRuntime;
  readonly #events = new Emitter<SessionEventMap>();
  readonly #params: ConnectionParams;
  #status: SessionStatus = SESSION_STATUS.PENDING;
  #main: WcsConnection | undefined;
  #url: string;
  readonly #streams = new Set<Stream>();
  readonly #routes = new Map<WcsConnection, Map<string, StreamSink>>();
  readonly #edges = new Map<string, Shared>();
  readonly #host: StreamHost;

  /** @internal Use `createSession()`. */
  constructor(opts: SessionOptions, runtime: Partial<SessionRuntime> = {}) {
    if (typeof opts.urlServer !== 'string' || !/^wss?:\/\//i.test(opts.urlServer)) {
      throw new TypeError(`Fanout: urlServer must be a ws:// or wss:// URL, got ${JSON.stringify(opts.urlServer)}`);
    }
    this.#opts = opts;
    this.#rt = { ...defaultRuntime(), ...runtime };
    this.#params = clientParams(opts);
    this.#url = opts.urlServer;
    const iceGatheringTimeoutMs = opts.iceGatheringTimeout ?? 5000;
    const requestTimeoutMs = opts.requestTimeout ?? 20_000;
    this.#host = {
      iceServers: opts.iceServers ?? [],
      media: this.#rt.media,
      iceGatheringTimeoutMs,
      requestTimeoutMs,
      main: () => (this.#status === SESSION_STATUS.ESTABLISHED && this.#main?.established === true ? this.#main : undefined),
      route: (conn, id, sink) => this.#routes.get(conn)?.set(id, sink),
      unroute: (conn, id) => this.#routes.get(conn)?.delete(id),
      acquire: (url) => this.#acquire(url),
      release: (conn) => this.#release(conn),
      forget: (stream) => this.#streams.delete(stream),
    };
    this.#start().catch((err: unknown) => {
      if (!this.#ended()) this.#end(SESSION_STATUS.FAILED, `cannot connect: ${errorText(err)}`, { code: 1006, reason: '' });
    });
  }

  /**
   * Listens to a session event; returns the session so calls chain.
   *
   * @example
   * createSession({ urlServer })
   *   .on(SESSION_STATUS.ESTABLISHED, () => show('connected'))
   *   .on(SESSION_STATUS.DISCONNECTED, (s, { code }) => show(`closed (${code})`));
   */
  on<E extends keyof SessionEventMap>(event: E, listener: Listener<SessionEventMap[E]>): this {
    this.#events.on(event, listener);
    return this;
  }

  /**
   * Stops listening.
   *
   * @example
   * session.off(SESSION_STATUS.WARN, onWarn);
   */
  off<E extends keyof SessionEventMap>(event: E, listener: Listener<SessionEventMap[E]>): this {
    this.#events.off(event, listener);
    return this;
  }

  /**
   * The session's id (local, for logs).
   *
   * @example
   * console.log('session', session.id());
   */
  id(): string {
    return this.#id;
  }

  /**
   * The current status: PENDING, CONNECTED, ESTABLISHED, DISCONNECTED or FAILED.
   *
   * @example
   * if (session.status() === SESSION_STATUS.ESTABLISHED) session.disconnect();
   */
  status(): SessionStatus {
    return this.#status;
  }

  /**
   * The URL the session is connected to (after the load balancer, when there is one).
   *
   * @example
   * label.textContent = session.getServerUrl();
   */
  getServerUrl(): string {
    return this.#url;
  }

  /**
   * The session's streams that have not ended.
   *
   * @example
   * session.getStreams().forEach((s) => s.stop());
   */
  getStreams(): Stream[] {
    return [...this.#streams];
  }

  /**
   * Creates a stream to publish or play; nothing happens until `publish()` or `play()`.
   *
   * @example
   * const stream = session.createStream({ name: 'cam1', display: document.querySelector('#player')! });
   * stream.on(STREAM_STATUS.PLAYING, () => console.log('playing')).play();
   */
  createStream(options: StreamOptions): Stream {
    if (typeof options.name !== 'string' || options.name === '') throw new TypeError('Fanout: createStream needs a stream name');
    if (options.display !== undefined && options.display !== null && typeof HTMLElement !== 'undefined' && !(options.display instanceof HTMLElement)) {
      throw new TypeError('Fanout: display must be an HTMLElement');
    }
    const stream = new Stream(this.#host, options);
    this.#streams.add(stream);
    return stream;
  }

  /**
   * Closes the session: its streams end (UNPUBLISHED / STOPPED), then DISCONNECTED. Safe to call
   * more than once.
   *
   * @example
   * window.addEventListener('pagehide', () => session.disconnect());
   */
  disconnect(): void {
    if (this.#ended()) return;
    this.#end(SESSION_STATUS.DISCONNECTED, 'disconnected by the client', { code: 1000, reason: 'client disconnect' });
  }

  // ---------------------------------------------------------------- internals

  #ended(): boolean {
    return this.#status === SESSION_STATUS.DISCONNECTED || this.#status === SESSION_STATUS.FAILED;
  }

  async #start(): Promise<void> {
    if (this.#opts.lbUrl !== undefined) {
      const r = await resolveServer(this.#opts.urlServer, withToken(this.#opts.lbUrl, this.#opts.authToken), this.#rt.fetch);
      if (r.fallback !== undefined) console.warn(`Fanout: ${r.fallback}; connecting to ${this.#opts.urlServer}`);
      this.#url = r.url;
    }
    if (this.#ended()) return;
    const conn = this.#connect(this.#url);
    this.#main = conn;
    conn.events.on('connected', () => {
      if (this.#status !== SESSION_STATUS.PENDING) return;
      this.#status = SESSION_STATUS.CONNECTED;
      this.#events.emit(SESSION_STATUS.CONNECTED, this);
    });
    conn.events.on('established', () => {
      if (this.#ended()) return;
      this.#status = SESSION_STATUS.ESTABLISHED;
      this.#events.emit(SESSION_STATUS.ESTABLISHED, this);
    });
    conn.events.on('closed', (info: CloseInfo) => {
      if (this.#ended()) return;
      if (info.error !== undefined || !info.established) {
        this.#end(SESSION_STATUS.FAILED, info.error ?? `the server closed the connection (${info.code})`, info);
      } else {
        this.#end(SESSION_STATUS.DISCONNECTED, `the server closed the connection (${info.code}${info.reason === '' ? '' : ` ${info.reason}`})`, info);
      }
    });
    conn.open();
  }

  /** A connection with frame routing; the caller adds its own lifecycle listeners. */
  #connect(url: string): WcsConnection {
    const conn = new WcsConnection({
      url,
      params: this.#params,
      socketFactory: this.#rt.socketFactory,
      timeoutMs: this.#opts.timeout ?? 10_000,
    });
    const routes = new Map<string, StreamSink>();
    this.#routes.set(conn, routes);
    conn.events.on('frame', (frame) => this.#dispatch(conn, routes, frame));
    conn.events.on('invalid', (problem) => this.#warn(problem));
    conn.events.on('closed', (info) => {
      this.#routes.delete(conn);
      if (conn === this.#main) return; // the session's own handler ends the streams
      const why = info.error ?? `the connection to ${url} closed (${info.code})`;
      for (const sink of [...routes.values()]) sink.lost(why, false);
    });
    return conn;
  }

  #dispatch(conn: WcsConnection, routes: Map<string, StreamSink>, frame: StreamFrame): void {
    switch (frame.message) {
      case 'setRemoteSDP':
        routes.get(frame.data[0])?.remoteSdp(frame.data[1]);
        return;
      case 'notifyStreamStatusEvent':
        routes.get(frame.data[0].mediaSessionId)?.status(frame.data[0]);
        return;
      case 'redirect':
        routes.get(frame.data[0].mediaSessionId)?.redirect(frame.data[0], conn);
        return;
      case 'fail': {
        const f = frame.data[0];
        // A stream's failure names it in `id` (apiMethod "StreamStatusEvent"); any other is the session's.
        const sink = f.id === undefined ? undefined : routes.get(f.id);
        if (sink !== undefined) sink.fail(f.info);
        else this.#warn(f.info);
        return;
      }
    }
  }

  #warn(info: string): void {
    if (this.#ended()) return;
    this.#events.emit(SESSION_STATUS.WARN, this, info);
  }

  async #acquire(url: string): Promise<WcsConnection> {
    if (this.#ended()) throw new Error('the session is closed');
    let shared = this.#edges.get(url);
    if (shared === undefined || shared.conn.closed) {
      const conn = this.#connect(url);
      const entry: Shared = { conn, users: 0, ready: conn.whenEstablished().then(() => conn) };
      conn.events.on('closed', () => {
        if (this.#edges.get(url) === entry) this.#edges.delete(url);
      });
      this.#edges.set(url, entry);
      conn.open();
      shared = entry;
    }
    shared.users++;
    try {
      return await shared.ready;
    } catch (err) {
      shared.users--;
      throw err;
    }
  }

  #release(conn: WcsConnection): void {
    const shared = this.#edges.get(conn.url);
    if (shared === undefined || shared.conn !== conn) return;
    if (--shared.users > 0) return;
    this.#edges.delete(conn.url);
    conn.close(1000, 'no more streams');
  }

  #end(status: typeof SESSION_STATUS.DISCONNECTED | typeof SESSION_STATUS.FAILED, why: string, info: DisconnectInfo): void {
    const clean = status === SESSION_STATUS.DISCONNECTED && why === 'disconnected by the client';
    // Streams first, while the session still counts as open for their final frames.
    for (const stream of [...this.#streams]) stream.sink().lost(clean ? 'the session was disconnected' : why, clean);
    this.#status = status;
    for (const shared of [...this.#edges.values()]) shared.conn.close(1000, 'session closed');
    this.#edges.clear();
    this.#main?.close(info.code, info.reason);
    if (status === SESSION_STATUS.FAILED) this.#events.emit(SESSION_STATUS.FAILED, this, why);
    else this.#events.emit(SESSION_STATUS.DISCONNECTED, this, { code: info.code, reason: info.reason === '' ? why : info.reason });
    this.#events.clear();
  }
}

/**
 * Connects to a server and returns the session at once; listen for ESTABLISHED before creating
 * streams.
 *
 * @example
 * import { createSession, SESSION_STATUS, STREAM_STATUS } from 'fanout-sdk';
 *
 * createSession({ urlServer: 'ws://origin.localhost:8787/' })
 *   .on(SESSION_STATUS.ESTABLISHED, (session) => {
 *     session.createStream({ name: 'cam1', display: document.getElementById('player')! })
 *       .on(STREAM_STATUS.PLAYING, () => console.log('playing'))
 *       .play();
 *   })
 *   .on(SESSION_STATUS.FAILED, (_, info) => console.error(info));
 */
export function createSession(options: SessionOptions): Session {
  return new Session(options);
}
