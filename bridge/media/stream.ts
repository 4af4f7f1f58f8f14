/**
 * One published stream: its publisher on the origin (joinandconfigure with the client's offer) in
 * a room of its own, and everything hung on it: its cascades to the edges (each an edge's copy,
 * which owns the players and mountpoints there, and the origin's forward to it), and the players
 * and mountpoints on the origin itself. It owns them, so ending it ends them.
 *
 *   starting ──start()──> live ──(WebRTC up and media)──> publishing
 *   close() from any state ──> closing ──> closed
 *
 * Names and rooms: every stream gets a fresh random numeric room id, used for its room on the
 * origin and on every edge, with the description "fanout:<stream>", so a restarted bridge can find
 * (and sweep) what an earlier run left. Its id (publishId) is registered from the moment the publish
 * request arrives (`starting`), so `unpublish` and `trickle` work while `start()` runs.
 *
 * Changes to the stream's Janus state (publisher, cascades, mountpoints) run one at a time (its
 * Serial). `close()` is safe to call twice: the second call gets the first one's promise.
 */
import type { Logger } from '../../protocol/index.ts';
import { Errors } from '../../protocol/index.ts';
import type { Owner } from '../api/index.ts';
import { CandidateCollector, watchHandle, type MediaEvent } from '../janus/handle.ts';
import * as vr from '../janus/videoroom.ts';
import type { JanusHandle, PublisherStream } from '../janus/videoroom.ts';
import { Cascade } from './cascade.ts';
import type { Forward } from './forward.ts';
import { reachable, type MediaContext, type MediaNode } from './context.ts';
import { MediaErrors } from './errors.ts';
import type { Mount } from './mount.ts';
import { MountSet, type MountSetSource, type PlaySource } from './mounts.ts';
import { describeStreams, ROOM_AUDIO_CODECS, ROOM_VIDEO_CODECS, Serial, signal, usableStreams, within, type Signal } from './plan.ts';
import type { Player } from './player.ts';

export type StreamState = 'starting' | 'live' | 'publishing' | 'closing' | 'closed';

/** How a stream ends: what its owner is told (if `notifyOwner` and it was live), and whether its owner asked. */
export interface StreamEnding {
  status: 'UNPUBLISHED' | 'FAILED';
  info: string;
  /**
   * Its origin node went down (not its publisher): its players are told FAILED, not STOPPED, since
   * the stream may come back on another origin (a publisher that republishes) for them to retry.
   */
  nodeFailed?: true;
  notifyOwner: boolean;
  /** Its owner's own `unpublish`: a `publish` still running for it then fails with FAILED_PRECONDITION. */
  requested?: true;
}

/** What the registry does when a stream starts and finishes closing. */
export interface StreamHooks {
  /** It starts closing: its name and id are free again. */
  closing(s: Stream): void;
  /** Its cleanup is done. */
  closed(s: Stream): void;
  /** A room id no stream uses (for a renewed room id). */
  newRoomId(): number;
}

export class Stream implements PlaySource, MountSetSource {
  readonly serial = new Serial();
  readonly cascades = new Map<string, Cascade>();
  /** Forwards to edges' copies that a coordinator asked for (an agent's; ./cross-node.ts), by forwardId. */
  readonly forwards = new Map<string, Forward>();
  /** The players on the origin (an edge's are its copy's: `allPlayers()`). */
  readonly players = new Set<Player>();
  /** The mountpoints on the origin (an edge's are its copy's: `allMounts()`). */
  readonly mounts: MountSet;
  readonly remote = false;
  readonly generation: number;
  /** Resolved when the publisher's WebRTC is up (Janus refuses subscribers to it before: 428). */
  readonly webrtc: Signal = signal();
  /** Resolved once the publisher's handle is attached, or the stream closes (a trickle waits for it). */
  readonly attached: Signal = signal();
  #state: StreamState = 'starting';
  #ending: StreamEnding | undefined;
  #closing: Promise<void> | undefined;
  #room: number;
  #roomCreated = false;
  #handle: JanusHandle | undefined;
  #unwatch: () => void = () => undefined;
  #publisherId: number | undefined;
  #streams: PublisherStream[] = [];
  #configuredAt: number | undefined;
  #cascadeReadyMs: number | undefined;
  /** Janus has reported media from the publisher (PUBLISHING needs it and WebRTC up). */
  #receiving = false;
  /** Whether Janus currently receives each of the publisher's streams (by mid), from its media events. */
  readonly #flowing = new Map<string, boolean>();
  #noMediaTimer: NodeJS.Timeout | undefined;
  #mediaTimer: NodeJS.Timeout | undefined;
  readonly #log: Logger;

  constructor(
    readonly ctx: MediaContext,
    readonly name: string,
    readonly publishId: string,
    /** Who is told its events; a link that re-binds it after a lost link takes it over (`bind`). */
    public owner: Owner,
    readonly node: MediaNode,
    room: number,
    readonly hooks: StreamHooks,
  ) {
    this.generation = node.generation;
    this.#room = room;
    this.#log = ctx.log;
    this.mounts = new MountSet(ctx, this, node);
  }

  get state(): StreamState {
    return this.#state;
  }
  /** Live: configured and not ending (publishing or not yet). */
  get live(): boolean {
    return this.#state === 'live' || this.#state === 'publishing';
  }
  get ended(): boolean {
    return this.#state === 'closing' || this.#state === 'closed';
  }
  /** How it is ending, once it is. */
  get ending(): StreamEnding | undefined {
    return this.#ending;
  }
  /** Closed by its owner's `unpublish`. */
  get endedByOwner(): boolean {
    return this.#ending?.requested === true;
  }
  get room(): number {
    return this.#room;
  }
  get handle(): JanusHandle | undefined {
    return this.#handle;
  }
  get publisherId(): number | undefined {
    return this.#publisherId;
  }
  get streams(): readonly PublisherStream[] {
    return this.#streams;
  }
  get configuredAt(): number | undefined {
    return this.#configuredAt;
  }
  get cascadeReadyMs(): number | undefined {
    return this.#cascadeReadyMs;
  }

  #check(): void {
    if (this.ended) throw MediaErrors.publishEnded(this.name);
    if (!reachable(this.node, this.generation)) throw this.node.unavailable();
  }

  // ---------------------------------------------------------------- the publisher

  /** Sets up the publisher with the client's offer; resolves with Janus's answer. Throws on any failure (the caller closes). */
  start(offer: string): Promise<string> {
    return this.serial.run(() => this.#start(offer));
  }

  async #start(offer: string): Promise<string> {
    const ctx = this.ctx;
    const node = this.node;
    this.#room = await ctx.createRoom(node, { room: this.#room, name: this.name, streams: undefined }, () => (this.#room = this.hooks.newRoomId()));
    this.#roomCreated = true;
    this.#check();

    const handle = await ctx.attach(node, () => node.attach());
    this.#handle = handle;
    this.#unwatch = this.#watch(handle);
    this.attached.resolve();
    ctx.recount(node);
    this.#check();

    const collector = new CandidateCollector(handle);
    let joined: vr.JoinedPublisher;
    try {
      joined = await vr.joinAndConfigure(handle, { room: this.#room, display: this.name, offer }, ctx.rq);
    } catch (err) {
      collector.dispose();
      throw err;
    }
    const answer = await collector.complete(joined.answer, ctx.candidateWaitMs);
    this.#publisherId = joined.id;
    this.#streams = joined.streams;
    this.#check();
    if (usableStreams(joined.streams).length === 0) throw MediaErrors.noUsableMedia(ROOM_AUDIO_CODECS, ROOM_VIDEO_CODECS);
    this.#state = 'live';
    this.#configuredAt = Date.now();
    this.#armMediaTimer();
    this.#log.info('publisher configured', { stream: this.name, publishId: this.publishId, room: this.#room, media: describeStreams(this.#streams) });
    ctx.changed();
    return answer;
  }

  /** A publisher whose WebRTC is not up within the media timeout is ended. */
  #armMediaTimer(): void {
    const ctx = this.ctx;
    this.#mediaTimer = setTimeout(() => {
      if (this.#state === 'live' && !this.webrtc.settled) {
        void this.close({ status: 'FAILED', info: `WebRTC did not come up within ${ctx.mediaTimeoutMs} ms`, notifyOwner: true });
      }
    }, ctx.mediaTimeoutMs);
    this.#mediaTimer.unref();
  }

  /**
   * Takes back the publisher an earlier bridge run made (./adopt.ts): Janus kept it, with its
   * room and media; its handle is watched again and its timers re-armed. Its cascades, mountpoints
   * and players are taken back by the caller.
   */
  adopt(p: { room: number; handle: JanusHandle; publisherId: number; streams: readonly PublisherStream[]; configuredAt: number; publishing: boolean }): void {
    this.#room = p.room;
    this.#roomCreated = true;
    this.#handle = p.handle;
    this.#unwatch = this.#watch(p.handle);
    this.attached.resolve();
    this.#publisherId = p.publisherId;
    this.#streams = [...p.streams];
    this.#configuredAt = p.configuredAt;
    // What Janus said while nobody listened is lost: the streams count as flowing until it says otherwise.
    for (const s of usableStreams(this.#streams)) this.#flowing.set(s.mid, true);
    this.#state = 'live';
    if (p.publishing) {
      this.webrtc.resolve();
      this.#receiving = true;
      this.#state = 'publishing';
    } else {
      this.#armMediaTimer();
    }
  }

  #watch(handle: JanusHandle): () => void {
    const node = this.node;
    const end = (status: StreamEnding['status'], info: string): void => void this.close({ status, info, notifyOwner: true });
    return watchHandle(
      handle,
      'videoroom',
      {
        webrtcup: () => {
          this.webrtc.resolve();
          this.#maybePublishing();
        },
        media: (e) => this.#media(e),
        hangup: (reason) => end(/ice/i.test(reason) ? 'FAILED' : 'UNPUBLISHED', `the publisher hung up (${reason})`),
        iceFailed: () => end('FAILED', 'ICE failed'),
        detached: () =>
          reachable(node, this.generation)
            ? end('FAILED', 'the publisher handle was detached')
            : void this.close({ status: 'FAILED', info: `the origin node "${node.id}" went down`, notifyOwner: true, nodeFailed: true }),
        destroyed: () => end('FAILED', 'the room was destroyed'),
        slowlink: (e) => this.ctx.send(this.owner, { event: 'slowlink', id: this.publishId, stream: this.name, uplink: e.uplink, lost: e.lost }),
      },
      (err, event) => this.#log.warn('publisher event handling failed', { stream: this.name, event, err }),
    );
  }

  /**
   * Janus reports, per stream, when media starts and when it has stopped for its no-media timer.
   * A publisher whose every stream stopped for `noMediaTimeoutMs` is gone (a PeerConnection that
   * vanished without a DTLS alert is not noticed otherwise in time: ICE consent checks take ~30 s).
   */
  #media(e: MediaEvent): void {
    const ctx = this.ctx;
    this.#flowing.set(e.mid ?? e.type, e.receiving);
    if (e.receiving) {
      this.#receiving = true;
      clearTimeout(this.#noMediaTimer);
      this.#noMediaTimer = undefined;
      this.#maybePublishing();
      return;
    }
    if (ctx.noMediaTimeoutMs <= 0 || this.#noMediaTimer !== undefined || [...this.#flowing.values()].some((f) => f)) return;
    this.#noMediaTimer = setTimeout(() => {
      this.#log.info('publisher media stopped; ending the stream', { stream: this.name, publishId: this.publishId, ms: ctx.noMediaTimeoutMs });
      void this.close({ status: 'FAILED', info: `no media from the publisher for ${ctx.noMediaTimeoutMs} ms`, notifyOwner: true });
    }, ctx.noMediaTimeoutMs);
    this.#noMediaTimer.unref();
  }

  /**
   * What Janus's statistics say of the publisher's media, for a stream taken back after a restart
   * (the media events of the time nobody listened are lost): no bytes in is a media stop on every
   * stream, bytes in is media flowing. The no-media timeout then applies as for Janus's own events.
   */
  mediaReport(receiving: boolean): void {
    // Bytes in mean the PeerConnection is up, whether or not its `webrtcup` was heard.
    if (receiving) this.webrtc.resolve();
    for (const s of usableStreams(this.#streams)) this.#media({ type: s.type, mid: s.mid, receiving });
  }

  #maybePublishing(): void {
    if (this.#state !== 'live' || !this.webrtc.settled || !this.#receiving) return;
    this.#state = 'publishing';
    clearTimeout(this.#mediaTimer);
    this.#log.info('publishing', { stream: this.name, publishId: this.publishId });
    this.ctx.changed();
    this.ctx.send(this.owner, { event: 'publisher', publishId: this.publishId, stream: this.name, status: 'PUBLISHING' });
  }

  // ---------------------------------------------------------------- cascades

  /** Relays a just-configured stream to every healthy edge and records how long that took. */
  async cascadeAll(): Promise<void> {
    const ctx = this.ctx;
    const configuredAt = this.#configuredAt ?? Date.now();
    const targets = ctx.nodes.edges.flatMap((edge) => {
      const c = this.#beginCascade(edge);
      return c === undefined ? [] : [c];
    });
    // No edge to relay to (an agent drives only its origin; or every edge is down): nothing to time.
    if (targets.length === 0) return;
    await this.serial.run(() => Promise.all(targets.map((c) => c.run((x, err) => this.#cascadeFailed(x, err)))));
    if (!this.live) return;
    const failed = targets.filter((c) => c.state !== 'ready').map((c) => c.node.id);
    if (failed.length > 0) {
      this.#log.warn('cascade incomplete: some edges cannot play this stream until they come back', { stream: this.name, failed });
      return;
    }
    const ms = Date.now() - configuredAt;
    this.#cascadeReadyMs = ms;
    this.#log.info('cascade ready on every edge', { stream: this.name, edges: targets.map((c) => c.node.id), ms });
    try {
      ctx.onCascadeReady?.(this.name, ms);
    } catch (err) {
      this.#log.error('cascade-ready listener threw', { stream: this.name, err });
    }
  }

  /** Relays the live stream to an edge that came (back) up, unless a current cascade there exists. */
  async cascadeTo(edge: MediaNode): Promise<void> {
    const c = this.#beginCascade(edge);
    if (c === undefined) return;
    await this.serial.run(() => c.run((x, err) => this.#cascadeFailed(x, err)));
    if (c.state === 'ready') this.#log.info('cascaded to a node that came up', { stream: this.name, edge: edge.id });
  }

  /** Registers a pending cascade to `edge` (so plays can wait for it), unless one exists. */
  #beginCascade(edge: MediaNode): Cascade | undefined {
    if (!this.live || !edge.up) return undefined;
    const existing = this.cascades.get(edge.id);
    if (existing !== undefined && existing.generation === edge.generation) return undefined;
    const c = new Cascade(this.ctx, this, edge);
    this.cascades.set(edge.id, c);
    return c;
  }

  /** Whether the stream is live and `c` is still its cascade to `c.node` (CascadeSource). */
  holds(c: Cascade): boolean {
    return this.live && this.cascades.get(c.node.id) === c;
  }

  #cascadeFailed(c: Cascade, err: Error): void {
    const wasCurrent = this.cascades.get(c.node.id) === c;
    if (wasCurrent) this.cascades.delete(c.node.id);
    if (wasCurrent && this.live && c.node.up) this.#log.warn('cascade failed', { stream: this.name, edge: c.node.id, err });
  }

  // ---------------------------------------------------------------- players and mountpoints

  /**
   * What a player on `node` plays from: the stream itself on the origin, or the edge's copy.
   * Throws when the stream is not relayed to `node` (the edge was down, or the relay failed).
   */
  sourceOn(node: MediaNode): PlaySource {
    if (node === this.node) return this;
    const c = this.cascades.get(node.id);
    if (c === undefined) throw MediaErrors.notRelayed(this.name, node.id);
    return c.relay;
  }

  /** Every player, on the origin and on every edge. */
  allPlayers(): Player[] {
    return [...this.players, ...[...this.cascades.values()].flatMap((c) => [...c.relay.players])];
  }

  /** Every mountpoint, on the origin and on every edge. */
  allMounts(): Mount[] {
    return [...this.mounts, ...[...this.cascades.values()].flatMap((c) => [...c.relay.mounts])];
  }

  /** The origin publisher, for a player on the origin, once its WebRTC is up. Stops waiting when `abort` resolves. */
  async feed(abort: Promise<void>): Promise<number> {
    const ctx = this.ctx;
    if (!this.webrtc.settled && !(await within(Promise.race([this.webrtc.promise, abort]), ctx.cascadeWaitMs))) {
      throw MediaErrors.publisherNotConnected(this.name);
    }
    if (this.#publisherId === undefined || !this.live) throw Errors.streamNotFound(this.name);
    return this.#publisherId;
  }

  /** Drops the mountpoints no player watches (after a restart, those whose players are gone). */
  dropIdleMounts(): void {
    this.mounts.dropIdle();
    for (const c of this.cascades.values()) c.relay.mounts.dropIdle();
  }

  // ---------------------------------------------------------------- node health

  /** A node went down: on the origin the stream fails; on an edge its players there fail and its copy there is forgotten. */
  nodeDown(node: MediaNode): void {
    if (node === this.node) {
      void this.close({ status: 'FAILED', info: `the origin node "${node.id}" went down`, notifyOwner: true, nodeFailed: true });
      return;
    }
    const c = this.cascades.get(node.id);
    if (c === undefined) return;
    this.cascades.delete(node.id);
    const ending = { status: 'FAILED', info: `node "${node.id}" went down` } as const;
    for (const p of [...c.relay.players]) void p.close(ending);
    // The origin must stop forwarding to the dead edge; the edge's own state (its mountpoints with
    // it) is gone, or swept when it is back.
    void this.serial.run(() => c.close(ending));
  }

  /** Whether this stream uses room `room` on `node` (the sweep keeps it). */
  usesRoom(node: MediaNode, room: number): boolean {
    if (this.#room !== room) return false;
    if (node === this.node) return true;
    const c = this.cascades.get(node.id);
    return c !== undefined && c.generation === node.generation;
  }

  /** The ids of this stream's current mountpoints on `node` (the sweep keeps them). */
  mountpointsOn(node: MediaNode): number[] {
    if (node === this.node) return this.mounts.ids();
    const c = this.cascades.get(node.id);
    return c === undefined || c.generation !== node.generation ? [] : c.relay.mounts.ids();
  }

  // ---------------------------------------------------------------- teardown

  /**
   * Ends the stream: its owner told (when `notifyOwner` and it was live), its players told, every
   * edge's copy and every mountpoint removed, the publisher leaves, the room goes. Safe to call
   * twice: the second call gets the first one's promise.
   */
  close(ending: StreamEnding): Promise<void> {
    if (this.#closing !== undefined) return this.#closing;
    const wasLive = this.live;
    this.#state = 'closing';
    this.#ending = ending;
    this.attached.resolve();
    clearTimeout(this.#mediaTimer);
    clearTimeout(this.#noMediaTimer);
    this.hooks.closing(this);
    this.ctx.ended(this.publishId, ending.status, ending.info);
    this.ctx.changed();
    if (ending.notifyOwner && wasLive) {
      this.ctx.send(this.owner, { event: 'publisher', publishId: this.publishId, stream: this.name, status: ending.status, info: ending.info });
    }
    const info = `the stream ended: ${ending.info}`;
    this.#closing = Promise.all(this.allPlayers().map((p) => p.close({ status: ending.nodeFailed === true ? 'FAILED' : 'STOPPED', info })))
      .then(() => this.serial.run(() => this.#cleanup()))
      .catch((err: unknown) => this.#log.error('stream cleanup failed', { stream: this.name, err }))
      .finally(() => {
        this.#state = 'closed';
        this.hooks.closed(this);
        if (wasLive) this.#log.info('stream ended', { stream: this.name, publishId: this.publishId, status: ending.status, info: ending.info });
      });
    return this.#closing;
  }

  async #cleanup(): Promise<void> {
    const ctx = this.ctx;
    this.#unwatch();
    // Mountpoints first: their forwarders hang off the publishers the cascades and the origin remove.
    await this.mounts.closeAll();
    const forwards = [...this.forwards.values()];
    this.forwards.clear();
    await Promise.all(forwards.map((f) => f.close()));
    const cascades = [...this.cascades.values()];
    this.cascades.clear();
    await Promise.all(cascades.map((c) => c.close({ status: 'STOPPED', info: `the stream ended: ${this.#ending?.info ?? 'unpublished'}` })));
    const origin = this.node;
    const isReachable = reachable(origin, this.generation);
    const handle = this.#handle;
    if (handle !== undefined && isReachable) {
      if (this.#publisherId !== undefined) await ctx.quietly(vr.leave(handle, ctx.rq), `publisher of "${this.name}" leaves`);
      await ctx.quietly(handle.detach(), `detach publisher of "${this.name}"`);
    }
    this.#handle = undefined;
    if (this.#roomCreated && isReachable) await ctx.quietly(vr.destroyRoom(origin.control, this.#room, ctx.adminKey, ctx.rq), `destroy room of "${this.name}"`);
    this.#roomCreated = false;
    ctx.recount(origin);
  }
}
