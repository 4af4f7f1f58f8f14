/**
 * A stream: one published or played WebRTC stream of a session. Publishing offers to the server
 * (sendonly, ICE gathered fully) and follows a `redirect` to the origin the CDN places it on;
 * playing asks with `playStream`, follows the origin's `redirect` to an edge, and answers the
 * server's offer. Statuses arrive as typed events.
 *
 * Over 500 lines on purpose: a stream's publish and play paths share one state machine (statuses,
 * the redirect, replay/republish on failure, the bandwidth monitor's NOT_ENOUGH_BANDWIDTH), and
 * splitting them would put one entity's lifecycle in two files. The retry policy itself (options,
 * what is retryable, counting, waiting) is in retry.ts.
 */
import { LossWindow, lossCounters, type BandwidthMonitorOptions, type BandwidthReport } from './bandwidth.ts';
import { nodeUrl } from './balancer.ts';
import type { WcsConnection } from './connection.ts';
import { FINAL_STREAM_STATUSES, STREAM_STATUS, type StreamStatus } from './constants.ts';
import { Emitter, type Listener } from './emitter.ts';
import {
  cacheMedia,
  iceGatheringComplete,
  preferCodec,
  removeVideo,
  startPlayback,
  takeCachedMedia,
  videoIn,
  type MediaEnvironment,
} from './media.ts';
import type { ClientFrame, RedirectFrame, StatusFrame } from './protocol.ts';
import { Retries, retryableFailure, retryOptions, type ReplayOptions } from './retry.ts';
import { uuid } from './uuid.ts';
import { errorText } from '../protocol/errors.ts';

/** Options of `session.createStream()`. */
export interface StreamOptions {
  /** The stream's name on the server. */
  name: string;
  /** Where the SDK puts its `<video>` element (the local preview, or the played stream). */
  display?: HTMLElement | null;
  /** Publishing: what to capture. Default `{ audio: true, video: true }`. */
  constraints?: MediaStreamConstraints;
  /** Playing: receive audio. Default true. */
  receiveAudio?: boolean;
  /** Playing: receive video. Default true. */
  receiveVideo?: boolean;
  /**
   * Keep the video element (and, when publishing, the camera) after the stream ends; a later
   * publish into the same display reuses the camera. Default false.
   */
  cacheLocalResources?: boolean;
  /** Publishing: offer only this video codec, e.g. "VP8" or "H264" (a Fanout extension). */
  codec?: string;
  /** Free-form data passed to the server with the request. */
  custom?: Record<string, unknown>;
  /** Loss detection for NOT_ENOUGH_BANDWIDTH; `false` turns it off. */
  bandwidthMonitor?: BandwidthMonitorOptions | false;
  /**
   * Playing: when the stream fails after it played (its edge went down, the connection to the edge
   * broke, ICE failed), ask the session's server again instead of ending: through an origin with
   * load balancing that is another, healthy edge. The stream goes back to PENDING (`getInfo()` says
   * why) and on to PLAYING; FAILED only when every attempt failed. A stream that ended (STOPPED) or
   * that the server no longer has is not replayed. Default false (off).
   *
   * @example
   * session.createStream({ name: 'cam1', display: player, replayOnFailure: { attempts: 5, delayMs: 1000 } }).play();
   */
  replayOnFailure?: boolean | ReplayOptions;
  /**
   * Publishing: when the stream fails after it published (its origin went down, the connection to
   * it broke, ICE failed, the server reported FAILED), publish the same captured media again
   * through the session's server, which places it on an up origin (the SDK follows its redirect).
   * The camera is not asked for again. The stream goes back to PENDING (`getInfo()` says why) and
   * on to PUBLISHING; FAILED only when every attempt failed, with the last reason. `stop()` while
   * it waits ends it (UNPUBLISHED). A stream that ended (UNPUBLISHED) or that the server no longer
   * has is not republished. Same options and counting as `replayOnFailure`. Default false (off).
   *
   * @example
   * session.createStream({ name: 'cam1', display: preview, republishOnFailure: true })
   *   .on(STREAM_STATUS.PENDING, (s) => console.warn(s.getInfo())) // later ones: "republishing (attempt 1 of 3) after: ..."
   *   .on(STREAM_STATUS.PUBLISHING, (s) => console.log('live on', s.getServerUrl()))
   *   .publish();
   */
  republishOnFailure?: boolean | ReplayOptions;
}

/**
 * What each stream event passes to its listeners: the stream first, then the event's detail.
 * FAILED carries the reason; NOT_ENOUGH_BANDWIDTH the loss figures.
 */
export type StreamEventMap = {
  PENDING: [stream: Stream];
  PUBLISHING: [stream: Stream];
  PLAYING: [stream: Stream];
  UNPUBLISHED: [stream: Stream];
  STOPPED: [stream: Stream];
  FAILED: [stream: Stream, info: string];
  NOT_ENOUGH_BANDWIDTH: [stream: Stream, report: BandwidthReport];
};

/** What a stream needs from its session. Internal. */
export interface StreamHost {
  readonly iceServers: RTCIceServer[];
  readonly media: MediaEnvironment;
  readonly iceGatheringTimeoutMs: number;
  readonly requestTimeoutMs: number;
  /** The session's own connection when established. */
  main(): WcsConnection | undefined;
  /** Frames for `id` on `conn` go to `sink` until `unroute`. */
  route(conn: WcsConnection, id: string, sink: StreamSink): void;
  unroute(conn: WcsConnection, id: string): void;
  /** An established connection to `url` (an edge, or the origin a publish is placed on), shared and counted. */
  acquire(url: string): Promise<WcsConnection>;
  /** One user fewer of a connection from `acquire`; the last one closes it. */
  release(conn: WcsConnection): void;
  forget(stream: Stream): void;
}

/** What a session delivers to a stream. Internal. */
export interface StreamSink {
  remoteSdp(sdp: string): void;
  status(event: StatusFrame): void;
  redirect(event: RedirectFrame, from: WcsConnection): void;
  fail(info: string): void;
  /** The connection under the stream is gone: `clean` after `session.disconnect()`. */
  lost(info: string, clean: boolean): void;
}

const MAX_REDIRECTS = 3;

/**
 * A published or played stream. Create it with `session.createStream()`.
 *
 * @example
 * const stream = session.createStream({ name: 'cam1', display: document.getElementById('local')! });
 * stream.on(STREAM_STATUS.PUBLISHING, (s) => console.log(s.name(), 'is live'))
 *       .on(STREAM_STATUS.FAILED, (s, info) => console.error(info))
 *       .publish();
 */
export class Stream {
  readonly #id = uuid();
  readonly #opts: StreamOptions;
  readonly #host: StreamHost;
  readonly #events = new Emitter<StreamEventMap>();
  #published = false;
  #status: StreamStatus = STREAM_STATUS.NEW;
  #info: string | undefined;
  /** The connection the stream is routed on, and whether it came from `host.acquire`. */
  #conn: { c: WcsConnection; acquired: boolean } | undefined;
  #pc: RTCPeerConnection | undefined;
  #local: MediaStream | undefined;
  #remote: MediaStream | undefined;
  #redirects = 0;
  /** PLAYING or PUBLISHING was reached at least once (only a stream that was live is retried). */
  #live = false;
  /** replayOnFailure / republishOnFailure, set by `publish()` / `play()`. */
  #retries = new Retries(undefined);
  /** The request is on the wire: `stop()` must tell the server. */
  #requested = false;
  #stopTimer: ReturnType<typeof setTimeout> | undefined;
  #pendingTimer: ReturnType<typeof setTimeout> | undefined;
  #monitor: ReturnType<typeof setInterval> | undefined;
  readonly #sink: StreamSink;

  /** @internal Use `session.createStream()`. */
  constructor(host: StreamHost, opts: StreamOptions) {
    this.#host = host;
    this.#opts = opts;
    this.#sink = {
      remoteSdp: (sdp) => void this.#onRemoteSdp(sdp),
      status: (ev) => this.#onStatus(ev),
      redirect: (ev, from) => void this.#onRedirect(ev, from),
      fail: (info) => this.#failed(info),
      lost: (info, clean) => {
        if (this.#final()) return;
        if (clean) this.#finish(this.#published ? STREAM_STATUS.UNPUBLISHED : STREAM_STATUS.STOPPED, info);
        else this.#failed(info);
      },
    };
  }

  /**
   * Listens to a status event; returns the stream so calls chain.
   *
   * @example
   * stream.on(STREAM_STATUS.PLAYING, () => show('playing'))
   *       .on(STREAM_STATUS.NOT_ENOUGH_BANDWIDTH, (s, r) => show(`${r.lossPercent}% lost`));
   */
  on<E extends keyof StreamEventMap>(event: E, listener: Listener<StreamEventMap[E]>): this {
    this.#events.on(event, listener);
    return this;
  }

  /**
   * Stops listening.
   *
   * @example
   * stream.off(STREAM_STATUS.PLAYING, onPlaying);
   */
  off<E extends keyof StreamEventMap>(event: E, listener: Listener<StreamEventMap[E]>): this {
    this.#events.off(event, listener);
    return this;
  }

  /**
   * The stream's media session id (a UUID), as the server knows it.
   *
   * @example
   * console.log(stream.id());
   */
  id(): string {
    return this.#id;
  }

  /**
   * The stream name.
   *
   * @example
   * title.textContent = stream.name();
   */
  name(): string {
    return this.#opts.name;
  }

  /**
   * The current status: NEW, PENDING, PUBLISHING, PLAYING, UNPUBLISHED, STOPPED or FAILED.
   *
   * @example
   * if (stream.status() === STREAM_STATUS.PLAYING) stream.stop();
   */
  status(): StreamStatus {
    return this.#status;
  }

  /**
   * The server's (or the SDK's) explanation of the last status, e.g. why it FAILED.
   *
   * @example
   * stream.on(STREAM_STATUS.FAILED, (s) => alert(s.getInfo()));
   */
  getInfo(): string | undefined {
    return this.#info;
  }

  /**
   * True for a stream being published, false for one being played.
   *
   * @example
   * const verb = stream.published() ? 'publishing' : 'playing';
   */
  published(): boolean {
    return this.#published;
  }

  /**
   * The WebSocket URL of the node the stream is on: for a played stream, the edge the origin
   * redirected it to.
   *
   * @example
   * stream.on(STREAM_STATUS.PLAYING, (s) => console.log('playing from', s.getServerUrl()));
   */
  getServerUrl(): string | undefined {
    return this.#conn?.c.url;
  }

  /**
   * The peer connection's statistics, or undefined when there is no media yet.
   *
   * @example
   * const stats = await stream.getStats();
   * stats?.forEach((s) => s.type === 'inbound-rtp' && console.log(s.kind, s.framesDecoded));
   */
  async getStats(): Promise<RTCStatsReport | undefined> {
    return this.#pc?.getStats();
  }

  /**
   * The SDK's video element in `display`, if there is one.
   *
   * @example
   * stream.getVideoElement()?.requestFullscreen();
   */
  getVideoElement(): HTMLVideoElement | undefined {
    return this.#opts.display?.querySelector<HTMLVideoElement>('video.fanout-video') ?? undefined;
  }

  /**
   * Publishes the camera and microphone (`constraints`) under `name`. Status: PENDING, then
   * PUBLISHING, or FAILED with the reason. Throws if the stream was already used or the session is
   * not established.
   *
   * @example
   * session.createStream({ name: 'cam1', display: preview, codec: 'H264' })
   *   .on(STREAM_STATUS.PUBLISHING, () => console.log('live'))
   *   .publish();
   */
  publish(): this {
    this.#begin(true);
    void this.#publish();
    return this;
  }

  /**
   * Plays `name` into `display`. Through an origin with load balancing, the SDK follows the
   * redirect to an edge by itself. Status: PENDING, then PLAYING, or FAILED with the reason.
   * Throws if the stream was already used or the session is not established.
   *
   * @example
   * session.createStream({ name: 'cam1', display: player })
   *   .on(STREAM_STATUS.PLAYING, (s) => console.log('from', s.getServerUrl()))
   *   .on(STREAM_STATUS.STOPPED, () => console.log('ended'))
   *   .play();
   */
  play(): this {
    this.#begin(false);
    const conn = this.#host.main();
    if (conn === undefined) throw new Error('Fanout: the session is not established');
    this.#attach(conn, false);
    this.#sendRequest();
    return this;
  }

  /**
   * Stops publishing (UNPUBLISHED) or playing (STOPPED) and releases the media. Safe to call more
   * than once; does nothing before `publish()`/`play()` or after the stream ended.
   *
   * @example
   * stopButton.onclick = () => stream.stop();
   */
  stop(): void {
    if (this.#status === STREAM_STATUS.NEW || this.#final() || this.#stopTimer !== undefined) return;
    const ended = this.#published ? STREAM_STATUS.UNPUBLISHED : STREAM_STATUS.STOPPED;
    const conn = this.#conn?.c;
    if (!this.#requested || conn === undefined || !conn.established) {
      // Nothing on the server yet (still capturing, gathering or following a redirect).
      this.#finish(ended, 'stopped');
      return;
    }
    const sent = this.#published
      ? conn.send({ message: 'unPublishStream', data: [{ mediaSessionId: this.#id, name: this.#opts.name, published: true }] })
      : conn.send({ message: 'stopStream', data: [{ mediaSessionId: this.#id, name: this.#opts.name, published: false }] });
    if (!sent) {
      this.#finish(ended, 'stopped');
      return;
    }
    // The server confirms with UNPUBLISHED / STOPPED; do not hang on a server that does not.
    this.#stopTimer = setTimeout(() => this.#finish(ended, 'stopped (the server did not confirm)'), this.#host.requestTimeoutMs);
  }

  /** @internal The session's handle on this stream. */
  sink(): StreamSink {
    return this.#sink;
  }

  // ---------------------------------------------------------------- internals

  #final(): boolean {
    return FINAL_STREAM_STATUSES.has(this.#status);
  }

  #begin(published: boolean): void {
    if (this.#status !== STREAM_STATUS.NEW) throw new Error(`Fanout: stream "${this.#opts.name}" was already ${this.#published ? 'published' : 'played'}`);
    if (this.#host.main() === undefined) throw new Error('Fanout: the session is not established');
    this.#published = published;
    this.#retries = new Retries(retryOptions(published ? this.#opts.republishOnFailure : this.#opts.replayOnFailure));
    this.#setStatus(STREAM_STATUS.PENDING, undefined);
    this.#armPendingTimer();
  }

  /** A request left PENDING for too long fails (or, for a replay, tries again). */
  #armPendingTimer(): void {
    clearTimeout(this.#pendingTimer);
    this.#pendingTimer = setTimeout(() => {
      if (this.#status === STREAM_STATUS.PENDING) {
        this.#tellServerStop();
        this.#failed(`no answer from the server within ${this.#host.requestTimeoutMs} ms`);
      }
    }, this.#host.requestTimeoutMs + this.#host.iceGatheringTimeoutMs);
  }

  #attach(conn: WcsConnection, acquired: boolean): void {
    this.#conn = { c: conn, acquired };
    this.#host.route(conn, this.#id, this.#sink);
  }

  #detach(): void {
    const at = this.#conn;
    if (at === undefined) return;
    this.#conn = undefined;
    this.#host.unroute(at.c, this.#id);
    if (at.acquired) this.#host.release(at.c);
  }

  #sendRequest(sdp?: string): void {
    const conn = this.#conn?.c;
    const frame = {
      mediaSessionId: this.#id,
      name: this.#opts.name,
      published: this.#published,
      hasVideo: this.#published ? (this.#local?.getVideoTracks().length ?? 0) > 0 : this.#opts.receiveVideo !== false,
      hasAudio: this.#published ? (this.#local?.getAudioTracks().length ?? 0) > 0 : this.#opts.receiveAudio !== false,
      status: 'PENDING' as const,
      record: false,
      mediaProvider: 'WebRTC' as const,
      ...(this.#opts.custom === undefined ? {} : { custom: this.#opts.custom }),
    };
    // A publisher always offers; a player offers, or (Fanout's server-offer flow) asks for an offer.
    let request: ClientFrame;
    if (!this.#published) request = { message: 'playStream', data: [sdp === undefined ? frame : { ...frame, sdp }] };
    else if (sdp !== undefined) request = { message: 'publishStream', data: [{ ...frame, sdp }] };
    else {
      this.#failed('no local description');
      return;
    }
    const sent = conn?.send(request) ?? false;
    if (!sent) {
      this.#failed('the connection to the server is closed');
      return;
    }
    this.#requested = true;
  }

  async #publish(): Promise<void> {
    const display = this.#opts.display ?? undefined;
    try {
      let local = display === undefined || this.#opts.cacheLocalResources !== true ? undefined : takeCachedMedia(display);
      if (local === undefined) {
        try {
          local = await this.#host.media.getUserMedia(this.#opts.constraints ?? { audio: true, video: true });
        } catch (err) {
          this.#failed(`cannot capture the camera or microphone: ${describe(err)}`);
          return;
        }
      }
      this.#local = local;
      if (this.#final()) {
        this.#releaseLocal();
        return;
      }
      if (display !== undefined) {
        const video = videoIn(display, true);
        video.srcObject = local;
        void startPlayback(video);
      }
      await this.#publishOnMain();
    } catch (err) {
      this.#failed(`cannot create the offer: ${describe(err)}`);
    }
  }

  /** Offers the captured media on the session's own connection: the first publish, or a republish. */
  async #publishOnMain(): Promise<void> {
    const sdp = await this.#localOffer();
    if (sdp === undefined || this.#final()) return;
    const main = this.#host.main();
    if (main === undefined) {
      this.#failed('the session is closed');
      return;
    }
    this.#attach(main, false);
    this.#sendRequest(sdp);
  }

  /**
   * The publish's offer: the current peer connection's while no server has answered it (a redirect
   * sends the same offer on), else a new peer connection's over the captured tracks (a republish;
   * the camera is not asked again). Undefined when it failed (reported) or the attempt is over.
   */
  async #localOffer(): Promise<string | undefined> {
    const current = this.#pc;
    if (current?.signalingState === 'have-local-offer' && current.localDescription !== null) return current.localDescription.sdp;
    current?.close();
    const local = this.#local;
    if (local === undefined) return undefined;
    try {
      const pc = this.#newPeerConnection();
      for (const track of local.getTracks()) {
        const t = pc.addTransceiver(track, { direction: 'sendonly', streams: [local] });
        if (track.kind === 'video' && this.#opts.codec !== undefined) {
          const prefs = preferCodec(this.#host.media.videoCapabilities() ?? [], this.#opts.codec);
          if (prefs === undefined) {
            this.#failed(`this browser cannot send the ${this.#opts.codec} codec`, false);
            return undefined;
          }
          t.setCodecPreferences(prefs);
        }
      }
      await pc.setLocalDescription(await pc.createOffer());
      await iceGatheringComplete(pc, this.#host.iceGatheringTimeoutMs);
      if (this.#final() || pc !== this.#pc) return undefined;
      const sdp = pc.localDescription?.sdp;
      if (sdp === undefined) this.#failed('no local description');
      return sdp;
    } catch (err) {
      this.#failed(`cannot create the offer: ${describe(err)}`);
      return undefined;
    }
  }

  #newPeerConnection(): RTCPeerConnection {
    const pc = this.#host.media.createPeerConnection({ iceServers: this.#host.iceServers, bundlePolicy: 'max-bundle' });
    this.#pc = pc;
    pc.addEventListener('connectionstatechange', () => {
      if (pc === this.#pc && pc.connectionState === 'failed' && !this.#final()) {
        this.#tellServerStop();
        this.#failed('Failed by ICE/DTLS: the media connection to the server broke');
      }
    });
    return pc;
  }

  async #onRemoteSdp(sdp: string): Promise<void> {
    if (this.#final()) return;
    try {
      if (this.#published) {
        const pc = this.#pc;
        if (pc === undefined || pc.signalingState !== 'have-local-offer') return;
        await pc.setRemoteDescription({ type: 'answer', sdp });
        return;
      }
      // Playing: the server offers, the SDK answers.
      const pc = this.#pc ?? this.#newPlayerConnection();
      await pc.setRemoteDescription({ type: 'offer', sdp });
      for (const t of pc.getTransceivers()) {
        const kind = t.receiver.track.kind;
        const wanted = kind === 'video' ? this.#opts.receiveVideo !== false : kind === 'audio' ? this.#opts.receiveAudio !== false : true;
        t.direction = wanted ? 'recvonly' : 'inactive';
      }
      await pc.setLocalDescription(await pc.createAnswer());
      await iceGatheringComplete(pc, this.#host.iceGatheringTimeoutMs);
      const answer = pc.localDescription?.sdp;
      if (this.#final() || answer === undefined) return;
      if (this.#conn?.c.send({ message: 'setRemoteSDP', data: [this.#id, answer] }) !== true) {
        this.#failed('the connection to the server is closed');
      }
    } catch (err) {
      this.#tellServerStop();
      this.#failed(`the server's session description was refused: ${describe(err)}`);
    }
  }

  #newPlayerConnection(): RTCPeerConnection {
    const pc = this.#newPeerConnection();
    const display = this.#opts.display ?? undefined;
    pc.addEventListener('track', (ev) => {
      const remote = ev.streams[0] ?? (this.#remote ??= new MediaStream());
      if (ev.streams[0] === undefined) remote.addTrack(ev.track);
      this.#remote = remote;
      if (display === undefined) return;
      const video = videoIn(display, false);
      if (video.srcObject !== remote) {
        video.srcObject = remote;
        void startPlayback(video);
      }
    });
    return pc;
  }

  /** The server sends the stream elsewhere: a play to an edge, a publish to the origin it is placed on. */
  async #onRedirect(ev: RedirectFrame, from: WcsConnection): Promise<void> {
    if (this.#final()) return;
    const url = nodeUrl(from.url, ev);
    if (url === undefined) {
      this.#failed('the server redirected the stream to an unusable address');
      return;
    }
    if (++this.#redirects > MAX_REDIRECTS) {
      this.#failed(`too many redirects (last to ${url})`);
      return;
    }
    // Leave the server first: its FAILED for this stream (for clients that do not follow
    // redirects) must not reach the user.
    this.#detach();
    this.#requested = false;
    const round = this.#retries.scheduled;
    let conn: WcsConnection;
    try {
      conn = await this.#host.acquire(url);
    } catch (err) {
      if (round === this.#retries.scheduled) this.#failed(`Failed to connect to the ${this.#published ? 'origin' : 'edge'} ${url}: ${describe(err)}`);
      return;
    }
    // Ended, or failed and retrying from the session's server meanwhile: this attempt is over.
    if (this.#final() || round !== this.#retries.scheduled) {
      this.#host.release(conn);
      return;
    }
    this.#attach(conn, true);
    if (!this.#published) {
      this.#sendRequest();
      return;
    }
    const sdp = await this.#localOffer();
    if (sdp !== undefined && !this.#final() && round === this.#retries.scheduled) this.#sendRequest(sdp);
  }

  #onStatus(ev: StatusFrame): void {
    if (this.#final()) return;
    const info = ev.info ?? undefined;
    switch (ev.status) {
      case STREAM_STATUS.PUBLISHING:
      case STREAM_STATUS.PLAYING:
        if (this.#status === ev.status) return;
        clearTimeout(this.#pendingTimer);
        this.#live = true;
        this.#retries.reset();
        this.#setStatus(ev.status, info);
        this.#startMonitor();
        return;
      case STREAM_STATUS.UNPUBLISHED:
      case STREAM_STATUS.STOPPED:
        this.#finish(ev.status, info);
        return;
      case STREAM_STATUS.FAILED:
        this.#failed(info ?? 'failed', retryableFailure(ev));
        return;
      case STREAM_STATUS.NOT_ENOUGH_BANDWIDTH: {
        const figures: Record<string, number> = {};
        for (const [k, v] of Object.entries(ev)) if (typeof v === 'number') figures[k] = v;
        const lost = figures['packetsLost'] ?? figures['lost'] ?? 0;
        this.#events.emit(STREAM_STATUS.NOT_ENOUGH_BANDWIDTH, this, {
          source: 'server',
          direction: this.#published ? 'outbound' : 'inbound',
          packetsLost: lost,
          packets: figures['packets'] ?? 0,
          lossPercent: figures['lossPercent'] ?? 0,
          windowMs: figures['windowMs'] ?? 0,
          thresholdPercent: 0,
          info: info ?? 'the server reports that the connection loses packets',
          figures,
        });
        return;
      }
      default:
        // PENDING and statuses this SDK does not use: nothing to do.
        return;
    }
  }

  #startMonitor(): void {
    const opts = this.#opts.bandwidthMonitor;
    if (opts === false || this.#monitor !== undefined) return;
    const direction = this.#published ? 'outbound' : 'inbound';
    const window = new LossWindow(direction, opts ?? {});
    let busy = false;
    this.#monitor = setInterval(() => {
      const pc = this.#pc;
      if (pc === undefined || busy) return;
      busy = true;
      pc.getStats()
        .then((report) => {
          const entries: Record<string, unknown>[] = [];
          report.forEach((s: Record<string, unknown>) => entries.push(s));
          const c = lossCounters(entries, direction);
          const r = window.push(Date.now(), c.lost, c.packets);
          if (r !== undefined && !this.#final()) this.#events.emit(STREAM_STATUS.NOT_ENOUGH_BANDWIDTH, this, r);
        })
        .catch(() => undefined)
        .finally(() => (busy = false));
    }, opts === undefined ? 1000 : opts.intervalMs ?? 1000);
  }

  /** Tells the server to drop the stream without waiting (after a local failure). */
  #tellServerStop(): void {
    const conn = this.#conn?.c;
    if (!this.#requested || conn === undefined) return;
    if (this.#published) conn.send({ message: 'unPublishStream', data: [{ mediaSessionId: this.#id, name: this.#opts.name, published: true }] });
    else conn.send({ message: 'stopStream', data: [{ mediaSessionId: this.#id, name: this.#opts.name, published: false }] });
  }

  #failed(info: string, retryable = true): void {
    if (retryable && this.#live && !this.#final() && this.#retries.left() && this.#host.main() !== undefined) this.#retry(info);
    else this.#finish(STREAM_STATUS.FAILED, info);
  }

  /**
   * Releases this attempt (peer connection, edge or origin connection) and, after a delay, plays or
   * publishes again through the session's own server. The display keeps its video element: the
   * picture comes back in place; a publisher keeps its captured media.
   */
  #retry(info: string): void {
    clearTimeout(this.#pendingTimer);
    clearTimeout(this.#stopTimer);
    this.#stopTimer = undefined;
    clearInterval(this.#monitor);
    this.#monitor = undefined;
    this.#pc?.close();
    this.#pc = undefined;
    this.#remote = undefined;
    this.#detach();
    this.#requested = false;
    this.#redirects = 0;
    const verb = this.#published ? 'republish' : 'replay';
    const attempt = this.#retries.schedule(() => {
      if (this.#final()) return;
      const main = this.#host.main();
      if (main === undefined) {
        this.#finish(STREAM_STATUS.FAILED, `${info} (not ${verb}ed: the session is closed)`);
        return;
      }
      this.#armPendingTimer();
      if (this.#published) {
        void this.#publishOnMain();
        return;
      }
      this.#attach(main, false);
      this.#sendRequest();
    });
    this.#setStatus(STREAM_STATUS.PENDING, `${verb}ing (${attempt}) after: ${info}`);
  }

  #setStatus(status: StreamStatus, info: string | undefined): void {
    this.#status = status;
    this.#info = info;
    switch (status) {
      case STREAM_STATUS.FAILED:
        this.#events.emit(status, this, info ?? 'failed');
        return;
      case STREAM_STATUS.NEW:
      case STREAM_STATUS.NOT_ENOUGH_BANDWIDTH:
        return;
      default:
        this.#events.emit(status, this);
    }
  }

  #releaseLocal(): void {
    const local = this.#local;
    this.#local = undefined;
    if (local === undefined) return;
    const display = this.#opts.display ?? undefined;
    if (this.#opts.cacheLocalResources === true && display !== undefined) cacheMedia(display, local);
    else local.getTracks().forEach((t) => t.stop());
  }

  /** Ends the stream: releases everything it holds, then reports the final status once. */
  #finish(status: StreamStatus, info: string | undefined): void {
    if (this.#final()) return;
    clearTimeout(this.#stopTimer);
    clearTimeout(this.#pendingTimer);
    this.#retries.cancel();
    clearInterval(this.#monitor);
    this.#monitor = undefined;
    this.#pc?.close();
    this.#pc = undefined;
    this.#remote = undefined;
    this.#releaseLocal();
    const display = this.#opts.display ?? undefined;
    if (display !== undefined && this.#opts.cacheLocalResources !== true) removeVideo(display);
    this.#detach();
    this.#host.forget(this);
    this.#setStatus(status, info);
    this.#events.clear();
  }
}

/** An error as the user reads it: a DOMException keeps its name ("NotAllowedError: ..."). */
function describe(err: unknown): string {
  if (err instanceof Error && err.name !== 'Error' && !err.message.startsWith(err.name)) return `${err.name}: ${err.message}`;
  return errorText(err);
}
