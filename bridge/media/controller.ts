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
import { BRIDGE_OWNER_GRACE_MS, Errors, type BridgeEvent, type Params, type Result } from '../../protocol/index.ts';
import type { MediaService, Owner } from '../api/index.ts';
import { Journal, JOURNAL_VERSION, type JournalState, type NodeRecord } from '../state/journal.ts';
import { EVENT as HANDLE_EVENT } from '../janus/handle.ts';
import type { JanusHandle } from '../janus/videoroom.ts';
import { adopt, adoptRelays, reconcile, records, relayRecords, watchAdopted, type AdoptDeps, type Gone, type Recorder } from './adopt.ts';
import { CrossNode } from './cross-node.ts';
import { sdpError, toCdnError } from '../janus/errors.ts';
import { canTrickle, trickle as trickleCandidates } from '../janus/trickle.ts';
import { readOffer, planPlayback } from '../sdp/index.ts';
import { MediaContext, type EndStatus, type MediaNode, type MediaNodes, type MediaOptions } from './context.ts';
import { MediaErrors } from './errors.ts';
import { newRoomId, sourceTracks, within } from './plan.ts';
import type { PlaySource } from './mounts.ts';
import { Player, type ClientOffer } from './player.ts';
import { relaySnapshot, snapshot, type RelaySnapshot, type StreamSnapshot } from './snapshot.ts';
import { Stream, type StreamHooks } from './stream.ts';
import { sweep, type InUse } from './sweep.ts';

/** The media service, plus what the bridge itself needs. */
export interface Media extends MediaService {
  /** ms from "publisher configured" to "cascade ready on every edge" for a live stream, once known. */
  cascadeReadyMs(stream: string): number | undefined;
  /** A read-only view of every live or starting stream (metrics and the dashboard). */
  streams(): StreamSnapshot[];
  /** A read-only view of the copies of streams this agent holds on its edges (metrics and the dashboard). */
  relays(): RelaySnapshot[];
  /**
   * Takes back what an earlier run left (its journal's `state`, undefined: nothing) once the nodes
   * have made their first connections, and keeps the journal from now on (with `stateDir`). Call
   * it once, before the nodes start; requests and node sweeps wait until it is done.
   */
  adopt(state: JournalState | undefined, resources: ResourceHooks): void;
  /** The taking back under way, if it is (the API holds media requests until it is done). */
  adopting(): Promise<void> | undefined;
  /** Ends every stream and player (bridge shutdown). Safe to call twice. */
  close(): Promise<void>;
}

/** The API's resource (WHIP/WHEP) registry, as the journal and taking back need it. */
export interface ResourceHooks {
  readonly owner: Owner;
  /** The client's ice-ufrag of a resource publish or play (kept in the journal). */
  ufragOf(id: string): string | undefined;
  /** A resource publish or play was taken back after a restart. */
  adopt(kind: 'publish' | 'play', id: string, stream: string, ufrag: string | undefined): void;
}

/** How many ended ids `bind` can still report; the oldest are forgotten first (and after the grace). */
const MAX_REMEMBERED_ENDINGS = 100_000;

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
      this.#cross.ended(s, s.ending?.info ?? 'unpublished', s.ending?.nodeFailed === true);
    },
    closed: (s) => this.#records.delete(s),
    newRoomId: () => this.#newRoomId(),
  };
  readonly #inUse: InUse = {
    room: (node, room) => [...this.#records].some((s) => s.usesRoom(node, room)) || this.#cross.usesRoom(node, room),
    mountpoints: (node) => new Set([...[...this.#records].flatMap((s) => s.mountpointsOn(node)), ...this.#cross.mountpointsOn(node)]),
  };
  readonly #onUp = (node: MediaNode): void => this.#nodeUp(node);
  readonly #onDown = (node: MediaNode): void => this.#nodeDown(node);
  readonly #opts: MediaOptions;
  readonly #graceMs: number;
  readonly #cross: CrossNode;
  /** How publishes and plays ended lately, by id, for a link that re-binds them (`bind`). */
  readonly #endings = new Map<string, { status: EndStatus; info: string; at: number }>();
  /** The publisher and player handles attached on each node and not yet detached (the journal's). */
  readonly #handles = new Map<MediaNode, Set<number>>();
  /** Owns what an earlier run's links owned, until a new link binds it or the grace runs out. */
  readonly #adoptedOwner: Owner = { id: 'adopted', send: () => undefined };
  #resources: ResourceHooks | undefined;
  #journal: Journal | undefined;
  #adoption: Promise<void> = Promise.resolve();
  #adopting = false;
  #graceTimer: NodeJS.Timeout | undefined;
  #state: 'open' | 'closed' = 'open';

  constructor(opts: MediaOptions) {
    this.#opts = opts;
    this.#graceMs = opts.ownerGraceMs ?? BRIDGE_OWNER_GRACE_MS;
    this.#ctx = new MediaContext(opts, {
      recount: (node) => this.#recount(node),
      changed: () => this.#journal?.mark(),
      ended: (id, status, info) => this.#remember(id, status, info),
      attached: (node, handle) => this.#attached(node, handle),
    });
    this.#nodes = opts.nodes;
    this.#cross = new CrossNode({
      ctx: this.#ctx,
      nodes: this.#nodes,
      stream: (id) => {
        const s = this.#ids.get(id);
        return s instanceof Stream ? s : undefined;
      },
    });
    this.#nodes.on('up', this.#onUp);
    this.#nodes.on('down', this.#onDown);
  }

  cascadeReadyMs(stream: string): number | undefined {
    return this.#streams.get(stream)?.cascadeReadyMs;
  }

  streams(): StreamSnapshot[] {
    return [...this.#streams.values()].map(snapshot);
  }

  relays(): RelaySnapshot[] {
    return this.#cross.relays().map(relaySnapshot);
  }

  // ---------------------------------------------------------------- publish

  async publish(owner: Owner, params: Params<'publish'>): Promise<Result<'publish'>> {
    this.#checkOpen();
    this.#checkIdFree(params.publishId);
    const node = this.#nodes.get(params.node);
    if (node.role !== 'origin') throw MediaErrors.publishOnEdge(this.#nodes.originIds, node.id);
    if (this.#streams.has(params.stream)) throw Errors.streamNameInUse(params.stream);
    if (!node.up) throw node.unavailable();

    const s = this.#newStream(params.stream, params.publishId, owner, node, this.#newRoomId());
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
    this.#cross.live(s);
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
    if (!node.up) throw node.unavailable();
    const found = this.#streams.get(params.stream);
    if (found !== undefined && !found.live) throw Errors.streamNotFound(params.stream);
    // The stream's origin is driven here (and, by a bridge that drives every node, its edges' copies
    // too), or only this edge's copy is, made at a coordinator's request.
    const s = found ?? (await this.#cross.relayFor(node, params.stream));
    // A client's offer is checked before anything is made, so a bad one leaves nothing behind.
    const client = params.sdp === undefined ? undefined : clientOffer(params.sdp, s.streams);
    const source = s instanceof Stream ? s.sourceOn(node) : s;

    const player = this.#newPlayer(params.playId, owner, source);
    source.players.add(player);
    try {
      return await player.open(client);
    } catch (err) {
      const byOwner = player.endedByOwner;
      await player.close(undefined);
      if (s instanceof Stream ? s.ended : !s.live) throw MediaErrors.streamEndedWhileJoining(s.name);
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

  /**
   * A link takes over publishes and plays by id after a lost link (or a restart): each one still
   * here that a link owned is `owner`'s from now on; the others are reported gone, with how they
   * ended when that is remembered.
   */
  async bind(owner: Owner, params: Params<'bind'>): Promise<Result<'bind'>> {
    await this.#adoption;
    const bound: string[] = [];
    const gone: Gone[] = [];
    for (const id of new Set(params.ids)) {
      const x = this.#ids.get(id);
      if (x !== undefined && x.owner !== this.#resources?.owner) {
        x.owner = owner;
        bound.push(id);
        // What is up is told again: its event may have gone to the lost link (the worker tells its client once).
        if (x instanceof Stream && x.state === 'publishing') this.#ctx.send(owner, { event: 'publisher', publishId: id, stream: x.name, status: 'PUBLISHING' });
        if (x instanceof Player && x.state === 'playing') this.#ctx.send(owner, { event: 'player', playId: id, stream: x.source.name, status: 'PLAYING' });
        continue;
      }
      const ending = this.#endings.get(id);
      if (ending !== undefined) gone.push({ id, status: ending.status, info: ending.info });
      else gone.push({ id, status: 'FAILED', info: 'the bridge has no publish or play with this id (it was lost while the link was away)', code: 'UNAVAILABLE' });
    }
    if (bound.length > 0) this.#ctx.log.info('link bound', { owner: owner.id, bound: bound.length, gone: gone.length });
    return { bound, gone };
  }

  adopt(state: JournalState | undefined, resources: ResourceHooks): void {
    this.#resources = resources;
    const dir = this.#opts.stateDir;
    if (dir !== undefined) this.#journal = new Journal(dir, () => this.#journalState(), this.#ctx.log);
    if (state === undefined || (state.streams.length === 0 && state.relays.length === 0)) return;
    this.#adopting = true;
    // The earlier run's journal stands until everything in it is taken back (a kill meanwhile finds it whole).
    this.#journal?.pause();
    this.#adoption = this.#adopt(state, resources)
      .catch((err: unknown) => this.#ctx.log.error('taking back the earlier run\'s state failed', { err }))
      .finally(() => {
        this.#adopting = false;
        // (After a failed take-back too: what is live from now on must be written.)
        this.#journal?.resume();
      });
  }

  adopting(): Promise<void> | undefined {
    return this.#adopting ? this.#adoption : undefined;
  }

  async #adopt(state: JournalState, resources: ResourceHooks): Promise<void> {
    const started = Date.now();
    await this.#nodes.firstTries();
    const deps: AdoptDeps = {
      ctx: this.#ctx,
      nodes: this.#nodes,
      ownerOf: (kind) => (kind === 'resource' ? resources.owner : this.#adoptedOwner),
      newStream: (rec, owner, node) => this.#newStream(rec.name, rec.publishId, owner, node, rec.room),
      newPlayer: (playId, owner, source) => this.#newPlayer(playId, owner, source),
      resourceAdopted: (kind, id, stream, ufrag) => resources.adopt(kind, id, stream, ufrag),
    };
    const { streams, gone: streamsGone } = adopt(deps, state.streams);
    const { relays, gone: relaysGone } = adoptRelays(deps, state.relays);
    this.#cross.adopt(relays);
    const gone = [...streamsGone, ...relaysGone];
    const relayPlayers = relays.flatMap((r) => [...r.players]);
    for (const g of gone) this.#remember(g.id, g.status, g.info);
    this.#detachStrays(state, streams, relayPlayers);
    for (const node of this.#nodes.all) this.#recount(node);
    // Everything is taken back: the journal is written again, whole.
    this.#journal?.resume();
    const players = streams.reduce((n, s) => n + s.allPlayers().length, relayPlayers.length);
    this.#ctx.log.info('took back what the earlier run left', { streams: streams.length, relays: relays.length, players, gone: gone.length, ms: Date.now() - started });
    // What no link binds within the grace is released, as a lost link's is.
    this.#graceTimer = setTimeout(() => void this.release(this.#adoptedOwner), this.#graceMs);
    this.#graceTimer.unref();
    await reconcile(this.#ctx, streams, relayPlayers);
    watchAdopted(this.#ctx, streams, relayPlayers, started);
  }

  #journalState(): JournalState {
    const nodes: Record<string, NodeRecord> = {};
    for (const node of this.#nodes.all) {
      const rec = node.record();
      if (rec !== undefined) nodes[node.id] = { ...rec, handles: [...(this.#handles.get(node) ?? [])] };
    }
    const resources = this.#resources;
    const recorder: Recorder = { ownerKind: (owner) => (owner === resources?.owner ? 'resource' : 'link'), ufragOf: (id) => resources?.ufragOf(id) };
    return {
      version: JOURNAL_VERSION,
      at: Date.now(),
      nodes,
      streams: records(this.#streams.values(), recorder),
      relays: relayRecords(this.#cross.relays(), recorder),
    };
  }

  /** Lists a new handle in the journal at once; it leaves the list when it is detached. */
  #attached(node: MediaNode, handle: JanusHandle): void {
    let set = this.#handles.get(node);
    if (set === undefined) this.#handles.set(node, (set = new Set()));
    const ids = set;
    ids.add(handle.id);
    const generation = node.generation;
    const gone = (): void => {
      handle.off(HANDLE_EVENT.DETACHED, gone);
      if (node.generation === generation) ids.delete(handle.id);
      this.#journal?.mark();
    };
    handle.on(HANDLE_EVENT.DETACHED, gone);
    // On disk now, not at the end of this turn: a kill right after the attach must not lose it.
    this.#journal?.attached(node.id, handle.id);
  }

  /** Detaches the handles an earlier run attached that nothing taken back uses (their setup never finished). */
  #detachStrays(state: JournalState, streams: readonly Stream[], relayPlayers: readonly Player[]): void {
    const used = new Set([...streams.flatMap((s) => [s.handle?.id, ...s.allPlayers().map((p) => p.handle?.id)]), ...relayPlayers.map((p) => p.handle?.id)]);
    for (const [id, rec] of Object.entries(state.nodes)) {
      let node: MediaNode;
      try {
        node = this.#nodes.get(id);
      } catch {
        continue;
      }
      if (!node.reclaimed) continue;
      for (const h of rec.handles) {
        if (used.has(h)) continue;
        this.#ctx.log.info('detaching a handle whose publish or play never finished', { node: id, handle: h });
        // Any plugin's handle class sends the same `detach`.
        void this.#ctx.quietly(node.adoptHandle('videoroom', h).detach(), `detach stray handle ${h} on ${id}`);
      }
    }
  }

  #remember(id: string, status: EndStatus, info: string): void {
    const now = Date.now();
    this.#endings.delete(id);
    this.#endings.set(id, { status, info, at: now });
    for (const [old, e] of this.#endings) {
      if (this.#endings.size <= MAX_REMEMBERED_ENDINGS && now - e.at < this.#graceMs) break;
      this.#endings.delete(old);
    }
  }

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
    clearTimeout(this.#graceTimer);
    this.#nodes.off('up', this.#onUp);
    this.#nodes.off('down', this.#onDown);
    const players = [...this.#ids.values()].filter((x): x is Player => x instanceof Player);
    await Promise.all([
      ...[...this.#records].map((s) => s.close({ status: 'UNPUBLISHED', info: 'the bridge is shutting down', notifyOwner: true })),
      ...players.map((p) => p.close({ status: 'STOPPED', info: 'the bridge is shutting down' })),
    ]);
    await this.#cross.close({ status: 'STOPPED', info: 'the bridge is shutting down' });
    // Everything was taken down: the journal says so, and a later run has nothing to take back.
    this.#journal?.close({ version: JOURNAL_VERSION, at: Date.now(), nodes: {}, streams: [], relays: [] });
  }

  // ---------------------------------------------------------------- node health

  #nodeDown(node: MediaNode): void {
    this.#handles.delete(node);
    for (const s of [...this.#records]) s.nodeDown(node);
    this.#cross.nodeDown(node);
  }

  // ---------------------------------------------------------------- cross-node work (an agent's)

  sources(listener: (e: BridgeEvent) => void): { result: Result<'sources'>; unwatch: () => void } {
    return { result: this.#cross.sources(this.#streams.values()), unwatch: this.#cross.watch(listener) };
  }

  relay(params: Params<'relay'>): Promise<Result<'relay'>> {
    this.#checkOpen();
    return this.#cross.relay(params);
  }

  unrelay(params: Params<'unrelay'>): Promise<Result<'unrelay'>> {
    return this.#cross.unrelay(params);
  }

  forward(params: Params<'forward'>): Promise<Result<'forward'>> {
    this.#checkOpen();
    return this.#cross.forward(params);
  }

  unforward(params: Params<'unforward'>): Promise<Result<'unforward'>> {
    return this.#cross.unforward(params);
  }

  #nodeUp(node: MediaNode): void {
    if (this.#state === 'closed') return;
    this.#journal?.mark();
    void (async () => {
      // What an earlier run left is taken back first: the sweep must not remove it.
      await this.#adoption;
      await sweep(this.#ctx, node, this.#inUse);
      if (node.role !== 'edge' || !node.up) return;
      for (const s of [...this.#streams.values()]) void s.cascadeTo(node);
    })();
  }

  // ---------------------------------------------------------------- helpers

  #newStream(name: string, publishId: string, owner: Owner, node: MediaNode, room: number): Stream {
    const s = new Stream(this.#ctx, name, publishId, owner, node, room, this.#streamHooks);
    this.#streams.set(s.name, s);
    this.#ids.set(s.publishId, s);
    this.#records.add(s);
    return s;
  }

  #newPlayer(playId: string, owner: Owner, source: PlaySource): Player {
    const player = new Player(this.#ctx, playId, owner, source, (p) => {
      if (this.#ids.get(p.playId) === p) this.#ids.delete(p.playId);
    });
    this.#ids.set(player.playId, player);
    return player;
  }

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
function clientOffer(sdp: string, streams: Stream['streams']): ClientOffer {
  const offer = readOffer(sdp);
  return { offer, plan: planPlayback(offer, sourceTracks(streams)) };
}
