/**
 * What the metrics and the dashboard read of the media layer, as shares: one stream on one node,
 * with that node's players of it. A bridge that drives every node holds each stream whole (its
 * origin publisher, its cascades to the edges, every player); an agent that drives one node holds
 * only its node's part: on the origin its streams and their forwards, on an edge its copies of
 * streams (made at the coordinator's request) and their players. Both read as the same shares, so
 * each agent's figures are its node's and the sum over the agents is the bridge's.
 */
import type { StreamSnapshot } from '../media/index.ts';
import type { Bitrate, NodeInfo, StreamInfo, StreamNodeInfo } from '../../protocol/index.ts';
import { sumBitrates } from './janus-stats.ts';

export type PlayerView = StreamSnapshot['players'][number];

/**
 * A live stream of this process's origin. `forwards` are an origin agent's forwards to edges'
 * copies (a bridge cascades instead, in `edges`); optional until the media layer reports them.
 */
export type StreamView = StreamSnapshot & { readonly forwards?: ReadonlyArray<{ readonly edge: string }> };

/** An edge's copy of a stream, held by that edge's agent. */
export interface CopyView {
  readonly name: string;
  readonly node: string;
  /**
   * The origin that feeds it, when the edge knows it; optional because the coordinator's `relay`
   * does not name the stream's origin (protocol/api.ts), so an edge's agent learns it nowhere yet.
   */
  readonly origin?: string | undefined;
  readonly state: 'pending' | 'ready' | 'failed';
  readonly players: readonly PlayerView[];
}

/**
 * The media layer as the metrics read it. `relays` lists an edge agent's copies; optional until
 * the media layer exposes them (a bridge holds none: its cascades are in each stream's `edges`).
 */
export interface MediaView {
  streams(): StreamView[];
  relays?(): CopyView[];
}

/** The nodes as the metrics read them: the ones this process drives, and the topology's origins. */
export interface NodesView {
  snapshot(): NodeInfo[];
  /** Every origin of the topology, in its order. */
  readonly originIds: readonly string[];
}

/**
 * StreamInfo.origin of a copy whose origin this process cannot tell: an edge's agent of a topology
 * with several origins, whose copy does not name its origin. The schema's `origin` is any string,
 * and no node id is empty (bridge/topology's NODE_ID_PATTERN). The worker's merge takes the origin
 * from the publisher side's answer, so this shows only while the origin's agent cannot be reached.
 */
export const UNKNOWN_ORIGIN = '';

export interface Share {
  readonly stream: string;
  readonly node: string;
  readonly role: 'origin' | 'edge';
  readonly state: StreamNodeInfo['state'];
  /** The players whose Janus handle is attached: the viewers. */
  readonly viewers: readonly PlayerView[];
  /** The stream's origin: the publishing node on an origin share, a copy's own when it knows it. */
  readonly origin?: string | undefined;
}

const attached = (players: readonly PlayerView[], node: string): PlayerView[] => players.filter((p) => p.node === node && p.handle !== undefined);

/** Every share this process holds: each stream on its origin and on every edge it cascades to, then each copy. */
export function sharesOf(streams: readonly StreamView[], copies: readonly CopyView[]): Share[] {
  const out: Share[] = [];
  const seen = new Set<string>();
  const add = (share: Share): void => {
    const key = `${share.stream}\n${share.node}`;
    if (seen.has(key)) return;
    seen.add(key);
    out.push(share);
  };
  for (const s of streams) {
    add({ stream: s.name, node: s.origin, role: 'origin', state: 'ready', viewers: attached(s.players, s.origin), origin: s.origin });
    for (const e of s.edges) add({ stream: s.name, node: e.node, role: 'edge', state: e.state, viewers: attached(s.players, e.node), origin: s.origin });
  }
  for (const c of copies) add({ stream: c.name, node: c.node, role: 'edge', state: c.state, viewers: attached(c.players, c.node), origin: c.origin });
  return out;
}

/** Streams relayed to each edge this process knows, by state: a bridge's cascades, or an edge agent's copies. */
export function cascadeCounts(nodes: readonly NodeInfo[], shares: readonly Share[]): Map<string, { pending: number; ready: number }> {
  const counts = new Map<string, { pending: number; ready: number }>();
  for (const n of nodes) if (n.role === 'edge') counts.set(n.id, { pending: 0, ready: 0 });
  for (const s of shares) {
    if (s.role !== 'edge') continue;
    const c = counts.get(s.node) ?? { pending: 0, ready: 0 };
    if (s.state === 'pending' || s.state === 'ready') c[s.state]++;
    counts.set(s.node, c);
  }
  return counts;
}

/** The origin's forwards to each edge (an origin agent's). */
export function forwardCounts(streams: readonly StreamView[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const s of streams) for (const f of s.forwards ?? []) counts.set(f.edge, (counts.get(f.edge) ?? 0) + 1);
  return counts;
}

/** The dashboard's sample: viewers on every share, and streams live here (published on this origin, or copied to this edge). */
export function sampleOf(streams: readonly StreamView[], shares: readonly Share[]): { viewers: number; streams: number } {
  const names = new Set(streams.filter((s) => s.configuredAt !== undefined).map((s) => s.name));
  for (const s of shares) if (s.role === 'edge' && s.state === 'ready') names.add(s.stream);
  return { viewers: shares.reduce((sum, s) => sum + s.viewers.length, 0), streams: names.size };
}

/**
 * The `streams` answer (the dashboard, merged over the agents by the worker's Balancer): each
 * stream of this origin with its shares, then each stream only copied here, with this edge's
 * share. A copy knows nothing of the publisher: `since` 0 and `publishing` false, which the merge
 * replaces by the origin agent's figures. Its origin is the one the copy names, else the
 * topology's only origin, else UNKNOWN_ORIGIN (several origins, and any of them may feed it).
 */
export function streamInfos(
  streams: readonly StreamView[],
  shares: readonly Share[],
  originIds: readonly string[],
  bitrate: (handle: number | undefined) => { in: Bitrate; out: Bitrate } | undefined,
  /** An origin agent's cascade time from its forwards, for a stream the bridge did not cascade. */
  forwardedMs: (s: StreamView) => number | undefined = () => undefined,
): StreamInfo[] {
  const nodeInfo = (s: Share): StreamNodeInfo => {
    const info: StreamNodeInfo = { node: s.node, role: s.role, state: s.state, viewers: s.viewers.length };
    const out = sumBitrates(s.viewers.map((p) => bitrate(p.handle)?.out));
    if (out !== undefined) info.bitrateOut = out;
    return info;
  };
  const sharesByName = new Map<string, StreamNodeInfo[]>();
  const originByName = new Map<string, string>();
  for (const s of shares) {
    const list = sharesByName.get(s.stream) ?? [];
    list.push(nodeInfo(s));
    sharesByName.set(s.stream, list);
    if (s.origin !== undefined && !originByName.has(s.stream)) originByName.set(s.stream, s.origin);
  }
  const onlyOrigin = originIds.length === 1 ? originIds[0] : undefined;
  const copyOrigin = (name: string): string => originByName.get(name) ?? onlyOrigin ?? UNKNOWN_ORIGIN;
  const total = (nodes: readonly StreamNodeInfo[]): number => nodes.reduce((sum, n) => sum + n.viewers, 0);
  const own = streams.map((s): StreamInfo => {
    const nodes = sharesByName.get(s.name) ?? [];
    const bitrateIn = bitrate(s.publisherHandle)?.in;
    const cascadeReadyMs = s.cascadeReadyMs ?? forwardedMs(s);
    return {
      name: s.name,
      origin: s.origin,
      since: s.configuredAt ?? 0,
      publishing: s.publishing,
      ...(bitrateIn === undefined ? {} : { bitrateIn }),
      ...(cascadeReadyMs === undefined ? {} : { cascadeReadyMs }),
      viewers: total(nodes),
      nodes,
    };
  });
  const published = new Set(streams.map((s) => s.name));
  const copied = [...sharesByName].filter(([name]) => !published.has(name));
  return [...own, ...copied.map(([name, nodes]): StreamInfo => ({ name, origin: copyOrigin(name), since: 0, publishing: false, viewers: total(nodes), nodes }))];
}
