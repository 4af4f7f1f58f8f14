/**
 * The isolate's table of nodes: the Balancer's view (./view.ts), kept in this isolate and read again
 * in the background every TABLE_REFRESH_MS, so that a viewer's join (the host lookup of its
 * session, the origin's redirect, /lb, WHEP's 307) makes no Durable Object call once the table is
 * warm. A Durable Object serves about a thousand requests a second; asked once per isolate per
 * refresh instead of three times per viewer, it no longer bounds how fast viewers arrive.
 *
 * Edges are chosen here too (`chooseEdge`), by the topology's policy over the table's loads:
 * - ROUNDROBIN turns per isolate, from the first edge (so isolates add at most one player each to
 *   the first edges' share);
 * - FEWESTCALLS and LESS_LOADED_NODE count, on top of the loads the agents reported, the players
 *   this isolate sent to each edge since the table was read, so a burst into one isolate spreads
 *   at once; what other isolates sent shows at the next read;
 * - RANDOM is the same everywhere.
 * Exactness across isolates would need one counter every viewer asks, which is what this avoids.
 * Publishers to be placed get an origin the same way (`chooseOrigin`, ./policy.ts pickOrigin),
 * counting this isolate's own placements on top of the reported publishers.
 *
 * A table older than TABLE_MAX_AGE_MS (an isolate idle for a while) is read again before it is
 * used; a `down` table is read again after DOWN_REFRESH_MS, so a CDN coming back is seen quickly.
 */
import type { ErrorCode, NodeInfo } from '../../protocol/index.ts';
import { countDoRequest } from '../do-requests.ts';
import type { AgentMap, Env } from '../env.ts';
import { createLogger } from '../log.ts';
import { balancerName, type BridgeView } from './durable-object.ts';
import { pickEdge, pickOrigin, pinnedOrigin, type BalancingPolicy, type PinResult } from './policy.ts';
import { bridgeView, VIEW_WAIT_MS } from './view.ts';

/** How often a table in use is read again (in the background: requests keep using the old one meanwhile). */
export const TABLE_REFRESH_MS = 1_000;
/** A table older than this is read again before a request uses it. */
export const TABLE_MAX_AGE_MS = 10_000;
/** A table that says the CDN is down is read again after this (in the background). */
export const DOWN_REFRESH_MS = 250;

/** A read older than this is given up (bridgeView answers within VIEW_WAIT_MS, so it was cancelled). */
const READ_ABANDONED_MS = VIEW_WAIT_MS + 1_000;

const log = createLogger({ unit: 'node-table' });

/** The node a player should use, or why there is none. */
export type EdgeChoice =
  | { ok: true; node: NodeInfo; policy: BalancingPolicy | 'NONE' | 'LEAST_LOADED_ORIGIN' }
  | { ok: false; code: ErrorCode; reason: string };

interface Table {
  view: BridgeView;
  /** When it was read (epoch ms). */
  at: number;
  /** Players this isolate sent to each edge since it was read. */
  picks: Map<string, number>;
  /** Publishers this isolate placed on each origin since it was read. */
  placed: Map<string, number>;
}

interface Entry {
  table: Table | undefined;
  reading: Promise<Table> | undefined;
  /** When `reading` started: one that outlived READ_ABANDONED_MS (its request ended under it) is not waited for. */
  readingSince: number;
  /** This isolate's round-robin position. */
  tick: number;
}

const entries = new Map<string, Entry>();
export interface TableOptions {
  /** Keeps a background read alive past the request (the request's waitUntil). */
  waitUntil?: ((p: Promise<unknown>) => void) | undefined;
}

/**
 * The nodes `agents` serve, from this isolate's table: at once while it is fresh enough (a stale
 * one starts a read in the background), after a read when there is none or it is too old.
 */
export async function nodeTable(env: Env, agents: AgentMap, opts: TableOptions = {}): Promise<BridgeView> {
  const entry = entryFor(agents);
  const table = entry.table;
  const now = Date.now();
  if (table !== undefined && now - table.at < TABLE_MAX_AGE_MS) {
    const due = table.view.bridge === 'up' ? TABLE_REFRESH_MS : DOWN_REFRESH_MS;
    if (now - table.at >= due && !isReading(entry, now)) {
      countDoRequest('table-background');
      const reading = read(env, agents, entry);
      opts.waitUntil?.(reading);
    }
    return table.view;
  }
  if (isReading(entry, now) && entry.reading !== undefined) return (await entry.reading).view;
  countDoRequest('table-awaited');
  return (await read(env, agents, entry)).view;
}

/**
 * A fresh view, read now (/health and the dashboard want the agents' latest word), which becomes
 * this isolate's table.
 */
export async function freshNodeTable(env: Env, agents: AgentMap): Promise<BridgeView> {
  const entry = entryFor(agents);
  countDoRequest('table-awaited');
  return (await read(env, agents, entry)).view;
}

/**
 * The edge for the next player, from `view` (a table this isolate read): by the topology's policy
 * when load balancing is on, the origin itself when it is off. See the module header for how each
 * policy behaves across isolates.
 */
export function chooseEdge(agents: AgentMap, view: BridgeView): EdgeChoice {
  if (view.bridge !== 'up') return { ok: false, code: view.code, reason: view.reason };
  if (!view.loadBalancing) {
    const origin = view.nodes.find((n) => n.role === 'origin');
    if (origin === undefined) return { ok: false, code: 'FAILED_PRECONDITION', reason: 'the topology has no origin node' };
    return { ok: true, node: origin, policy: 'NONE' };
  }
  const entry = entryFor(agents);
  const picks = entry.table?.view === view ? entry.table.picks : new Map<string, number>();
  const nodes = view.nodes.map((n): NodeInfo => {
    const mine = picks.get(n.id) ?? 0;
    return mine === 0 ? n : { ...n, load: { ...n.load, subscribers: n.load.subscribers + mine } };
  });
  const picked = pickEdge({ policy: view.mode, nodes, tick: entry.tick, random: Math.random });
  if (!picked.ok) return { ok: false, code: 'UNAVAILABLE', reason: picked.reason };
  // The round-robin position only moves when a pick happens.
  entry.tick++;
  picks.set(picked.node.id, (picks.get(picked.node.id) ?? 0) + 1);
  const node = view.nodes.find((n) => n.id === picked.node.id) ?? picked.node;
  return { ok: true, node, policy: view.mode };
}

/**
 * The origin for a publish that must be placed (asked at an edge, or at an origin that is down),
 * from `view` (a table this isolate read): the least loaded origin that is up (./policy.ts).
 */
export function chooseOrigin(agents: AgentMap, view: BridgeView): EdgeChoice {
  if (view.bridge !== 'up') return { ok: false, code: view.code, reason: view.reason };
  const entry = entryFor(agents);
  const placed = entry.table?.view === view ? entry.table.placed : new Map<string, number>();
  const nodes = view.nodes.map((n): NodeInfo => {
    const mine = placed.get(n.id) ?? 0;
    return mine === 0 ? n : { ...n, load: { ...n.load, publishers: n.load.publishers + mine } };
  });
  const picked = pickOrigin(nodes, entry.tick);
  if (!picked.ok) return { ok: false, code: 'UNAVAILABLE', reason: picked.reason };
  placed.set(picked.node.id, (placed.get(picked.node.id) ?? 0) + 1);
  const node = view.nodes.find((n) => n.id === picked.node.id) ?? picked.node;
  return { ok: true, node, policy: 'LEAST_LOADED_ORIGIN' };
}

/** Where a publish asked on a node runs: there, on another origin, or nowhere (and why). */
export type OriginPlace = { ok: true; here: true } | { ok: true; here: false; node: NodeInfo } | { ok: false; code: ErrorCode; reason: string };

/**
 * The placement rule, for WCS publishes and WHIP alike. A token that names a node publishes there
 * (an origin that is up: ./policy.ts pinnedOrigin). Otherwise an origin takes its own publishes
 * while it is up (or when it is the only origin, which then says itself why it cannot); a publish
 * asked at an edge, or at an origin that is down, goes to the origin chooseOrigin picks.
 */
export function placeOrigin(agents: AgentMap, view: BridgeView, here: NodeInfo, pinned: string | undefined): OriginPlace {
  if (pinned === here.id && here.role === 'origin') return { ok: true, here: true };
  const nodes = view.bridge === 'up' ? view.nodes : [];
  if (pinned === undefined && here.role === 'origin') {
    const now = nodes.find((n) => n.id === here.id);
    if (now?.up !== false || nodes.filter((n) => n.role === 'origin').length <= 1) return { ok: true, here: true };
  }
  const choice: EdgeChoice | PinResult = pinned === undefined ? chooseOrigin(agents, view) : view.bridge === 'up' ? pinnedOrigin(view.nodes, pinned) : { ok: false, code: view.code, reason: view.reason };
  if (!choice.ok) return { ok: false, code: choice.code, reason: choice.reason };
  return choice.node.id === here.id ? { ok: true, here: true } : { ok: true, here: false, node: choice.node };
}

/**
 * A read is under way. The runtime may cancel a read whose request ended without waitUntil; one
 * that has taken longer than bridgeView's own bound is taken for lost.
 */
function isReading(entry: Entry, now: number): boolean {
  return entry.reading !== undefined && now - entry.readingSince < READ_ABANDONED_MS;
}

function entryFor(agents: AgentMap): Entry {
  const name = balancerName(agents);
  let entry = entries.get(name);
  if (entry === undefined) {
    entry = { table: undefined, reading: undefined, readingSince: 0, tick: 0 };
    entries.set(name, entry);
  }
  return entry;
}

/** One read of the Balancer's view into `entry` (bridgeView bounds it in time and never throws). */
function read(env: Env, agents: AgentMap, entry: Entry): Promise<Table> {
  const reading = bridgeView(env, agents)
    .then((view): Table => {
      const table: Table = { view, at: Date.now(), picks: new Map(), placed: new Map() };
      entry.table = table;
      return table;
    })
    .finally(() => {
      if (entry.reading === reading) entry.reading = undefined;
    });
  entry.reading = reading;
  entry.readingSince = Date.now();
  reading.catch((err: unknown) => log.warn('the node table could not be read', { err }));
  return reading;
}
