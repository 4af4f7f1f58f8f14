/**
 * The Balancer Durable Object (SQLite-backed): the one place every isolate asks for the node list
 * and for the edge a player should use. It keeps a bridge link open and applies the bridge's `node`
 * events to its cached list (it is the only link that asks `nodes`, so the only one they reach),
 * persists the round-robin position (so it survives eviction and is shared by every isolate) and
 * the last node list it saw (so routing still works, degraded, while the bridge is away). One
 * object per bridge URL (`balancerFor`).
 */
import { DurableObject } from 'cloudflare:workers';
import * as v from 'valibot';
import { CdnError, Errors, Results, type Result, type ErrorCode, type Logger, type NodeInfo, type StreamsResult, type WorkerReport } from '../../protocol/index.ts';
import { connectBridge, type BridgeClient } from '../bridge-client/index.ts';
import { readConfig, type Env } from '../env.ts';
import { createLogger } from '../log.ts';
import { healthyEdges, noEdgeReason, pickEdge, type BalancingPolicy } from './policy.ts';

/**
 * A cached node list older than this is re-read from the bridge even with the link open, and the
 * read may take NODES_TIMEOUT_MS: a bridge that hangs (its link open, nothing answered) is reported
 * down within their sum, inside the keep-alive bound, instead of every caller waiting on it.
 */
export const SNAPSHOT_MAX_AGE_MS = 5_000;
export const NODES_TIMEOUT_MS = 2_000;
/** After a failed connection, callers get the same error for this long instead of a new attempt. */
export const RETRY_AFTER_FAILURE_MS = 1_000;
/** Dashboards polling at once share one `streams` answer this fresh. */
export const STREAMS_MAX_AGE_MS = 1_000;

export interface NodesSnapshot {
  mode: BalancingPolicy;
  loadBalancing: boolean;
  nodes: NodeInfo[];
  /** Epoch ms of the last `nodes` reply or `node` event. */
  updatedAt: number;
}

/** The bridge's view of the CDN, or why it cannot be had. */
export type BridgeView =
  | ({ bridge: 'up' } & NodesSnapshot)
  | { bridge: 'down'; code: ErrorCode; reason: string; lastKnown: NodesSnapshot | undefined };

/** The node a player should use, or why there is none. */
export type EdgeChoice =
  | { ok: true; node: NodeInfo; policy: BalancingPolicy | 'NONE' }
  | { ok: false; code: ErrorCode; reason: string };

const StoredSnapshot = v.object({ ...Results.nodes.entries, updatedAt: v.number() });
const CounterRow = v.object({ value: v.number() });
const SnapshotRow = v.object({ json: v.string() });

export class Balancer extends DurableObject<Env> {
  readonly #log: Logger = createLogger({ unit: 'balancer' });
  #bridgeUrl: string | undefined;
  #link: BridgeClient | undefined;
  #snapshot: NodesSnapshot | undefined;
  #refreshing: Promise<NodesSnapshot> | undefined;
  #lastFailure: { at: number; error: CdnError } | undefined;
  #streams: { at: number; pending: Promise<StreamsResult> } | undefined;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    ctx.storage.sql.exec('CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL)');
    ctx.storage.sql.exec('CREATE TABLE IF NOT EXISTS snapshots (name TEXT PRIMARY KEY, json TEXT NOT NULL)');
  }

  /** The bridge's view of the nodes (fresh, or the reason it is not available). */
  async view(bridgeUrl: string): Promise<BridgeView> {
    try {
      return { bridge: 'up', ...(await this.#fresh(bridgeUrl)) };
    } catch (err) {
      const e = CdnError.from(err);
      return { bridge: 'down', code: e.code, reason: e.message, lastKnown: this.#snapshot ?? this.#loadSnapshot() };
    }
  }

  /**
   * The node a player should use: an edge by the topology's policy when load balancing is on,
   * the origin itself when it is off.
   */
  async choose(bridgeUrl: string): Promise<EdgeChoice> {
    let snap: NodesSnapshot;
    try {
      snap = await this.#fresh(bridgeUrl);
    } catch (err) {
      const e = CdnError.from(err);
      return { ok: false, code: e.code, reason: Errors.bridgeUnavailable(e.message).message };
    }
    if (!snap.loadBalancing) {
      const origin = snap.nodes.find((n) => n.role === 'origin');
      if (origin === undefined) return { ok: false, code: 'FAILED_PRECONDITION', reason: 'the topology has no origin node' };
      return { ok: true, node: origin, policy: 'NONE' };
    }
    // The shared position only moves when a pick happens.
    if (healthyEdges(snap.nodes).length === 0) return { ok: false, code: 'UNAVAILABLE', reason: noEdgeReason(snap.nodes) };
    const picked = pickEdge({ policy: snap.mode, nodes: snap.nodes, tick: this.#nextTick(), random: Math.random });
    return picked.ok ? { ok: true, node: picked.node, policy: snap.mode } : { ok: false, code: 'UNAVAILABLE', reason: picked.reason };
  }

  /**
   * The live streams with their nodes, viewers and bitrates, and the viewer history (the
   * dashboard), shared by every caller for STREAMS_MAX_AGE_MS.
   * @throws CdnError when the bridge cannot be reached
   */
  async streams(bridgeUrl: string): Promise<StreamsResult> {
    const cached = this.#streams;
    if (cached !== undefined && this.#bridgeUrl === bridgeUrl && Date.now() - cached.at < STREAMS_MAX_AGE_MS) return cached.pending;
    const pending = this.#fresh(bridgeUrl).then(() => this.#liveLink().request('streams', {}));
    this.#streams = { at: Date.now(), pending };
    pending.catch(() => {
      if (this.#streams?.pending === pending) this.#streams = undefined;
    });
    return pending;
  }

  /** Passes a worker counters report on to the bridge (sessions that never had a link of their own). */
  async report(bridgeUrl: string, report: WorkerReport): Promise<void> {
    await this.#fresh(bridgeUrl);
    await this.#liveLink().request('metrics', report);
  }

  /** The open bridge link (`#fresh` has just made sure there is one). */
  #liveLink(): BridgeClient {
    const link = this.#link;
    if (link === undefined || link.closed) throw Errors.closed('the bridge link');
    return link;
  }

  /** The shared position: 0, 1, 2, ... across every caller and every restart. */
  #nextTick(): number {
    const row = this.ctx.storage.sql
      .exec(
        "INSERT INTO counters (name, value) VALUES ('tick', 1) ON CONFLICT (name) DO UPDATE SET value = value + 1 RETURNING value",
      )
      .one();
    return v.parse(CounterRow, row).value - 1;
  }

  async #fresh(bridgeUrl: string): Promise<NodesSnapshot> {
    if (this.#bridgeUrl !== bridgeUrl) {
      this.#link?.close('bridge URL changed');
      this.#link = undefined;
      this.#snapshot = undefined;
      this.#lastFailure = undefined;
      this.#bridgeUrl = bridgeUrl;
    }
    const snap = this.#snapshot;
    if (snap !== undefined && this.#link !== undefined && !this.#link.closed && Date.now() - snap.updatedAt < SNAPSHOT_MAX_AGE_MS) {
      return snap;
    }
    const failure = this.#lastFailure;
    if (failure !== undefined && Date.now() - failure.at < RETRY_AFTER_FAILURE_MS) throw failure.error;
    // The last try failed and a new one is under way (a hung bridge keeps it for the whole connect
    // timeout): callers hear the failure now rather than wait on it.
    if (failure !== undefined && this.#refreshing !== undefined) throw failure.error;
    this.#refreshing ??= this.#refresh(bridgeUrl).finally(() => {
      this.#refreshing = undefined;
    });
    return this.#refreshing;
  }

  async #refresh(bridgeUrl: string): Promise<NodesSnapshot> {
    try {
      const link = this.#link !== undefined && !this.#link.closed ? this.#link : await this.#connect(bridgeUrl);
      let result: Result<'nodes'>;
      try {
        result = await link.request('nodes', {}, NODES_TIMEOUT_MS);
      } catch (err) {
        // A link that stopped answering is given up; the next caller after RETRY_AFTER_FAILURE_MS opens a new one.
        if (CdnError.from(err).code === 'TIMEOUT') link.abandon(`no answer to "nodes" within ${NODES_TIMEOUT_MS} ms`);
        throw err;
      }
      const snap: NodesSnapshot = { ...result, nodes: [...result.nodes], updatedAt: Date.now() };
      this.#snapshot = snap;
      this.#lastFailure = undefined;
      this.#saveSnapshot(snap);
      return snap;
    } catch (err) {
      const error = CdnError.from(err);
      this.#lastFailure = { at: Date.now(), error };
      this.#log.warn('cannot read the node list from the bridge', { err: error });
      throw error;
    }
  }

  async #connect(bridgeUrl: string): Promise<BridgeClient> {
    const config = readConfig(this.env);
    const link = await connectBridge({
      url: bridgeUrl,
      secret: config.bridgeSecret,
      timeoutMs: config.bridgeRequestTimeoutMs,
      log: this.#log,
      onEvent: (event) => {
        if (event.event !== 'node' || this.#link !== link || this.#snapshot === undefined) return;
        const nodes = this.#snapshot.nodes.filter((n) => n.id !== event.node.id);
        nodes.push(event.node);
        this.#snapshot = { ...this.#snapshot, nodes, updatedAt: Date.now() };
        this.#saveSnapshot(this.#snapshot);
      },
      onClose: (reason) => {
        if (this.#link === link) this.#link = undefined;
        this.#log.info('balancer bridge link closed', { err: reason });
      },
    });
    this.#link = link;
    return link;
  }

  #saveSnapshot(snap: NodesSnapshot): void {
    this.ctx.storage.sql.exec(
      "INSERT INTO snapshots (name, json) VALUES ('nodes', ?) ON CONFLICT (name) DO UPDATE SET json = excluded.json",
      JSON.stringify(snap),
    );
  }

  #loadSnapshot(): NodesSnapshot | undefined {
    const row = this.ctx.storage.sql.exec("SELECT json FROM snapshots WHERE name = 'nodes'").toArray()[0];
    if (row === undefined) return undefined;
    try {
      const parsed = v.safeParse(StoredSnapshot, JSON.parse(v.parse(SnapshotRow, row).json));
      return parsed.success ? { ...parsed.output, nodes: [...parsed.output.nodes] } : undefined;
    } catch (err) {
      this.#log.warn('ignoring an unreadable stored node list', { err });
      return undefined;
    }
  }
}

/** The Balancer for `bridgeUrl` (one object per bridge). */
export function balancerFor(env: Env, bridgeUrl: string): DurableObjectStub<Balancer> {
  return env.BALANCER.get(env.BALANCER.idFromName(bridgeUrl));
}
