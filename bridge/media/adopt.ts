/**
 * The media layer's side of the journal (../state/journal.ts): what is written (`records`), and
 * taking it back after a restart (`adopt`), then checking it against Janus (`reconcile`).
 *
 * Taking back: a node whose connection reclaimed the earlier run's Janus session still has every
 * handle, room, remote publisher, forwarder and mountpoint that run made there, with the media on
 * them. Each stream, cascade, mountpoint and player is rebuilt around those ids, and its handle
 * watched again, without one request that could disturb the media. A node that could not reclaim
 * (Janus restarted, or the session timed out) lost its state: what was on it is reported gone, and
 * its rooms and mountpoints are swept as at any start.
 *
 * Janus's events while nobody listened are lost, so `reconcile` asks Janus about what an event
 * would have said: a publisher that left meanwhile ends its stream, a player that hung up is ended.
 */
import type { Owner } from '../api/index.ts';
import * as st from '../janus/streaming.ts';
import * as vr from '../janus/videoroom.ts';
import type { MountRecord, PlayerRecord, RelayRecord, StreamRecord } from '../state/journal.ts';
import { Cascade } from './cascade.ts';
import { Forward } from './forward.ts';
import type { EndStatus, MediaContext, MediaNode, MediaNodes } from './context.ts';
import { Mount, type MountSource } from './mount.ts';
import type { PlaySource } from './mounts.ts';
import type { Player } from './player.ts';
import { Relay } from './relay.ts';
import type { Stream } from './stream.ts';

/** Who owns what a record names: a link's (waiting for its `bind`) or the bridge's own resources. */
export type OwnerKind = 'link' | 'resource';

// ---------------------------------------------------------------- writing

/** How records name owners and ufrags (the API's resource registry knows them). */
export interface Recorder {
  ownerKind(owner: Owner): OwnerKind;
  ufragOf(id: string): string | undefined;
}

/**
 * The journal records of `streams`: each live stream with its ready cascades, its forwards and
 * mountpoints and its players that have a handle. What is still being set up is left out (a
 * restart fails it, as the client's request did not complete).
 */
export function records(streams: Iterable<Stream>, r: Recorder): StreamRecord[] {
  const out: StreamRecord[] = [];
  for (const s of streams) {
    if (!s.live || s.handle === undefined || s.publisherId === undefined || s.configuredAt === undefined) continue;
    const ufrag = r.ufragOf(s.publishId);
    out.push({
      publishId: s.publishId,
      name: s.name,
      owner: r.ownerKind(s.owner),
      ...(ufrag === undefined ? {} : { ufrag }),
      node: s.node.id,
      room: s.room,
      handle: s.handle.id,
      publisherId: s.publisherId,
      streams: [...s.streams],
      configuredAt: s.configuredAt,
      publishing: s.state === 'publishing',
      cascades: [...s.cascades.values()].flatMap((c) => {
        const remotePublisherId = c.remotePublisherId;
        return remotePublisherId === undefined ? [] : [{ node: c.node.id, remoteId: c.remoteId, remotePublisherId }];
      }),
      forwards: [...s.forwards.values()].map((f) => ({ forwardId: f.remoteId, edge: f.edge })),
      mounts: mountRecords(s.allMounts()),
      players: playerRecords(s.allPlayers(), r),
    });
  }
  return out;
}

/** The journal records of an agent's copies on its edges that are ready, with their mountpoints and players. */
export function relayRecords(relays: Iterable<Relay>, r: Recorder): RelayRecord[] {
  const out: RelayRecord[] = [];
  for (const x of relays) {
    const t = x.target;
    if (x.state !== 'ready' || t === undefined) continue;
    out.push({
      node: x.node.id,
      stream: x.name,
      room: x.room,
      streams: [...x.streams],
      remotePublisherId: t.remotePublisherId,
      port: t.port,
      rtcpPort: t.rtcpPort,
      mounts: mountRecords(x.mounts),
      players: playerRecords(x.players, r),
    });
  }
  return out;
}

function mountRecords(mounts: Iterable<Mount>): MountRecord[] {
  return [...mounts].flatMap((m) =>
    m.state === 'ready' && m.id !== undefined
      ? [{ node: m.node.id, id: m.id, feed: m.feed, profile: m.profile.map((t) => ({ type: t.type, mid: t.mid, codec: t.codec, pt: t.pt, ...(t.fmtp === undefined ? {} : { fmtp: t.fmtp }) })), forwarders: [...m.forwarders] }]
      : [],
  );
}

function playerRecords(players: Iterable<Player>, r: Recorder): PlayerRecord[] {
  return [...players].flatMap((p) => {
    const state = p.state;
    const handle = p.handle;
    const mountId = p.mount?.id;
    if (handle === undefined || mountId === undefined || (state !== 'offered' && state !== 'starting' && state !== 'started' && state !== 'playing')) return [];
    const ufrag = r.ufragOf(p.playId);
    // `starting`: the answer is on its way to Janus, not acknowledged: a restart takes it back as
    // waiting for it (the worker sends it again; Janus says whether it had it).
    const recorded = state === 'starting' ? 'offered' : state;
    return [{ playId: p.playId, owner: r.ownerKind(p.owner), ...(ufrag === undefined ? {} : { ufrag }), node: p.node.id, handle: handle.id, mount: mountId, state: recorded }];
  });
}

// ---------------------------------------------------------------- taking back

export interface AdoptDeps {
  ctx: MediaContext;
  nodes: MediaNodes;
  ownerOf(kind: OwnerKind): Owner;
  /** Makes and registers a stream (the registry's own constructor call). */
  newStream(rec: StreamRecord, owner: Owner, node: MediaNode): Stream;
  /** Makes and registers a player. */
  newPlayer(playId: string, owner: Owner, source: PlaySource): Player;
  /** A resource (WHIP/WHEP) publish or play was taken back: the API's resource registry learns it again. */
  resourceAdopted(kind: 'publish' | 'play', id: string, stream: string, ufrag: string | undefined): void;
}

export interface Gone {
  id: string;
  status: EndStatus;
  info: string;
  /** UNAVAILABLE: the bridge lost it (worth a retry). */
  code?: 'UNAVAILABLE';
}

const lost = (node: string): string => `node "${node}" lost its Janus state while the bridge was away`;

/** Rebuilds what the records name on the nodes that reclaimed their sessions; returns what is gone. */
export function adopt(deps: AdoptDeps, recs: readonly StreamRecord[]): { streams: Stream[]; gone: Gone[] } {
  const { ctx } = deps;
  const streams: Stream[] = [];
  const gone: Gone[] = [];
  for (const rec of recs) {
    const origin = nodeOf(deps.nodes, rec.node);
    if (origin === undefined || !origin.reclaimed) {
      gone.push({ id: rec.publishId, status: 'FAILED', info: lost(rec.node) });
      for (const p of rec.players) gone.push({ id: p.playId, status: 'STOPPED', info: `the stream ended: ${lost(rec.node)}` });
      continue;
    }
    const owner = deps.ownerOf(rec.owner);
    const s = deps.newStream(rec, owner, origin);
    s.adopt({
      room: rec.room,
      handle: origin.adoptHandle('videoroom', rec.handle),
      publisherId: rec.publisherId,
      streams: rec.streams,
      configuredAt: rec.configuredAt,
      publishing: rec.publishing,
    });
    if (rec.owner === 'resource') deps.resourceAdopted('publish', rec.publishId, rec.name, rec.ufrag);
    for (const c of rec.cascades) {
      const edge = nodeOf(deps.nodes, c.node);
      if (edge?.reclaimed === true) {
        s.cascades.set(edge.id, Cascade.adopt(ctx, s, edge, c));
        continue;
      }
      // The edge lost its remote publisher: the origin stops forwarding to it, and the edge is
      // cascaded afresh when it is (back) up.
      void ctx.quietly(
        vr.unpublishRemotely(origin.control, { room: rec.room, publisherId: rec.publisherId, remoteId: c.remoteId, adminKey: ctx.adminKey }, ctx.rq),
        `unpublish_remotely ${c.remoteId}`,
      );
    }
    // An agent's forwards: the coordinator stops the one to an edge that lost its copy.
    for (const f of rec.forwards) s.forwards.set(f.forwardId, Forward.adopt(ctx, s, f.forwardId, f.edge));
    /** What players on `node` play from: the stream on its origin, an edge's copy elsewhere. */
    const sourceOn = (node: MediaNode): (PlaySource & MountSource) | undefined => (node === origin ? s : s.cascades.get(node.id)?.relay);
    adoptViewers(deps, rec.name, sourceOn, rec.mounts, rec.players, gone);
    // A mountpoint whose players did not come back (they were still joining, or their node lost its state) goes.
    s.dropIdleMounts();
    streams.push(s);
  }
  return { streams, gone };
}

/** Rebuilds an agent's copies on its edges from their records, as `adopt` does streams. */
export function adoptRelays(deps: AdoptDeps, recs: readonly RelayRecord[]): { relays: Relay[]; gone: Gone[] } {
  const relays: Relay[] = [];
  const gone: Gone[] = [];
  for (const rec of recs) {
    const node = nodeOf(deps.nodes, rec.node);
    if (node === undefined || !node.reclaimed) {
      for (const p of rec.players) gone.push({ id: p.playId, status: 'FAILED', info: lost(rec.node) });
      continue;
    }
    const r = Relay.adopt(deps.ctx, rec.stream, rec.room, rec.streams, node, rec.remotePublisherId, { port: rec.port, rtcpPort: rec.rtcpPort });
    adoptViewers(deps, rec.stream, (n) => (n === node ? r : undefined), rec.mounts, rec.players, gone);
    r.mounts.dropIdle();
    relays.push(r);
  }
  return { relays, gone };
}

/** Takes back the mountpoints and players of one stream's sources; a player whose mountpoint is not there is gone. */
function adoptViewers(
  deps: AdoptDeps,
  stream: string,
  sourceOn: (node: MediaNode) => (PlaySource & MountSource) | undefined,
  mountRecs: readonly MountRecord[],
  playerRecs: readonly PlayerRecord[],
  gone: Gone[],
): void {
  const mounts = new Map<string, { mount: Mount; source: PlaySource }>();
  for (const m of mountRecs) {
    const node = nodeOf(deps.nodes, m.node);
    const source = node?.reclaimed === true ? sourceOn(node) : undefined;
    if (node === undefined || source === undefined) continue;
    const mount = new Mount(deps.ctx, source, node, m.profile.map((t) => ({ ...t, fmtp: t.fmtp })), m.feed);
    mount.adopt(m.id, m.forwarders);
    source.mounts.adopt(mount);
    mounts.set(`${node.id}/${m.id}`, { mount, source });
  }
  for (const p of playerRecs) {
    const node = nodeOf(deps.nodes, p.node);
    const at = node === undefined ? undefined : mounts.get(`${node.id}/${p.mount}`);
    if (node === undefined || at === undefined) {
      gone.push({ id: p.playId, status: 'FAILED', info: lost(p.node) });
      continue;
    }
    const player = deps.newPlayer(p.playId, deps.ownerOf(p.owner), at.source);
    player.adopt(node.adoptHandle('streaming', p.handle), at.mount, p.state);
    at.source.players.add(player);
    if (p.owner === 'resource') deps.resourceAdopted('play', p.playId, stream, p.ufrag);
  }
}

function nodeOf(nodes: MediaNodes, id: string): MediaNode | undefined {
  try {
    return nodes.get(id);
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------- checking against Janus

/** How long after taking back Janus's statistics are watched for what the lost events said. */
export const ADOPTED_WATCH_MS = 10_000;
/** How often they are read meanwhile. */
const WATCH_PERIOD_MS = 250;

/**
 * Reads Janus's statistics for what the lost media events said (`ctx.janusStats`; Janus reports
 * every handle with a PeerConnection once per stats period):
 * - a publisher whose statistics say nothing comes in gets the no-media timeout, as on Janus's own
 *   "not receiving" event (it vanished while nobody listened); one with bytes in is fine;
 * - a player whose answer Janus had taken and that Janus now sends media to is PLAYING (its
 *   `webrtcup` came while nobody listened).
 * Runs in the background for ADOPTED_WATCH_MS; without statistics it does nothing. Whether a player
 * hung up meanwhile is asked of Janus directly (`reconcile`), not inferred from statistics.
 */
export function watchAdopted(ctx: MediaContext, streams: readonly Stream[], relayPlayers: readonly Player[], since: number): void {
  const stats = ctx.janusStats;
  if (stats === undefined || (streams.length === 0 && relayPlayers.length === 0)) return;
  const publishers = new Set(streams);
  const all = [...streams.flatMap((s) => s.allPlayers()), ...relayPlayers];
  /**
   * Players whose answer Janus had taken, or may have (taken back waiting for it): their `webrtcup`
   * may have come while nobody listened; bytes out say it did.
   */
  const starting = new Set(all.filter(isStarting));
  /** Fresh statistics of a handle, reported since `since`. */
  const fresh = (handle: { id: number } | undefined): ReturnType<typeof stats.bitrate> => {
    const b = handle === undefined ? undefined : stats.bitrate(handle.id);
    return b !== undefined && b.at >= since ? b : undefined;
  };
  const timer = setInterval(() => {
    for (const s of publishers) {
      const b = s.ended ? undefined : fresh(s.handle);
      if (s.ended || s.handle === undefined) publishers.delete(s);
      if (b === undefined) continue;
      const receiving = b.in.audio + b.in.video > 0;
      s.mediaReport(receiving);
      if (receiving) publishers.delete(s);
    }
    for (const p of starting) {
      const b = fresh(p.handle);
      if (!isStarting(p)) starting.delete(p);
      else if (b !== undefined && b.out.audio + b.out.video > 0) {
        starting.delete(p);
        p.markPlaying();
      }
    }
    if ((publishers.size === 0 && starting.size === 0) || Date.now() - since > ADOPTED_WATCH_MS) clearInterval(timer);
  }, WATCH_PERIOD_MS);
  timer.unref();
}

function isStarting(p: Player): boolean {
  return p.state === 'offered' || p.state === 'starting' || p.state === 'started';
}

/** How many players are asked about at once after a restart. */
const PROBE_CONCURRENCY = 16;

/**
 * Asks Janus what the lost events would have said. Never throws: a node that does not answer is
 * left as it is (its own events still come).
 * - A publisher that is no longer in its room, or no longer publishing there (it hung up while
 *   nobody listened), ends its stream and its players.
 * - A player that is no longer on its mountpoint (its PeerConnection hung up while nobody
 *   listened) is STOPPED; the others play on.
 */
export async function reconcile(ctx: MediaContext, streams: readonly Stream[], relayPlayers: readonly Player[]): Promise<void> {
  await Promise.all(
    streams.map(async (s) => {
      if (s.ended) return;
      let participants: vr.Participant[];
      try {
        participants = await vr.listParticipants(s.node.control, s.room, ctx.rq);
      } catch (err) {
        ctx.log.warn('reconcile: cannot list the participants of a stream taken back', { stream: s.name, err });
        return;
      }
      const me = participants.find((p) => p.id === s.publisherId);
      if (me?.publisher === true) return;
      ctx.log.info('reconcile: the publisher left while the bridge was away', { stream: s.name, publishId: s.publishId });
      await s.close({ status: 'UNPUBLISHED', info: 'the publisher left while the bridge was away', notifyOwner: true });
    }),
  );
  const queue = [...streams.filter((s) => !s.ended).flatMap((s) => s.allPlayers()), ...relayPlayers];
  const probeNext = async (): Promise<void> => {
    for (let p = queue.shift(); p !== undefined; p = queue.shift()) await probe(ctx, p);
  };
  await Promise.all(Array.from({ length: Math.min(PROBE_CONCURRENCY, queue.length) }, probeNext));
}

async function probe(ctx: MediaContext, p: Player): Promise<void> {
  const handle = p.handle;
  if (handle === undefined || (p.state !== 'playing' && !isStarting(p))) return;
  let watching: boolean;
  try {
    watching = await st.isWatching(handle, ctx.rq);
  } catch (err) {
    ctx.log.warn('reconcile: cannot ask Janus about a player taken back', { playId: p.playId, node: p.node.id, err });
    return;
  }
  if (watching) return;
  ctx.log.info('reconcile: the player left while the bridge was away', { playId: p.playId, node: p.node.id });
  await p.close({ status: 'STOPPED', info: 'the player left while the bridge was away' });
}
