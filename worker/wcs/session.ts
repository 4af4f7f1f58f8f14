/**
 * One WCS WebSocket session: the protocol state machine that turns client frames into bridge
 * requests, and bridge replies and events into the frames the WebSDK expects. Runtime-free: the
 * socket, the bridge link, the balancer and the clock come in as `SessionDeps` (./contract.ts).
 * Frames are checked before they get here (./frame-check.ts), tokens are decided by the gate
 * (./session-tokens.ts), and the bridge link is kept by ./session-link.ts.
 *
 *   connection        -> getUserData                         (session ESTABLISHED)
 *   publishStream     -> (an edge, or an origin that is down) redirect + FAILED "Publish on origin ..."
 *                     -> publish lock (several origins) -> bridge publish -> setRemoteSDP
 *                                                             then PUBLISHING / FAILED from events
 *   playStream        -> (origin with load balancing) redirect + FAILED "Play from edge ..."
 *                     -> bridge play    -> setRemoteSDP       then PLAYING / STOPPED / FAILED
 *   setRemoteSDP      -> bridge answer                        (server-offer play flow)
 *   unPublishStream   -> bridge unpublish -> UNPUBLISHED;  stopStream -> bridge stop -> STOPPED
 *   ping / pong       -> pong / nothing; the server pings and closes sessions that stay silent
 *
 * Each stream is an entry with ONE state (see EntryState). The session names the bridge's id for
 * it (`ref`, newMediaId) when it admits it, before anything is asked, and indexes it by that id at
 * once: every reply and event carries the ref, so an event that beats its reply still finds its
 * entry, and nothing is parked. A stop before the reply ends the entry and tells the bridge by ref
 * (the bridge ends an in-flight publish or play too); a reply for an entry that ended is ignored.
 *
 * Links that move: a lost link does not end the streams the bridge was asked for. The session
 * re-opens it and re-binds them by ref (./relink.ts); the client sees nothing unless one ended
 * meanwhile (its status, as the bridge tells it) or the window passes (FAILED naming the bridge).
 * While it re-binds, new publishes and plays get a retryable FAILED at once, a client's answer
 * waits for the new link, and a stop ends the stream for the client at once (the bridge releases
 * it once re-bound).
 *
 * Over 500 lines on purpose: it is one state machine per stream (admit, place, gate, request,
 * answer, end), and each step reads and moves the same entry; the parts with a life of their own
 * (the link, the relink, the tokens, the frame checks, the entry states) are in files of their own.
 */
import { BRIDGE_RELINK_WINDOW_MS, CdnError, Errors, frames, newMediaId, silentLogger, type BridgeEvent, type ClientFrame, type ConnectionData, type ErrorCode, type Logger, type NodeInfo, type ServerFrame, type StreamStatus } from '../../protocol/index.ts';
import type * as v from 'valibot';
import type { TokenRequest } from '../auth/token.ts';
import { DEFAULT_LIMITS, MessageRate, type Limits } from '../limits/index.ts';
import { CLOSE_CODES, INFO, infoFor, namingNode, type BridgeLink, type EdgeRedirect, type PublishPlace, type SessionDeps, type SessionOptions } from './contract.ts';
import { binaryFrameInfo, checkFrame, streamOf, type FrameProblem } from './frame-check.ts';
import { stateOf, type StreamEntry } from './entry.ts';
import { Rebinder } from './relink.ts';
import { SessionLink } from './session-link.ts';
import { SessionTokens } from './session-tokens.ts';

export { CLOSE_CODES, INFO, infoFor, type BridgeHandlers, type BridgeLink, type EdgeRedirect, type PublishLock, type PublishPlace, type SessionDeps, type SessionOptions } from './contract.ts';

type Started = { sdp: string; awaitingAnswer: boolean };

export class WcsSession {
  readonly #deps: SessionDeps;
  readonly #opts: SessionOptions;
  readonly #log: Logger;
  readonly #limits: Limits;
  readonly #rate: MessageRate;
  readonly #tokens: SessionTokens;
  readonly #link: SessionLink;
  // Fixed for the session: only the Balancer's link gets `node` events (protocol/api.ts `nodes`),
  // and the fields a session uses (id, role) do not change.
  readonly #node: NodeInfo | undefined;
  #established = false;
  #closed = false;
  #lastSeen: number;
  /** The streams by the client's mediaSessionId, and by the bridge's id (`ref`). */
  readonly #streams = new Map<string, StreamEntry>();
  readonly #byRef = new Map<string, StreamEntry>();
  /** Re-opens a lost link and re-binds its streams (./relink.ts). */
  readonly #rebind: Rebinder;

  constructor(deps: SessionDeps, opts: SessionOptions) {
    this.#deps = deps;
    this.#opts = opts;
    this.#node = opts.node;
    this.#log = deps.log ?? silentLogger;
    this.#lastSeen = deps.now();
    this.#limits = { ...DEFAULT_LIMITS, ...opts.limits };
    this.#rate = new MessageRate(this.#limits.maxMessagesPerSecond, this.#lastSeen);
    this.#tokens = new SessionTokens(opts.auth, () => deps.now());
    this.#link = new SessionLink((handlers) => deps.openBridge(handlers), {
      onEvent: (event) => this.#onBridgeEvent(event),
      onLost: (reason) => this.#onBridgeLost(reason),
    });
    this.#rebind = new Rebinder({
      open: () => this.#link.get(),
      windowMs: opts.relinkWindowMs ?? BRIDGE_RELINK_WINDOW_MS,
      log: this.#log,
      end: (entry, status, info, code) => {
        this.#end(entry);
        this.#sendStatus(entry, status, code === undefined ? { info } : { info: namingNode(info, code, this.#node?.id), code });
      },
      release: (link, entry) => this.#release(link, entry),
      answer: (link, entry, sdp) => this.#sendAnswer(link, entry, sdp),
      gaveUp: () => this.#failSession('bridge', 'UNAVAILABLE', INFO.BRIDGE_LOST_SESSION),
    });
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
    if (!this.#heard()) return;
    const checked = checkFrame(text, this.#limits);
    if (!checked.ok) return this.#reject(checked);
    try {
      this.#dispatch(checked.frame);
    } catch (err) {
      this.#log.error('frame handler threw', { message: checked.frame.message, err });
      this.#failSession(checked.frame.message, 'INTERNAL', `internal error while handling "${checked.frame.message}"`);
    }
  }

  /** A binary frame from the client (refused: the API is JSON text). */
  handleBinary(byteLength: number | undefined): void {
    if (!this.#heard()) return;
    this.#failSession('frame', 'INVALID_ARGUMENT', binaryFrameInfo(byteLength));
  }

  /** The client's socket closed (or failed): the bridge link goes, and with it the session's streams. */
  handleClose(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#rebind.cancel();
    this.#link.close();
    for (const entry of [...this.#streams.values(), ...this.#byRef.values()]) {
      entry.state = 'ended';
      this.#unclaim(entry);
    }
    this.#streams.clear();
    this.#byRef.clear();
  }

  /** The ping timer: closes a silent session, otherwise pings it. */
  tick(): void {
    if (this.#closed) return;
    const silentMs = this.#deps.now() - this.#lastSeen;
    if (silentMs > this.#opts.pingTimeoutMs) {
      this.#log.info('closing a silent session', { session: this.#opts.sessionId, silentMs });
      this.#closeSocket(CLOSE_CODES.PING_TIMEOUT, `no answer to pings for ${Math.round(silentMs / 1000)} s`);
      return;
    }
    this.#send(frames.ping());
  }

  /** Counts a frame; false when the session is closed, or closes it now for flooding. */
  #heard(): boolean {
    if (this.#closed) return false;
    this.#lastSeen = this.#deps.now();
    if (this.#rate.take(this.#lastSeen)) return true;
    const limit = this.#limits.maxMessagesPerSecond;
    this.#log.warn('closing a session that floods', { session: this.#opts.sessionId, limit });
    this.#failSession('frame', 'RESOURCE_EXHAUSTED', `more than ${limit} messages per second; the session is closed`);
    this.#closeSocket(CLOSE_CODES.TOO_MANY_MESSAGES, 'too many messages');
    return false;
  }

  #closeSocket(code: number, reason: string): void {
    try {
      this.#deps.close(code, reason);
    } catch {
      // The socket is already gone; handleClose below is all that is left to do.
    }
    this.handleClose();
  }

  // ------------------------------------------------------------ client requests

  #dispatch(frame: ClientFrame): void {
    switch (frame.message) {
      case 'ping':
        return this.#send(frames.pong());
      case 'pong':
        return;
      case 'connection':
        return this.#connection(frame.data[0]);
    }
    if (!this.#established) {
      return this.#reject({ ok: false, apiMethod: frame.message, code: 'FAILED_PRECONDITION', info: INFO.SESSION_NOT_READY, stream: { message: frame.message, data0: frame.data[0] } });
    }
    switch (frame.message) {
      case 'publishStream':
        return this.#publish(frame.data[0]);
      case 'playStream':
        return this.#play(frame.data[0]);
      case 'unPublishStream':
        return this.#stop(frame.data[0].mediaSessionId, 'publish');
      case 'stopStream':
        return this.#stop(frame.data[0].mediaSessionId, 'play');
      case 'setRemoteSDP':
        return this.#answer(frame.data[0], frame.data[1]);
    }
  }

  #connection(d: v.InferOutput<typeof ConnectionData>): void {
    if (this.#established) {
      return this.#failSession('connection', 'FAILED_PRECONDITION', 'the session is already established; "connection" is sent once');
    }
    this.#established = true;
    const node = this.#node;
    this.#send(
      frames.userData({
        sessionId: this.#opts.sessionId,
        mediaProviders: ['WebRTC'],
        ...(typeof d.appKey === 'string' ? { appKey: d.appKey } : {}),
        ...(typeof d.clientVersion === 'string' ? { clientVersion: d.clientVersion } : {}),
        ...(typeof d.authToken === 'string' ? { authToken: d.authToken } : {}),
        ...(d.custom !== undefined && d.custom !== null ? { custom: d.custom } : {}),
        ...(node === undefined ? {} : { node: node.id, role: node.role }),
      }),
    );
    if (node === undefined) return;
    // Open the link now so the first publish or play does not pay for the handshake; with tokens
    // required, only for a valid token (a client without one never gets to the bridge).
    const prewarm = (): void => {
      this.#link.get().catch((err: unknown) => {
        // A session closed during the handshake is the expected race, not a problem worth a warning.
        if (!this.#closed) this.#log.warn('bridge link not available yet', { session: this.#opts.sessionId, err });
      });
    };
    if (!this.#tokens.required) return prewarm();
    void this.#tokens.connect(d).then((may) => {
      if (may && !this.#closed) prewarm();
    });
  }

  #publish(d: { mediaSessionId: string; name: string; sdp: string }): void {
    const entry = this.#admit(d.mediaSessionId, d.name, 'publish');
    const node = this.#node;
    if (entry === undefined) return;
    if (node === undefined) return this.#fail(entry, this.#opts.nodeError?.code ?? 'UNAVAILABLE', this.#nodeUnknownInfo());
    void this.#placed(entry, node).then((here) => {
      if (!here) return;
      // The token is checked again for the node it runs on.
      void this.#start(entry, { action: 'publish', stream: d.name, node: node.id }, async (link) => {
        const lock = this.#deps.publishLock;
        if (lock !== undefined) {
          await lock.claim(d.name, node.id, entry.ref);
          entry.claimed = true;
          // Stopped while the claim was out: the name goes back at once.
          if (stateOf(entry) === 'ended') {
            this.#unclaim(entry);
            throw Errors.closed('the publish');
          }
        }
        const result = await link.request('publish', { publishId: entry.ref, node: node.id, stream: d.name, sdp: d.sdp });
        return { sdp: result.sdp, awaitingAnswer: false };
      });
    });
  }

  /**
   * True when the publish runs on this session's node. Otherwise (an edge, or an origin that is
   * down) it is placed on another origin: the `redirect` extension, then FAILED naming the origin,
   * as a player asking the origin is sent to an edge.
   */
  async #placed(entry: StreamEntry, node: NodeInfo): Promise<boolean> {
    // A client without the right to publish learns nothing of where it would go.
    const pinned = await this.#permitted(entry, { action: 'publish', stream: entry.name });
    if (pinned === false) return false;
    let choice: PublishPlace;
    try {
      choice = await (pinned === undefined ? this.#deps.placePublish(entry.name, node) : this.#deps.placePublish(entry.name, node, pinned));
    } catch (err) {
      const e = CdnError.from(err);
      choice = { here: false, ok: false, code: e.code, reason: e.message };
    }
    if (entry.state !== 'admitted') return false;
    if (choice.here) return true;
    if (!choice.ok && choice.code === 'PERMISSION_DENIED') {
      // The token names a node that cannot take it: a token refusal like any other.
      this.#end(entry);
      this.#sendStatus(entry, 'FAILED', { info: INFO.RESTRICTED_ACCESS, code: choice.code, reason: choice.reason });
      return false;
    }
    if (!choice.ok) {
      this.#fail(entry, choice.code, `No origin can take "${entry.name}": ${choice.reason}`);
      return false;
    }
    const { node: to, url, server, ws, wss } = choice;
    this.#send(frames.redirect({ mediaSessionId: entry.mediaSessionId, name: entry.name, node: to.id, url, server, ws, wss }));
    this.#end(entry);
    this.#sendStatus(entry, 'FAILED', { info: `Publish on origin ${to.id}: ${url}` });
    return false;
  }

  #play(d: { mediaSessionId: string; name: string; sdp?: string | null | undefined }): void {
    const entry = this.#admit(d.mediaSessionId, d.name, 'play');
    const node = this.#node;
    if (entry === undefined) return;
    if (node === undefined) return this.#fail(entry, this.#opts.nodeError?.code ?? 'UNAVAILABLE', this.#nodeUnknownInfo());
    if (node.role === 'origin' && this.#opts.loadBalancing) return void this.#redirect(entry);
    const offer = d.sdp ?? undefined;
    void this.#start(entry, { action: 'play', stream: d.name, node: node.id }, async (link) => {
      const params = { playId: entry.ref, node: node.id, stream: d.name };
      const result = await link.request('play', offer === undefined ? params : { ...params, sdp: offer });
      const expected = offer === undefined ? 'offer' : 'answer';
      if (result.type !== expected) {
        this.#release(link, entry);
        throw Errors.internal(`the bridge answered a ${offer === undefined ? 'server-offer' : 'client-offer'} play with an ${result.type}`);
      }
      return { sdp: result.sdp, awaitingAnswer: result.type === 'offer' };
    });
  }

  /** The origin sends a player to an edge: the `redirect` extension, then FAILED naming the edge. */
  async #redirect(entry: StreamEntry): Promise<void> {
    // The node does not matter here (the edge checks it); a token that names one pins the choice.
    const pinned = await this.#permitted(entry, { action: 'play', stream: entry.name });
    if (pinned === false) return;
    let choice: EdgeRedirect;
    try {
      choice = await (pinned === undefined ? this.#deps.chooseEdge(entry.name) : this.#deps.chooseEdge(entry.name, pinned));
    } catch (err) {
      const e = CdnError.from(err);
      choice = { ok: false, code: e.code, reason: e.message };
    }
    if (entry.state !== 'admitted') return;
    if (!choice.ok) return this.#fail(entry, choice.code, `No edge can play "${entry.name}": ${choice.reason}`);
    const { node, url, server, ws, wss } = choice;
    this.#send(frames.redirect({ mediaSessionId: entry.mediaSessionId, name: entry.name, node: node.id, url, server, ws, wss }));
    this.#end(entry);
    this.#sendStatus(entry, 'FAILED', { info: `Play from edge ${node.id}: ${url}` });
  }

  /** Asks the bridge for a publish or play (`ask`, under entry.ref) once the token and the link allow it. */
  async #start(entry: StreamEntry, want: TokenRequest, ask: (link: BridgeLink) => Promise<Started>): Promise<void> {
    if ((await this.#permitted(entry, want)) === false) return;
    let started: Started;
    try {
      const link = await this.#linkForRequest();
      if (entry.state !== 'admitted') return;
      entry.state = 'requested';
      started = await ask(link);
    } catch (err) {
      if (stateOf(entry) === 'ended') return;
      const e = CdnError.from(err);
      // WCS's info for a name in use says nothing of where: the reason does (which origin holds it).
      return this.#failOnNode(entry, e.code, infoFor(e, entry.kind), e.code === 'ALREADY_EXISTS' ? e.message : undefined);
    }
    // Ended meanwhile (a stop, a FAILED event, the link lost): the bridge has ended it too.
    const now = stateOf(entry);
    if (now === 'ended') return;
    const upEarly = now === 'up-early';
    entry.state = started.awaitingAnswer ? 'awaiting-answer' : 'running';
    this.#send(frames.remoteSdp(entry.mediaSessionId, started.sdp));
    if (upEarly) {
      if (entry.state === 'running') entry.state = 'up';
      this.#sendStatus(entry, entry.kind === 'publish' ? 'PUBLISHING' : 'PLAYING');
    }
  }

  #answer(mediaSessionId: string, sdp: string): void {
    const entry = this.#streams.get(mediaSessionId);
    if (entry === undefined || entry.kind !== 'play' || entry.state !== 'awaiting-answer') {
      return this.#failSession('setRemoteSDP', 'FAILED_PRECONDITION', `no stream is waiting for an answer with mediaSessionId "${mediaSessionId}"`);
    }
    entry.state = 'running';
    if (this.#rebind.active) return this.#rebind.holdAnswer(entry.ref, sdp);
    const link = this.#link.current;
    if (link === undefined) return this.#failOnNode(entry, 'UNAVAILABLE', INFO.BRIDGE_LOST);
    this.#sendAnswer(link, entry, sdp);
  }

  #sendAnswer(link: BridgeLink, entry: StreamEntry, sdp: string): void {
    link.request('answer', { playId: entry.ref, sdp }).catch((err: unknown) => {
      if (entry.state === 'ended') return;
      // Lost with its link: it goes again on the re-bound one.
      if (this.#rebind.active && link.closed) return this.#rebind.holdAnswer(entry.ref, sdp);
      const e = CdnError.from(err);
      this.#failOnNode(entry, e.code, infoFor(e, 'play'));
      this.#release(link, entry);
    });
  }

  #stop(mediaSessionId: string, kind: 'publish' | 'play'): void {
    const entry = this.#streams.get(mediaSessionId);
    if (entry === undefined || entry.kind !== kind) {
      const message = kind === 'publish' ? 'unPublishStream' : 'stopStream';
      return this.#failSession(message, 'NOT_FOUND', `no ${kind === 'publish' ? 'published' : 'playing'} stream with mediaSessionId "${mediaSessionId}" on this session`);
    }
    const asked = entry.state !== 'admitted';
    this.#end(entry);
    const done = kind === 'publish' ? 'UNPUBLISHED' : 'STOPPED';
    const link = this.#link.current;
    // Nothing asked yet; or the link is gone; or it is being re-bound, and a re-bound ref without
    // its stream is released then (./relink.ts).
    if (!asked || link === undefined || this.#rebind.active) return this.#sendStatus(entry, done);
    const request = kind === 'publish' ? link.request('unpublish', { publishId: entry.ref }) : link.request('stop', { playId: entry.ref });
    request.then(
      () => this.#sendStatus(entry, done),
      (err: unknown) => {
        const e = CdnError.from(err);
        if (e.code !== 'NOT_FOUND') this.#log.warn(`bridge ${kind === 'publish' ? 'unpublish' : 'stop'} failed`, { err: e });
        // The client is done with the stream either way; the bridge drops what is left when the link closes.
        this.#sendStatus(entry, done);
      },
    );
  }

  // ------------------------------------------------------------ bridge events

  #onBridgeEvent(event: BridgeEvent): void {
    if (this.#closed || (event.event !== 'publisher' && event.event !== 'player')) return;
    const entry = this.#byRef.get(event.event === 'publisher' ? event.publishId : event.playId);
    if (entry === undefined || (event.event === 'publisher') !== (entry.kind === 'publish')) return;
    const info = event.info === undefined ? {} : { info: event.info };
    switch (event.status) {
      case 'PUBLISHING':
      case 'PLAYING':
        if (entry.state === 'requested') entry.state = 'up-early';
        else if (entry.state === 'running') {
          entry.state = 'up';
          this.#sendStatus(entry, event.status, info);
        } else if (entry.state === 'awaiting-answer') this.#sendStatus(entry, event.status, info);
        return;
      case 'UNPUBLISHED':
      case 'STOPPED':
        this.#end(entry);
        return this.#sendStatus(entry, event.status, info);
      case 'FAILED':
        this.#end(entry);
        return this.#sendStatus(entry, 'FAILED', { info: event.info ?? INFO.FAILED_BY_ERROR });
    }
  }

  /** The link is gone (not by the session's close): re-bind what the bridge was asked for. */
  #onBridgeLost(reason: CdnError): void {
    // A relink's own attempts come and go: it retries them itself.
    if (this.#closed || this.#rebind.active) return;
    const asked = [...this.#byRef.values()].filter((e) => e.state !== 'admitted');
    this.#log.warn('bridge link lost', { session: this.#opts.sessionId, streams: asked.length, err: reason });
    // A request whose reply went with the link cannot go on (its SDP never came): it fails now, and
    // the bridge releases it once re-bound, or after its grace.
    for (const entry of asked) if (entry.state === 'requested' || entry.state === 'up-early') this.#failOnNode(entry, 'UNAVAILABLE', INFO.BRIDGE_LOST);
    // Nothing live on the link: the next request opens a new one, as the first did.
    if (asked.some((e) => e.state !== 'ended')) this.#rebind.start(asked, reason);
  }

  // ------------------------------------------------------------ helpers

  /** Registers a new stream under a fresh ref, or answers why it cannot be (duplicate id, too many streams). */
  #admit(mediaSessionId: string, name: string, kind: 'publish' | 'play'): StreamEntry | undefined {
    if (this.#streams.has(mediaSessionId)) {
      // Not a FAILED for that id: the SDK would tear down the stream that already uses it.
      this.#failSession(kind === 'publish' ? 'publishStream' : 'playStream', 'ALREADY_EXISTS', `${INFO.MEDIA_SESSION_ID_IN_USE}: "${mediaSessionId}" (stream "${name}")`);
      return undefined;
    }
    const entry: StreamEntry = { mediaSessionId, name, kind, ref: newMediaId(kind === 'publish' ? 'pub' : 'play'), state: 'admitted' };
    const max = this.#opts.maxStreams ?? this.#limits.maxStreamsPerSession;
    if (this.#streams.size >= max) {
      this.#sendStatus(entry, 'FAILED', { info: `Too many streams on one session (the limit is ${max})`, code: 'RESOURCE_EXHAUSTED' });
      return undefined;
    }
    this.#streams.set(mediaSessionId, entry);
    this.#byRef.set(entry.ref, entry);
    return entry;
  }

  /**
   * The token gate for a stream about to start: the node the token pins players to (or undefined)
   * when it may go on; false when it may not (it FAILED with "Restricted access") or it ended meanwhile.
   */
  async #permitted(entry: StreamEntry, want: TokenRequest): Promise<string | undefined | false> {
    if (!this.#tokens.required) return undefined;
    const verdict = await this.#tokens.admit(want);
    if (entry.state !== 'admitted') return false;
    if (verdict.ok) return verdict.pinnedNode;
    const { code, reason } = verdict.denial;
    this.#log.info('stream refused', { session: this.#opts.sessionId, stream: entry.name, kind: entry.kind, code, reason });
    this.#end(entry);
    this.#sendStatus(entry, 'FAILED', { info: INFO.RESTRICTED_ACCESS, code, reason });
    return false;
  }

  /** Ends a stream: it leaves the session, and later replies and events about it are ignored. */
  #end(entry: StreamEntry): void {
    entry.state = 'ended';
    this.#unclaim(entry);
    if (this.#streams.get(entry.mediaSessionId) === entry) this.#streams.delete(entry.mediaSessionId);
    if (this.#byRef.get(entry.ref) === entry) this.#byRef.delete(entry.ref);
  }

  /** A publish that held its name frees it (once). */
  #unclaim(entry: StreamEntry): void {
    if (entry.claimed !== true) return;
    entry.claimed = false;
    this.#deps.publishLock?.release(entry.name, entry.ref);
  }

  #fail(entry: StreamEntry, code: ErrorCode, info: string, reason?: string): void {
    this.#end(entry);
    this.#sendStatus(entry, 'FAILED', { info, code, ...(reason === undefined ? {} : { reason }) });
  }

  /** A FAILED from this node's agent (or the link to it): a retryable one names the node. */
  #failOnNode(entry: StreamEntry, code: ErrorCode, info: string, reason?: string): void {
    this.#fail(entry, code, namingNode(info, code, this.#node?.id), reason);
  }

  /**
   * The link for a new publish or play. While a lost link is being re-bound there is none: a
   * retryable FAILED naming the bridge at once, rather than a wait the client cannot see.
   */
  #linkForRequest(): Promise<BridgeLink> {
    const why = this.#rebind.reason;
    if (why === undefined) return this.#link.get();
    return Promise.reject(Errors.bridgeUnavailable(`${why.message}; the link is being re-established`));
  }

  /** Tells the bridge to end what it made for `entry` (best effort: a closing link releases it anyway). */
  #release(link: BridgeLink, entry: StreamEntry): void {
    const request = entry.kind === 'publish' ? link.request('unpublish', { publishId: entry.ref }) : link.request('stop', { playId: entry.ref });
    request.catch((err: unknown) => this.#log.debug('release failed', { err }));
  }

  #sendStatus(entry: StreamEntry, status: StreamStatus, extra: { info?: string; code?: ErrorCode; reason?: string } = {}): void {
    this.#send(frames.status({ mediaSessionId: entry.mediaSessionId, name: entry.name, published: entry.kind === 'publish', status, ...extra }));
  }

  /** A session-level `fail` frame: the session stays usable. */
  #failSession(apiMethod: string, code: ErrorCode, info: string): void {
    this.#send(frames.fail({ apiMethod, code, info }));
  }

  /**
   * A frame that cannot be served. When it starts a stream under a new, well-formed mediaSessionId,
   * that stream is failed (so the SDK releases it); otherwise the session gets a `fail`.
   */
  #reject(problem: FrameProblem): void {
    const { apiMethod, code, info } = problem;
    const stream = streamOf(problem);
    if (stream !== undefined && !this.#streams.has(stream.id)) {
      return this.#send(frames.fail({ apiMethod: 'StreamStatusEvent', id: stream.id, mediaSessionId: stream.id, name: stream.name, status: 'FAILED', info, code }));
    }
    this.#failSession(apiMethod, code, info);
  }

  #nodeUnknownInfo(): string {
    const e = this.#opts.nodeError;
    return `${INFO.FAILED_BY_ERROR}: ${e === undefined ? 'the node is not known' : e.message}`;
  }

  #send(frame: ServerFrame): void {
    if (this.#closed) return;
    try {
      this.#deps.send(frame);
    } catch (err) {
      this.#log.debug('send to a closing client failed', { err });
    }
  }
}
