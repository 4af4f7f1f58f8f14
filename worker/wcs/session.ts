/**
 * One WCS WebSocket session: validates every client frame, translates it to bridge requests, and
 * turns bridge replies and events into the frames the WebSDK expects. Runtime-free: the socket,
 * the bridge link, the balancer and the clock come in as `SessionDeps`, so this runs the same
 * under workerd and in tests.
 *
 *   connection        -> getUserData                         (session ESTABLISHED)
 *   publishStream     -> bridge publish -> setRemoteSDP       then PUBLISHING / FAILED from events
 *   playStream        -> (origin with load balancing) redirect + FAILED "Play from edge ..."
 *                     -> bridge play    -> setRemoteSDP       then PLAYING / STOPPED / FAILED
 *   setRemoteSDP      -> bridge answer                        (server-offer play flow)
 *   unPublishStream   -> bridge unpublish -> UNPUBLISHED;  stopStream -> bridge stop -> STOPPED
 *   ping / pong       -> pong / nothing; the server pings and closes sessions that stay silent
 *
 * The session owns one bridge link (opened after `connection`, reopened on demand); closing the
 * session closes the link, and the bridge releases everything the link owned.
 *
 * With tokens required (`auth`), the token of the `connection` frame (`authToken`, else
 * `custom.token`) is checked before each publish or play: a refusal fails that stream with
 * "Restricted access" and nothing reaches the bridge (no link is even opened without a valid
 * token). Limits: frame size and nesting, SDP size, streams per session, and frames per second
 * (a flood closes the session with 4429).
 */
import * as v from 'valibot';
import { CdnError, type BridgeEvent, type ErrorCode, type Method, type NodeInfo, type Params, type Result } from '../../protocol/index.ts';
import { permits, type TokenDenial, type TokenRequest, type TokenVerdict } from '../auth/token.ts';
import { DEFAULT_LIMITS, MessageRate, type Limits } from '../limits/index.ts';
import { silentLogger, type Logger } from '../log.ts';
import {
  ClientFrame,
  ConnectionData,
  Envelope,
  HANDLED_MESSAGES,
  MAX_STREAMS_PER_SESSION,
  MediaSessionId,
  UNSUPPORTED_MESSAGES,
  describeFrameIssue,
  exceedsBytes,
  exceedsDepth,
  frames,
  type ClientMessage,
  type ServerFrame,
  type StreamStatus,
} from '../../protocol/wcs.ts';

/** Info strings as WCS and the WebSDK's STREAM_STATUS_INFO spell them. */
export const INFO = {
  STREAM_NOT_FOUND: 'CDN stream not found',
  STREAM_NAME_IN_USE: 'Stream name is already in use',
  MEDIA_SESSION_ID_IN_USE: 'MediaSessionId is already in use',
  SESSION_NOT_READY: 'Session not ready: send "connection" first',
  FAILED_BY_ERROR: 'Failed by error',
  BRIDGE_LOST: 'Failed by error: the connection to the bridge was lost',
  BRIDGE_LOST_SESSION: 'The connection to the bridge was lost: the streams of this session ended; new requests reconnect',
  /** WCS's wording for a stream refused for want of rights (a missing, invalid or wrong token). */
  RESTRICTED_ACCESS: 'Restricted access',
} as const;

/** WebSocket close codes the worker uses (4000-4999 are the application's). */
export const CLOSE_CODES = {
  NORMAL: 1000,
  PING_TIMEOUT: 4408,
  /** The client sent more frames per second than WCS_MAX_MESSAGES_PER_SECOND. */
  TOO_MANY_MESSAGES: 4429,
} as const;

/** The session's bridge link (a BridgeClient). */
export interface BridgeLink {
  request<M extends Method>(method: M, params: Params<M>): Promise<Result<M>>;
  close(reason?: string): void;
  readonly closed: boolean;
}

export interface BridgeHandlers {
  onEvent(event: BridgeEvent): void;
  onClose(reason: CdnError): void;
}

/** Where a player on the origin is sent. */
export type EdgeRedirect =
  | { ok: true; node: NodeInfo; url: string; server: string; ws: number; wss: number }
  | { ok: false; code: ErrorCode; reason: string };

export interface SessionDeps {
  /** Sends a frame to the client (JSON text). */
  send(frame: ServerFrame): void;
  /** Closes the client's socket. */
  close(code: number, reason: string): void;
  /** Opens this session's own bridge link. */
  openBridge(handlers: BridgeHandlers): Promise<BridgeLink>;
  /** Chooses the edge for a player that asked the origin (`pinned`: the node its token names). */
  chooseEdge(stream: string, pinned?: string): Promise<EdgeRedirect>;
  now(): number;
  log?: Logger;
}

export interface SessionOptions {
  sessionId: string;
  /** The node this session is for; undefined when the node list could not be had (see nodeError). */
  node: NodeInfo | undefined;
  /** Why the node is unknown (the bridge is unreachable, the secret is missing, ...). */
  nodeError?: { code: ErrorCode; message: string };
  /** The origin's public host, for the "publish on the origin" message. */
  originHost?: string | undefined;
  /** Players on the origin are sent to an edge (load_balancing_enabled). */
  loadBalancing: boolean;
  /** A session silent (no frame at all) for longer than this is closed by `tick`. */
  pingTimeoutMs: number;
  /** Overrides limits.maxStreamsPerSession. */
  maxStreams?: number;
  /** Token checks; absent or not `required`: everything is allowed. */
  auth?: SessionAuth;
  /** Limits; DEFAULT_LIMITS for those not given. */
  limits?: Partial<Limits>;
}

/** The token check a session uses (worker/auth's Auth). */
export interface SessionAuth {
  readonly required: boolean;
  verify(token: string | undefined, nowMs: number): Promise<TokenVerdict | { ok: true; claims: undefined }>;
}

type Verdict = Awaited<ReturnType<SessionAuth['verify']>>;

interface StreamEntry {
  readonly mediaSessionId: string;
  readonly name: string;
  readonly kind: 'publish' | 'play';
  /** The bridge's publishId / playId once its reply arrived. */
  bridgeId: string | undefined;
  /** The client asked to stop before the bridge replied. */
  stopRequested: boolean;
  /** Server-offer play: the client's answer is still due. */
  awaitingAnswer: boolean;
}

/** How many bridge ids' events are kept while their request is still in flight. */
const MAX_EARLY_EVENT_IDS = 64;
/** Longest piece of a client's own text (a message name) repeated in an error. */
const MAX_ECHO = 64;

export class WcsSession {
  readonly #deps: SessionDeps;
  readonly #opts: SessionOptions;
  readonly #log: Logger;
  #node: NodeInfo | undefined;
  #established = false;
  #closed = false;
  #lastSeen: number;
  readonly #streams = new Map<string, StreamEntry>();
  readonly #byBridgeId = new Map<string, StreamEntry>();
  #link: BridgeLink | undefined;
  #linkPromise: Promise<BridgeLink> | undefined;
  #linkGeneration = 0;
  /** Bridge requests that may still produce a publishId / playId. */
  #inFlight = 0;
  /** Events for bridge ids whose request has not returned yet. */
  readonly #early = new Map<string, BridgeEvent[]>();
  readonly #limits: Limits;
  readonly #rate: MessageRate;
  /** The `connection` token's verdict (when tokens are required). */
  #verdict: Promise<Verdict> | undefined;

  constructor(deps: SessionDeps, opts: SessionOptions) {
    this.#deps = deps;
    this.#opts = opts;
    this.#node = opts.node;
    this.#log = deps.log ?? silentLogger;
    this.#lastSeen = deps.now();
    this.#limits = { ...DEFAULT_LIMITS, ...opts.limits };
    this.#rate = new MessageRate(this.#limits.maxMessagesPerSecond, this.#lastSeen);
  }

  get established(): boolean {
    return this.#established;
  }
  get closed(): boolean {
    return this.#closed;
  }
  /** mediaSessionIds of the streams the session holds. */
  get streamIds(): string[] {
    return [...this.#streams.keys()];
  }

  // ------------------------------------------------------------ socket events (from the adapter)

  /** A text frame from the client. Never throws. */
  handleText(text: string): void {
    if (this.#closed) return;
    this.#lastSeen = this.#deps.now();
    if (!this.#rate.take(this.#lastSeen)) return this.#flooded();
    const maxBytes = this.#limits.maxFrameBytes;
    const oversize = exceedsBytes(text, maxBytes);
    if (oversize !== undefined) {
      this.#failSession('frame', 'INVALID_ARGUMENT', `the frame is ${oversize} bytes; the limit is ${maxBytes} bytes`);
      return;
    }
    if (exceedsDepth(text, this.#limits.maxFrameDepth)) {
      this.#failSession('frame', 'INVALID_ARGUMENT', `the frame nests arrays/objects deeper than ${this.#limits.maxFrameDepth} levels`);
      return;
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (err) {
      this.#failSession('frame', 'INVALID_ARGUMENT', `the frame is not valid JSON (${err instanceof Error ? err.message : 'parse error'})`);
      return;
    }
    const envelope = v.safeParse(Envelope, json);
    if (!envelope.success) {
      this.#failSession('frame', 'INVALID_ARGUMENT', `the frame must be {"message": <name>, "data": [...]}: ${describeFrameIssue(envelope.issues[0])}`);
      return;
    }
    const message = envelope.output.message;
    const unsupported = Object.hasOwn(UNSUPPORTED_MESSAGES, message) ? UNSUPPORTED_MESSAGES[message] : undefined;
    if (unsupported !== undefined) {
      this.#failSession(message, 'INVALID_ARGUMENT', `"${message}" is not supported by the CDN (no ${unsupported}); it publishes and plays WebRTC streams only`);
      return;
    }
    if (!isHandled(message)) {
      const name = echo(message);
      this.#failSession(name, 'INVALID_ARGUMENT', `unknown message "${name}"; the CDN understands ${HANDLED_MESSAGES.join(', ')}`);
      return;
    }
    const parsed = v.safeParse(ClientFrame, json);
    if (!parsed.success) {
      this.#rejectFrame(message, envelope.output.data?.[0], 'INVALID_ARGUMENT', `${message}: ${describeFrameIssue(parsed.issues[0])}`);
      return;
    }
    const sdp = sdpOf(parsed.output);
    const sdpBytes = sdp === undefined ? undefined : exceedsBytes(sdp.text, this.#limits.maxSdpBytes);
    if (sdp !== undefined && sdpBytes !== undefined) {
      this.#rejectFrame(message, envelope.output.data?.[0], 'INVALID_ARGUMENT', `${message}: ${sdp.path}: the SDP is ${sdpBytes} bytes; the limit is ${this.#limits.maxSdpBytes} bytes`);
      return;
    }
    try {
      this.#dispatch(parsed.output);
    } catch (err) {
      this.#log.error('frame handler threw', { message, err: err instanceof Error ? err.message : String(err) });
      this.#failSession(message, 'INTERNAL', `internal error while handling "${message}"`);
    }
  }

  /** A binary frame from the client (refused: the API is JSON text). */
  handleBinary(byteLength: number | undefined): void {
    if (this.#closed) return;
    this.#lastSeen = this.#deps.now();
    if (!this.#rate.take(this.#lastSeen)) return this.#flooded();
    const size = byteLength === undefined ? '' : ` (got ${byteLength} bytes)`;
    this.#failSession('frame', 'INVALID_ARGUMENT', `binary frames are not accepted${size}; send JSON text frames`);
  }

  /** More frames per second than allowed: one `fail` saying so, then the session is closed. */
  #flooded(): void {
    const limit = this.#limits.maxMessagesPerSecond;
    this.#log.warn('closing a session that floods', { session: this.#opts.sessionId, limit });
    this.#failSession('frame', 'RESOURCE_EXHAUSTED', `more than ${limit} messages per second; the session is closed`);
    try {
      this.#deps.close(CLOSE_CODES.TOO_MANY_MESSAGES, 'too many messages');
    } catch {
      // The socket is already gone; handleClose below is all that is left to do.
    }
    this.handleClose();
  }

  /** The client's socket closed (or failed): the bridge link goes, and with it the session's streams. */
  handleClose(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#linkGeneration++;
    const link = this.#link;
    this.#link = undefined;
    link?.close('client session closed');
    this.#streams.clear();
    this.#byBridgeId.clear();
    this.#early.clear();
  }

  /** The ping timer: closes a silent session, otherwise pings it. */
  tick(): void {
    if (this.#closed) return;
    const silentMs = this.#deps.now() - this.#lastSeen;
    if (silentMs > this.#opts.pingTimeoutMs) {
      this.#log.info('closing a silent session', { session: this.#opts.sessionId, silentMs });
      try {
        this.#deps.close(CLOSE_CODES.PING_TIMEOUT, `no answer to pings for ${Math.round(silentMs / 1000)} s`);
      } catch {
        // The socket is already gone; handleClose below is all that is left to do.
      }
      this.handleClose();
      return;
    }
    this.#send(frames.ping());
  }

  // ------------------------------------------------------------ client requests

  #dispatch(frame: ClientFrame): void {
    switch (frame.message) {
      case 'ping':
        this.#send(frames.pong());
        return;
      case 'pong':
        return;
      case 'connection':
        this.#connection(frame.data[0]);
        return;
    }
    if (!this.#established) {
      this.#rejectFrame(frame.message, frame.data[0], 'FAILED_PRECONDITION', INFO.SESSION_NOT_READY);
      return;
    }
    switch (frame.message) {
      case 'publishStream':
        this.#publish(frame.data[0]);
        return;
      case 'playStream':
        this.#play(frame.data[0]);
        return;
      case 'unPublishStream':
        this.#stop(frame.data[0].mediaSessionId, 'publish');
        return;
      case 'stopStream':
        this.#stop(frame.data[0].mediaSessionId, 'play');
        return;
      case 'setRemoteSDP':
        this.#answer(frame.data[0], frame.data[1]);
        return;
    }
  }

  #connection(d: v.InferOutput<typeof ConnectionData>): void {
    if (this.#established) {
      this.#failSession('connection', 'FAILED_PRECONDITION', 'the session is already established; "connection" is sent once');
      return;
    }
    this.#established = true;
    const node = this.#node;
    const user = {
      sessionId: this.#opts.sessionId,
      mediaProviders: ['WebRTC'],
      ...(typeof d.appKey === 'string' ? { appKey: d.appKey } : {}),
      ...(typeof d.clientVersion === 'string' ? { clientVersion: d.clientVersion } : {}),
      ...(typeof d.authToken === 'string' ? { authToken: d.authToken } : {}),
      ...(d.custom !== undefined && d.custom !== null ? { custom: d.custom } : {}),
      ...(node === undefined ? {} : { node: node.id, role: node.role }),
    };
    this.#send(frames.userData(user));
    if (node === undefined) return;
    // Open the link now so the first publish or play does not pay for the handshake; with tokens
    // required, only for a valid token (a client without one never gets to the bridge).
    const prewarm = (): void => {
      this.#ensureLink().catch((err: unknown) => {
        // A session closed during the handshake is the expected race, not a problem worth a warning.
        if (this.#closed) return;
        this.#log.warn('bridge link not available yet', { session: this.#opts.sessionId, err: CdnError.from(err).message });
      });
    };
    const auth = this.#opts.auth;
    if (auth === undefined || !auth.required) return prewarm();
    const verdict = auth.verify(tokenOf(d), this.#deps.now()).catch(
      (err: unknown): Verdict => ({ ok: false, denial: { code: 'UNAUTHENTICATED', reason: `the token could not be checked (${err instanceof Error ? err.message : String(err)})` } }),
    );
    this.#verdict = verdict;
    void verdict.then((result) => {
      if (result.ok && !this.#closed) prewarm();
    });
  }

  /** Why the session's token does not allow `want`, or undefined when it does (or none is needed). */
  async #denial(want: TokenRequest): Promise<TokenDenial | undefined> {
    const auth = this.#opts.auth;
    if (auth === undefined || !auth.required) return undefined;
    const verdict = await (this.#verdict ?? auth.verify(undefined, this.#deps.now()));
    if (!verdict.ok) return verdict.denial;
    return verdict.claims === undefined ? undefined : permits(verdict.claims, want, this.#deps.now());
  }

  /** The node the session's token pins players to, if any. */
  async #pinnedNode(): Promise<string | undefined> {
    const verdict = await this.#verdict;
    return verdict?.ok === true ? verdict.claims?.node : undefined;
  }

  /**
   * Checks the token for a stream about to start. On a refusal the stream FAILS with "Restricted
   * access" and false is returned; also false when the stream went away while the check ran.
   */
  async #permitted(entry: StreamEntry, want: TokenRequest): Promise<boolean> {
    const auth = this.#opts.auth;
    if (auth === undefined || !auth.required) return true;
    const denial = await this.#denial(want);
    if (this.#closed || this.#streams.get(entry.mediaSessionId) !== entry) return false;
    if (entry.stopRequested) {
      this.#drop(entry);
      this.#sendStatus(entry, entry.kind === 'publish' ? 'UNPUBLISHED' : 'STOPPED');
      return false;
    }
    if (denial === undefined) return true;
    this.#log.info('stream refused', { session: this.#opts.sessionId, stream: entry.name, kind: entry.kind, code: denial.code, reason: denial.reason });
    this.#drop(entry);
    this.#sendStatus(entry, 'FAILED', { info: INFO.RESTRICTED_ACCESS, code: denial.code, reason: denial.reason });
    return false;
  }

  #publish(d: { mediaSessionId: string; name: string; sdp: string }): void {
    const entry = this.#admit(d.mediaSessionId, d.name, 'publish');
    if (entry === undefined) return;
    const node = this.#node;
    if (node === undefined) return this.#failEntry(entry, this.#opts.nodeError?.code ?? 'UNAVAILABLE', this.#nodeUnknownInfo());
    if (node.role !== 'origin') {
      const where = this.#opts.originHost === undefined ? 'the origin' : `the origin (${this.#opts.originHost})`;
      return this.#failEntry(entry, 'FAILED_PRECONDITION', `Publishing is accepted only on ${where}; ${node.id} is an edge`);
    }
    void this.#run(entry, { action: 'publish', stream: d.name, node: node.id }, async (link) => {
      const result = await link.request('publish', { node: node.id, stream: d.name, sdp: d.sdp });
      return { bridgeId: result.publishId, sdp: result.sdp, awaitingAnswer: false };
    });
  }

  #play(d: { mediaSessionId: string; name: string; sdp?: string | null | undefined }): void {
    const entry = this.#admit(d.mediaSessionId, d.name, 'play');
    if (entry === undefined) return;
    const node = this.#node;
    if (node === undefined) return this.#failEntry(entry, this.#opts.nodeError?.code ?? 'UNAVAILABLE', this.#nodeUnknownInfo());
    if (node.role === 'origin' && this.#opts.loadBalancing) {
      void this.#redirect(entry);
      return;
    }
    const offer = d.sdp ?? undefined;
    void this.#run(entry, { action: 'play', stream: d.name, node: node.id }, async (link) => {
      const result = await link.request('play', offer === undefined ? { node: node.id, stream: d.name } : { node: node.id, stream: d.name, sdp: offer });
      const expected = offer === undefined ? 'offer' : 'answer';
      if (result.type !== expected) {
        link.request('stop', { playId: result.playId }).catch(() => undefined);
        throw new CdnError('INTERNAL', `the bridge answered a ${offer === undefined ? 'server-offer' : 'client-offer'} play with an ${result.type}`);
      }
      return { bridgeId: result.playId, sdp: result.sdp, awaitingAnswer: result.type === 'offer' };
    });
  }

  /** The origin sends a player to an edge: the `redirect` extension, then FAILED naming the edge. */
  async #redirect(entry: StreamEntry): Promise<void> {
    // The node does not matter here (the edge checks it); a token that names one pins the choice.
    let pinned: string | undefined;
    if (this.#opts.auth?.required === true) {
      if (!(await this.#permitted(entry, { action: 'play', stream: entry.name }))) return;
      pinned = await this.#pinnedNode();
    }
    let choice: EdgeRedirect;
    try {
      choice = await (pinned === undefined ? this.#deps.chooseEdge(entry.name) : this.#deps.chooseEdge(entry.name, pinned));
    } catch (err) {
      const e = CdnError.from(err);
      choice = { ok: false, code: e.code, reason: e.message };
    }
    if (this.#closed || this.#streams.get(entry.mediaSessionId) !== entry) return;
    if (entry.stopRequested) {
      this.#drop(entry);
      this.#sendStatus(entry, 'STOPPED');
      return;
    }
    if (!choice.ok) {
      this.#failEntry(entry, choice.code, `No edge can play "${entry.name}": ${choice.reason}`);
      return;
    }
    this.#send(
      frames.redirect({
        mediaSessionId: entry.mediaSessionId,
        name: entry.name,
        node: choice.node.id,
        url: choice.url,
        server: choice.server,
        ws: choice.ws,
        wss: choice.wss,
      }),
    );
    this.#streams.delete(entry.mediaSessionId);
    this.#sendStatus(entry, 'FAILED', { info: `Play from edge ${choice.node.id}: ${choice.url}` });
  }

  /** Runs a publish or play on the bridge and wires its result into the entry. */
  async #run(
    entry: StreamEntry,
    want: TokenRequest,
    start: (link: BridgeLink) => Promise<{ bridgeId: string; sdp: string; awaitingAnswer: boolean }>,
  ): Promise<void> {
    if (this.#opts.auth?.required === true && !(await this.#permitted(entry, want))) return;
    this.#inFlight++;
    let link: BridgeLink;
    let started: { bridgeId: string; sdp: string; awaitingAnswer: boolean };
    try {
      link = await this.#ensureLink();
      started = await start(link);
    } catch (err) {
      this.#settled();
      if (this.#closed || this.#streams.get(entry.mediaSessionId) !== entry) return;
      const e = CdnError.from(err);
      if (entry.stopRequested) {
        this.#streams.delete(entry.mediaSessionId);
        this.#sendStatus(entry, entry.kind === 'publish' ? 'UNPUBLISHED' : 'STOPPED');
        return;
      }
      this.#failEntry(entry, e.code, infoFor(e, entry.kind));
      return;
    }
    this.#settled(started.bridgeId);
    if (this.#closed || this.#streams.get(entry.mediaSessionId) !== entry || entry.stopRequested) {
      // The client left or asked to stop while the bridge was working: release what it made.
      this.#release(link, entry.kind, started.bridgeId);
      if (!this.#closed && entry.stopRequested && this.#streams.get(entry.mediaSessionId) === entry) {
        this.#streams.delete(entry.mediaSessionId);
        this.#sendStatus(entry, entry.kind === 'publish' ? 'UNPUBLISHED' : 'STOPPED');
      }
      return;
    }
    entry.bridgeId = started.bridgeId;
    entry.awaitingAnswer = started.awaitingAnswer;
    this.#byBridgeId.set(started.bridgeId, entry);
    this.#send(frames.remoteSdp(entry.mediaSessionId, started.sdp));
    const early = this.#early.get(started.bridgeId);
    this.#early.delete(started.bridgeId);
    for (const event of early ?? []) this.#onBridgeEvent(event);
  }

  #answer(mediaSessionId: string, sdp: string): void {
    const entry = this.#streams.get(mediaSessionId);
    const playId = entry?.bridgeId;
    if (entry === undefined || entry.kind !== 'play' || !entry.awaitingAnswer || playId === undefined) {
      this.#failSession('setRemoteSDP', 'FAILED_PRECONDITION', `no stream is waiting for an answer with mediaSessionId "${mediaSessionId}"`);
      return;
    }
    entry.awaitingAnswer = false;
    const link = this.#link;
    if (link === undefined || link.closed) {
      this.#drop(entry);
      this.#failEntry(entry, 'UNAVAILABLE', INFO.BRIDGE_LOST);
      return;
    }
    link.request('answer', { playId, sdp }).catch((err: unknown) => {
      if (this.#closed || this.#streams.get(mediaSessionId) !== entry) return;
      const e = CdnError.from(err);
      this.#drop(entry);
      this.#release(link, 'play', playId);
      this.#failEntry(entry, e.code, infoFor(e, 'play'));
    });
  }

  #stop(mediaSessionId: string, kind: 'publish' | 'play'): void {
    const message = kind === 'publish' ? 'unPublishStream' : 'stopStream';
    const entry = this.#streams.get(mediaSessionId);
    if (entry === undefined || entry.kind !== kind) {
      const what = kind === 'publish' ? 'published' : 'playing';
      this.#failSession(message, 'NOT_FOUND', `no ${what} stream with mediaSessionId "${mediaSessionId}" on this session`);
      return;
    }
    const bridgeId = entry.bridgeId;
    if (bridgeId === undefined) {
      // The bridge has not answered yet: #run releases the stream when it does.
      entry.stopRequested = true;
      return;
    }
    this.#drop(entry);
    const done = kind === 'publish' ? 'UNPUBLISHED' : 'STOPPED';
    const link = this.#link;
    if (link === undefined || link.closed) {
      // The link is gone, and the bridge released the stream with it.
      this.#sendStatus(entry, done);
      return;
    }
    const request = kind === 'publish' ? link.request('unpublish', { publishId: bridgeId }) : link.request('stop', { playId: bridgeId });
    request.then(
      () => this.#sendStatus(entry, done),
      (err: unknown) => {
        const e = CdnError.from(err);
        if (e.code !== 'NOT_FOUND') this.#log.warn(`bridge ${kind === 'publish' ? 'unpublish' : 'stop'} failed`, { code: e.code, err: e.message });
        // The client is done with the stream either way; the bridge drops what is left when the link closes.
        this.#sendStatus(entry, done);
      },
    );
  }

  // ------------------------------------------------------------ bridge events

  #onBridgeEvent(event: BridgeEvent): void {
    if (this.#closed) return;
    switch (event.event) {
      case 'node':
        if (this.#node !== undefined && event.node.id === this.#node.id) this.#node = event.node;
        return;
      case 'slowlink':
        return;
      case 'publisher':
      case 'player': {
        const id = event.event === 'publisher' ? event.publishId : event.playId;
        const entry = this.#byBridgeId.get(id);
        if (entry === undefined) {
          if (this.#inFlight > 0 && (this.#early.has(id) || this.#early.size < MAX_EARLY_EVENT_IDS)) {
            this.#early.set(id, [...(this.#early.get(id) ?? []), event]);
          }
          return;
        }
        if ((event.event === 'publisher') !== (entry.kind === 'publish')) return;
        const info = event.info === undefined ? {} : { info: event.info };
        switch (event.status) {
          case 'PUBLISHING':
          case 'PLAYING':
            this.#sendStatus(entry, event.status, info);
            return;
          case 'UNPUBLISHED':
          case 'STOPPED':
            this.#drop(entry);
            this.#sendStatus(entry, event.status, info);
            return;
          case 'FAILED':
            this.#drop(entry);
            this.#sendStatus(entry, 'FAILED', { info: event.info ?? INFO.FAILED_BY_ERROR });
            return;
        }
      }
    }
  }

  #onBridgeClose(reason: CdnError): void {
    if (this.#closed) return;
    this.#link = undefined;
    this.#log.warn('bridge link lost', { session: this.#opts.sessionId, err: reason.message });
    // Streams the bridge had accepted are gone with the link; pending ones fail through their request.
    for (const entry of [...this.#byBridgeId.values()]) {
      this.#drop(entry);
      this.#sendStatus(entry, 'FAILED', { info: INFO.BRIDGE_LOST, code: 'UNAVAILABLE' });
    }
    // The session itself lives on (its next request opens a new link), but it is told now, so that
    // a client with nothing live learns of the outage at once, not from its next request.
    this.#failSession('bridge', 'UNAVAILABLE', INFO.BRIDGE_LOST_SESSION);
  }

  #ensureLink(): Promise<BridgeLink> {
    if (this.#closed) return Promise.reject(new CdnError('UNAVAILABLE', 'the session is closed'));
    const link = this.#link;
    if (link !== undefined && !link.closed) return Promise.resolve(link);
    if (this.#linkPromise !== undefined) return this.#linkPromise;
    const generation = ++this.#linkGeneration;
    const current = (): boolean => generation === this.#linkGeneration && !this.#closed;
    const opening = this.#deps
      .openBridge({
        onEvent: (event) => {
          if (current()) this.#onBridgeEvent(event);
        },
        onClose: (reason) => {
          if (current()) this.#onBridgeClose(reason);
        },
      })
      .then((opened) => {
        if (!current()) {
          opened.close('client session closed');
          throw new CdnError('UNAVAILABLE', 'the session is closed');
        }
        this.#link = opened;
        return opened;
      })
      .finally(() => {
        if (this.#linkPromise === opening) this.#linkPromise = undefined;
      });
    this.#linkPromise = opening;
    return opening;
  }

  // ------------------------------------------------------------ helpers

  /** Registers a new stream, or answers why it cannot be (duplicate id, too many streams). */
  #admit(mediaSessionId: string, name: string, kind: 'publish' | 'play'): StreamEntry | undefined {
    const message = kind === 'publish' ? 'publishStream' : 'playStream';
    if (this.#streams.has(mediaSessionId)) {
      // Not a FAILED for that id: the SDK would tear down the stream that already uses it.
      this.#failSession(message, 'ALREADY_EXISTS', `${INFO.MEDIA_SESSION_ID_IN_USE}: "${mediaSessionId}" (stream "${name}")`);
      return undefined;
    }
    const entry: StreamEntry = { mediaSessionId, name, kind, bridgeId: undefined, stopRequested: false, awaitingAnswer: false };
    const max = this.#opts.maxStreams ?? this.#opts.limits?.maxStreamsPerSession ?? MAX_STREAMS_PER_SESSION;
    if (this.#streams.size >= max) {
      this.#sendStatus(entry, 'FAILED', { info: `Too many streams on one session (the limit is ${max})`, code: 'RESOURCE_EXHAUSTED' });
      return undefined;
    }
    this.#streams.set(mediaSessionId, entry);
    return entry;
  }

  /** Forgets a stream (its later events are ignored). */
  #drop(entry: StreamEntry): void {
    if (this.#streams.get(entry.mediaSessionId) === entry) this.#streams.delete(entry.mediaSessionId);
    if (entry.bridgeId !== undefined && this.#byBridgeId.get(entry.bridgeId) === entry) this.#byBridgeId.delete(entry.bridgeId);
  }

  #failEntry(entry: StreamEntry, code: ErrorCode, info: string): void {
    this.#drop(entry);
    this.#sendStatus(entry, 'FAILED', { info, code });
  }

  #release(link: BridgeLink, kind: 'publish' | 'play', bridgeId: string): void {
    const request = kind === 'publish' ? link.request('unpublish', { publishId: bridgeId }) : link.request('stop', { playId: bridgeId });
    request.catch((err: unknown) => this.#log.debug('release after stop failed', { err: CdnError.from(err).message }));
  }

  #settled(bridgeId?: string): void {
    this.#inFlight = Math.max(0, this.#inFlight - 1);
    if (this.#inFlight === 0) {
      // Keep only the events of the request that just returned; #run consumes them next.
      for (const id of [...this.#early.keys()]) if (id !== bridgeId) this.#early.delete(id);
    }
  }

  #sendStatus(entry: StreamEntry, status: StreamStatus, extra: { info?: string; code?: ErrorCode; reason?: string } = {}): void {
    this.#send(
      frames.status({
        mediaSessionId: entry.mediaSessionId,
        name: entry.name,
        published: entry.kind === 'publish',
        status,
        ...extra,
      }),
    );
  }

  /** A session-level `fail` frame: the session stays usable. */
  #failSession(apiMethod: string, code: ErrorCode, info: string): void {
    this.#send(frames.fail({ apiMethod, code, info }));
  }

  /**
   * A frame that cannot be served. When it starts a stream under a new, well-formed mediaSessionId,
   * that stream is failed (so the SDK releases it); otherwise the session gets a `fail`.
   */
  #rejectFrame(message: ClientMessage, data0: unknown, code: ErrorCode, info: string): void {
    if (message === 'publishStream' || message === 'playStream') {
      const id = field(data0, 'mediaSessionId');
      if (id !== undefined && v.is(MediaSessionId, id) && !this.#streams.has(id)) {
        const name = field(data0, 'name');
        this.#send(
          frames.fail({
            apiMethod: 'StreamStatusEvent',
            id,
            mediaSessionId: id,
            name: typeof name === 'string' ? name.slice(0, 256) : '',
            status: 'FAILED',
            info,
            code,
          }),
        );
        return;
      }
    }
    this.#failSession(message, code, info);
  }

  #nodeUnknownInfo(): string {
    const e = this.#opts.nodeError;
    return `Failed by error: ${e === undefined ? 'the node is not known' : e.message}`;
  }

  #send(frame: ServerFrame): void {
    if (this.#closed) return;
    try {
      this.#deps.send(frame);
    } catch (err) {
      this.#log.debug('send to a closing client failed', { err: err instanceof Error ? err.message : String(err) });
    }
  }
}

function isHandled(message: string): message is ClientMessage {
  return HANDLED_MESSAGES.some((m) => m === message);
}

/** A client's text, cut to MAX_ECHO characters, for repeating it in an error. */
function echo(text: string): string {
  return text.length <= MAX_ECHO ? text : `${text.slice(0, MAX_ECHO)}...`;
}

/** The token a `connection` frame carries: `authToken`, else `custom.token` (WCS puts app data in custom). */
function tokenOf(d: v.InferOutput<typeof ConnectionData>): string | undefined {
  if (typeof d.authToken === 'string' && d.authToken !== '') return d.authToken;
  const custom = field(d.custom, 'token');
  return typeof custom === 'string' && custom !== '' ? custom : undefined;
}

/** The SDP a frame carries and where, for the size limit. */
function sdpOf(frame: ClientFrame): { text: string; path: string } | undefined {
  switch (frame.message) {
    case 'publishStream':
      return { text: frame.data[0].sdp, path: 'data[0].sdp' };
    case 'playStream':
      return typeof frame.data[0].sdp === 'string' ? { text: frame.data[0].sdp, path: 'data[0].sdp' } : undefined;
    case 'setRemoteSDP':
      return { text: frame.data[1], path: 'data[1]' };
    default:
      return undefined;
  }
}

function field(obj: unknown, key: string): unknown {
  return typeof obj === 'object' && obj !== null && key in obj ? Reflect.get(obj, key) : undefined;
}

/** The WCS-like info for a bridge error on a publish or play. */
export function infoFor(err: CdnError, kind: 'publish' | 'play'): string {
  switch (err.code) {
    case 'ALREADY_EXISTS':
      return INFO.STREAM_NAME_IN_USE;
    case 'NOT_FOUND':
      return kind === 'play' ? INFO.STREAM_NOT_FOUND : `Failed by error: ${err.message}`;
    default:
      return `Failed by error: ${err.message}`;
  }
}
