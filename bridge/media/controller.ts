/**
 * The media layer's registry and its API face: it holds the streams (by name and by publishId) and
 * the players (by playId), answers the worker API's media requests by finding or making the entity
 * and asking it, and routes node up/down to every stream. The entities themselves (./stream.ts,
 * ./cascade.ts, ./mount.ts, ./player.ts) own their Janus state and its teardown.
 *
 * The requester names what it creates: a publish or play carries its id, an id in use is
 * ALREADY_EXISTS, and the id is registered when the request arrives, so `unpublish`, `stop` and
 * `trickle` reach a publish or play whose request still runs. Publishes and plays share one id
 * space (a trickle names either).
 */
import { Errors, type Params, type Result } from '../../protocol/index.ts';
import type { MediaService, Owner } from '../api/index.ts';
import { sdpError, toCdnError } from '../janus/errors.ts';
import { canTrickle, trickle as trickleCandidates } from '../janus/trickle.ts';
import { readOffer, planPlayback } from '../sdp/index.ts';
import { MediaContext, type MediaNode, type MediaNodes, type MediaOptions } from './context.ts';
import { MediaErrors } from './errors.ts';
import { newRoomId, sourceTracks, within } from './plan.ts';
import { Player, type ClientOffer } from './player.ts';
import { Stream, type StreamHooks } from './stream.ts';
import { sweep, type InUse } from './sweep.ts';

/** The media service, plus what the bridge itself needs. */
export interface Media extends MediaService {
  /** ms from "publisher configured" to "cascade ready on every edge" for a live stream, once known. */
  cascadeReadyMs(stream: string): number | undefined;
  /** A read-only view of every live or starting stream (metrics and the dashboard). */
  streams(): StreamSnapshot[];
  /** Ends every stream and player (bridge shutdown). Safe to call twice. */
  close(): Promise<void>;
}

/** One stream as `streams()` shows it: ids and states only, nothing that can change Janus. */
export interface StreamSnapshot {
  readonly name: string;
  readonly publishId: string;
  readonly origin: string;
  /** Epoch ms the publisher was configured; undefined while it is being set up. */
  readonly configuredAt: number | undefined;
  /** PUBLISHING was sent (WebRTC up and media flowing). */
  readonly publishing: boolean;
  /** The Janus handle id of the publisher on the origin, once attached. */
  readonly publisherHandle: number | undefined;
  readonly cascadeReadyMs: number | undefined;
  readonly edges: ReadonlyArray<{ readonly node: string; readonly state: 'pending' | 'ready' | 'failed' }>;
  readonly players: ReadonlyArray<{ readonly playId: string; readonly node: string; readonly handle: number | undefined; readonly playing: boolean }>;
}

export class MediaController implements Media {
  readonly #ctx: MediaContext;
  readonly #nodes: MediaNodes;
  /** Live and starting streams by name. */
  readonly #streams = new Map<string, Stream>();
  /** Live and starting publishes and plays by their id. */
  readonly #ids = new Map<string, Stream | Player>();
  /** Every stream until its cleanup is done (ending ones included). */
  readonly #records = new Set<Stream>();
  readonly #streamHooks: StreamHooks = {
    closing: (s) => {
      if (this.#streams.get(s.name) === s) this.#streams.delete(s.name);
      if (this.#ids.get(s.publishId) === s) this.#ids.delete(s.publishId);
    },
    closed: (s) => this.#records.delete(s),
    newRoomId: () => this.#newRoomId(),
  };
  readonly #inUse: InUse = {
    room: (node, room) => [...this.#records].some((s) => s.usesRoom(node, room)),
    mountpoints: (node) => new Set([...this.#records].flatMap((s) => s.mountpointsOn(node))),
  };
  readonly #onUp = (node: MediaNode): void => this.#nodeUp(node);
  readonly #onDown = (node: MediaNode): void => this.#nodeDown(node);
  #state: 'open' | 'closed' = 'open';

  constructor(opts: MediaOptions) {
    this.#ctx = new MediaContext(opts, (node) => this.#recount(node));
    this.#nodes = opts.nodes;
    this.#nodes.on('up', this.#onUp);
    this.#nodes.on('down', this.#onDown);
  }

  cascadeReadyMs(stream: string): number | undefined {
    return this.#streams.get(stream)?.cascadeReadyMs;
  }

  streams(): StreamSnapshot[] {
    return [...this.#streams.values()].map((s) => ({
      name: s.name,
      publishId: s.publishId,
      origin: s.node.id,
      configuredAt: s.configuredAt,
      publishing: s.state === 'publishing',
      publisherHandle: s.handle?.id,
      cascadeReadyMs: s.cascadeReadyMs,
      edges: [...s.cascades.values()].map((c) => ({ node: c.node.id, state: c.state === 'closed' ? 'failed' : c.state })),
      players: [...s.players].map((p) => ({ playId: p.playId, node: p.node.id, handle: p.handle?.id, playing: p.state === 'playing' })),
    }));
  }

  // ---------------------------------------------------------------- publish

  async publish(owner: Owner, params: Params<'publish'>): Promise<Result<'publish'>> {
    this.#checkOpen();
    this.#checkIdFree(params.publishId);
    const node = this.#nodes.get(params.node);
    if (node.role !== 'origin') throw MediaErrors.publishOnEdge(this.#nodes.origin.id, node.id);
    if (this.#streams.has(params.stream)) throw Errors.streamNameInUse(params.stream);
    if (!node.up) throw node.unavailable();

    const s = new Stream(this.#ctx, params.stream, params.publishId, owner, node, this.#newRoomId(), this.#streamHooks);
    this.#streams.set(s.name, s);
    this.#ids.set(s.publishId, s);
    this.#records.add(s);
    let answer: string;
    try {
      answer = await s.start(params.sdp);
      if (s.ended) throw MediaErrors.publishEnded(s.name);
    } catch (err) {
      const e = s.endedByOwner ? MediaErrors.endedBeforeStart('publish', s.publishId) : sdpError(toCdnError(err, `publish "${s.name}"`));
      await s.close({ status: 'FAILED', info: e.message, notifyOwner: false });
      this.#ctx.log.info('publish refused', { stream: s.name, publishId: s.publishId, code: e.code, err: e.message });
      throw e;
    }
    void s.cascadeAll();
    return { sdp: answer };
  }

  async unpublish(owner: Owner, params: Params<'unpublish'>): Promise<Result<'unpublish'>> {
    const s = this.#ids.get(params.publishId);
    if (!(s instanceof Stream) || s.owner.id !== owner.id) throw Errors.publishNotFound(params.publishId);
    await s.close({ status: 'UNPUBLISHED', info: 'unpublished', notifyOwner: true, requested: true });
    return {};
  }

  // ---------------------------------------------------------------- play

  async play(owner: Owner, params: Params<'play'>): Promise<Result<'play'>> {
    this.#checkOpen();
    this.#checkIdFree(params.playId);
    const node = this.#nodes.get(params.node);
    const s = this.#streams.get(params.stream);
    if (s === undefined || !s.live) throw Errors.streamNotFound(params.stream);
    if (!node.up) throw node.unavailable();
    // A client's offer is checked before anything is made, so a bad one leaves nothing behind.
    const client = params.sdp === undefined ? undefined : clientOffer(params.sdp, s);

    const player = new Player(this.#ctx, params.playId, owner, s, node, (p) => {
      if (this.#ids.get(p.playId) === p) this.#ids.delete(p.playId);
    });
    this.#ids.set(player.playId, player);
    s.players.add(player);
    try {
      return await player.open(client);
    } catch (err) {
      const byOwner = player.endedByOwner;
      await player.close(undefined);
      if (s.ended) throw MediaErrors.streamEndedWhileJoining(s.name);
      if (byOwner) throw MediaErrors.endedBeforeStart('play', player.playId);
      throw sdpError(toCdnError(err, `play "${s.name}" on ${node.id}`));
    }
  }

  async answer(owner: Owner, params: Params<'answer'>): Promise<Result<'answer'>> {
    await this.#playerOf(owner, params.playId).answer(params.sdp);
    return {};
  }

  async stop(owner: Owner, params: Params<'stop'>): Promise<Result<'stop'>> {
    await this.#playerOf(owner, params.playId).close(undefined);
    return {};
  }

  /**
   * The client's trickled candidates (WHIP/WHEP), given to the Janus handle of its publish or play.
   * One whose request still runs may have no handle yet: the trickle waits for it (up to the request
   * timeout; Janus itself queues candidates that come before the SDP).
   */
  async trickle(owner: Owner, params: Params<'trickle'>): Promise<Result<'trickle'>> {
    const target = this.#ids.get(params.id);
    if (target === undefined || target.owner.id !== owner.id) throw MediaErrors.idNotFound(params.id);
    const timeoutMs = this.#ctx.rq.timeoutMs;
    if (target.handle === undefined) await within(target.attached.promise, timeoutMs);
    const handle = target.handle;
    const ended = target instanceof Stream ? target.ended : target.state === 'closing' || target.state === 'closed';
    if (ended || handle === undefined) throw MediaErrors.ended(params.id);
    if (!canTrickle(handle)) throw MediaErrors.cannotTrickle();
    await trickleCandidates(handle, params.candidates, params.ended === true, timeoutMs);
    return {};
  }

  // ---------------------------------------------------------------- ownership and shutdown

  async release(owner: Owner): Promise<void> {
    const mine = [...this.#ids.values()].filter((x) => x.owner.id === owner.id);
    if (mine.length === 0) return;
    const streams = mine.filter((x): x is Stream => x instanceof Stream);
    const players = mine.filter((x): x is Player => x instanceof Player);
    this.#ctx.log.info('releasing what a closed connection owned', { owner: owner.id, streams: streams.length, players: players.length });
    await Promise.all([
      ...streams.map((s) => s.close({ status: 'UNPUBLISHED', info: 'the publisher disconnected', notifyOwner: false })),
      ...players.map((p) => p.close(undefined)),
    ]);
  }

  async close(): Promise<void> {
    this.#state = 'closed';
    this.#nodes.off('up', this.#onUp);
    this.#nodes.off('down', this.#onDown);
    const players = [...this.#ids.values()].filter((x): x is Player => x instanceof Player);
    await Promise.all([
      ...[...this.#records].map((s) => s.close({ status: 'UNPUBLISHED', info: 'the bridge is shutting down', notifyOwner: true })),
      ...players.map((p) => p.close({ status: 'STOPPED', info: 'the bridge is shutting down' })),
    ]);
  }

  // ---------------------------------------------------------------- node health

  #nodeDown(node: MediaNode): void {
    for (const s of [...this.#records]) s.nodeDown(node);
  }

  #nodeUp(node: MediaNode): void {
    if (this.#state === 'closed') return;
    void (async () => {
      await sweep(this.#ctx, node, this.#inUse);
      if (node.role !== 'edge' || !node.up) return;
      for (const s of [...this.#streams.values()]) void s.cascadeTo(node);
    })();
  }

  // ---------------------------------------------------------------- helpers

  #checkOpen(): void {
    if (this.#state === 'closed') throw MediaErrors.shuttingDown();
  }

  #checkIdFree(id: string): void {
    if (this.#ids.has(id)) throw Errors.idInUse(id);
  }

  #playerOf(owner: Owner, playId: string): Player {
    const p = this.#ids.get(playId);
    if (!(p instanceof Player) || p.owner.id !== owner.id) throw Errors.playNotFound(playId);
    return p;
  }

  #newRoomId(): number {
    return newRoomId((room) => [...this.#records].some((s) => s.room === room));
  }

  /** Keeps a node's load figures equal to what this registry holds on it. */
  #recount(node: MediaNode): void {
    if (!node.up) return;
    let publishers = 0;
    let subscribers = 0;
    for (const x of this.#ids.values()) {
      if (x.node !== node || x.handle === undefined) continue;
      if (x instanceof Stream) publishers++;
      else subscribers++;
    }
    if (node.load.publishers === publishers && node.load.subscribers === subscribers) return;
    node.load.publishers = publishers;
    node.load.subscribers = subscribers;
    this.#nodes.loadChanged(node);
  }
}

/** Reads a client's offer and plans its playback of `s`; throws INVALID_ARGUMENT when it cannot play. */
function clientOffer(sdp: string, s: Stream): ClientOffer {
  const offer = readOffer(sdp);
  return { offer, plan: planPlayback(offer, sourceTracks(s.streams)) };
}
