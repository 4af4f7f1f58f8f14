/**
 * The load-balancing policies of WCS's `loadbalancing.xml` `mode`, as pure functions.
 * Only edges that are up are candidates; they are ordered by id (numerically: edge-2 < edge-10)
 * so every isolate sees the same order.
 *
 *   ROUNDROBIN        the next edge in turn (`tick` is the shared position)
 *   FEWESTCALLS       the edge with the fewest subscribers (WCS's default)
 *   RANDOM            any edge, uniformly (`random()` in [0, 1))
 *   LESS_LOADED_NODE  the edge with the smallest publishers + subscribers
 *
 * Ties in FEWESTCALLS and LESS_LOADED_NODE rotate with `tick`, so a burst of players arriving
 * before the load figures move is spread over the tied edges instead of piling on the first.
 *
 * Publishers that must be placed (`pickOrigin`: asked at an edge, or at an origin that is down) go
 * to the least loaded origin that is up: the fewest publishers, then the fewest subscribers, ties
 * rotating with `tick` as above.
 */
import type { NodeInfo } from '../../protocol/index.ts';

export const BALANCING_POLICIES = ['ROUNDROBIN', 'FEWESTCALLS', 'RANDOM', 'LESS_LOADED_NODE'] as const;
export type BalancingPolicy = (typeof BALANCING_POLICIES)[number];

export interface PickInput {
  policy: BalancingPolicy;
  nodes: readonly NodeInfo[];
  /** A counter that grows by one per pick, shared by every isolate (the Balancer's). */
  tick: number;
  random: () => number;
}

export type PickResult = { ok: true; node: NodeInfo } | { ok: false; reason: string };

const byId = (a: NodeInfo, b: NodeInfo): number => a.id.localeCompare(b.id, 'en', { numeric: true });

/** The edges that may take players, in a stable order. */
export function healthyEdges(nodes: readonly NodeInfo[]): NodeInfo[] {
  return nodes.filter((n) => n.role === 'edge' && n.up).sort(byId);
}

/** The origins that may take publishers, in a stable order. */
export function healthyOrigins(nodes: readonly NodeInfo[]): NodeInfo[] {
  return nodes.filter((n) => n.role === 'origin' && n.up).sort(byId);
}

/** Picks the origin for a publish that must be placed (the least loaded origin that is up). */
export function pickOrigin(nodes: readonly NodeInfo[], tick: number): PickResult {
  const origins = healthyOrigins(nodes);
  if (origins.length === 0) {
    const all = nodes.filter((n) => n.role === 'origin').sort(byId);
    return { ok: false, reason: all.length === 0 ? 'the topology has no origin node' : `no origin is up: ${all.map((n) => `${n.id} is down`).join(', ')}` };
  }
  const fewestPublishers = Math.min(...origins.map((n) => n.load.publishers));
  const candidates = origins.filter((n) => n.load.publishers === fewestPublishers);
  return { ok: true, node: leastBy(candidates, (n) => n.load.subscribers, Math.max(0, Math.floor(tick))) };
}

/** Why no edge can be chosen (for the 503 body). */
export function noEdgeReason(nodes: readonly NodeInfo[]): string {
  const edges = nodes.filter((n) => n.role === 'edge').sort(byId);
  if (edges.length === 0) return 'the topology has no edge nodes';
  return `no healthy edge: ${edges.map((n) => `${n.id} is down`).join(', ')}`;
}

/** Picks the edge for the next player. */
export function pickEdge(input: PickInput): PickResult {
  const edges = healthyEdges(input.nodes);
  if (edges.length === 0) return { ok: false, reason: noEdgeReason(input.nodes) };
  const tick = Math.max(0, Math.floor(input.tick));
  switch (input.policy) {
    case 'ROUNDROBIN':
      return { ok: true, node: at(edges, tick) };
    case 'RANDOM': {
      const r = input.random();
      const i = Math.min(edges.length - 1, Math.max(0, Math.floor((Number.isFinite(r) ? r : 0) * edges.length)));
      return { ok: true, node: at(edges, i) };
    }
    case 'FEWESTCALLS':
      return { ok: true, node: leastBy(edges, (n) => n.load.subscribers, tick) };
    case 'LESS_LOADED_NODE':
      return { ok: true, node: leastBy(edges, (n) => n.load.publishers + n.load.subscribers, tick) };
  }
}

function leastBy(edges: readonly NodeInfo[], load: (n: NodeInfo) => number, tick: number): NodeInfo {
  const min = Math.min(...edges.map(load));
  return at(
    edges.filter((n) => load(n) === min),
    tick,
  );
}

function at(list: readonly NodeInfo[], i: number): NodeInfo {
  const node = list[i % list.length];
  if (node === undefined) throw new Error('pickEdge: empty candidate list');
  return node;
}

export type PinResult = { ok: true; node: NodeInfo } | { ok: false; code: 'PERMISSION_DENIED' | 'UNAVAILABLE'; reason: string };

/**
 * The pinned-origin rule, for WCS publishes and WHIP alike: a publish token that names a node
 * publishes on that node, which must be an origin, and up.
 */
export function pinnedOrigin(nodes: readonly NodeInfo[], id: string): PinResult {
  const node = nodes.find((n) => n.id === id);
  if (node === undefined || node.role !== 'origin') return { ok: false, code: 'PERMISSION_DENIED', reason: `the token is for node ${id}, which is not an origin` };
  if (!node.up) return { ok: false, code: 'UNAVAILABLE', reason: `${id} (the token's node) is down` };
  return { ok: true, node };
}

/**
 * The pinned-edge rule, for /lb, WHEP and the WCS origin redirect alike: a play token that names a
 * node sends its player to that node, which must be an edge, and up.
 */
export function pinnedEdge(nodes: readonly NodeInfo[], id: string): PinResult {
  const node = nodes.find((n) => n.id === id);
  if (node === undefined || node.role !== 'edge') return { ok: false, code: 'PERMISSION_DENIED', reason: `the token is for node ${id}, which is not an edge` };
  if (!node.up) return { ok: false, code: 'UNAVAILABLE', reason: `${id} (the token's node) is down` };
  return { ok: true, node };
}
