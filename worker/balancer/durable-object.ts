/**
 * The Balancer Durable Object (SQLite-backed): where isolates read the node list, each about once
 * every TABLE_REFRESH_MS into its own table (./node-table.ts, where edges are chosen), never per
 * viewer. It keeps one link per distinct agent URL (./agent-nodes.ts: each asks its agent `nodes`
 * and applies its `node` events), merges their lists by node id (./merge.ts), and persists each
 * agent's last list (so routing still works, degraded, while agents are away).
 *
 * One object for the whole CDN (`balancerFor`), named by its sorted agent URLs: with one bridge
 * that is BRIDGE_URL itself, the name it always had, so an existing deployment keeps its object
 * and its stored lists; configurations with other agents never share an object's state.
 * Callers hand over the AgentMap with every call, as they handed over the bridge URL.
 */
import { DurableObject } from 'cloudflare:workers';
import * as v from 'valibot';
import { CdnError, Errors, Results, type ErrorCode, type Logger, type StreamsResult, type WorkerReport } from '../../protocol/index.ts';
import { connectBridge } from '../bridge-client/index.ts';
import { agentNodeOf, agentUrlsOf, readConfig, type AgentMap, type Env } from '../env.ts';
import { createLogger } from '../log.ts';
import { AgentNodes } from './agent-nodes.ts';
import { mergeLastReports, mergeNodes, mergeStreams, type AgentOutcome, type NodesSnapshot } from './merge.ts';

export { NODES_TIMEOUT_MS, RETRY_AFTER_FAILURE_MS } from './agent-nodes.ts';
export type { NodesSnapshot } from './merge.ts';
/** Dashboards polling at once share one `streams` answer this fresh. */
export const STREAMS_MAX_AGE_MS = 1_000;

/** The agents' view of the CDN: `down` only when no agent answers. */
export type BridgeView =
  | ({ bridge: 'up' } & NodesSnapshot)
  | { bridge: 'down'; code: ErrorCode; reason: string; lastKnown: NodesSnapshot | undefined };

const StoredSnapshot = v.object({
  ...Results.nodes.entries,
  updatedAt: v.number(),
});
const SnapshotRow = v.object({ json: v.string() });

export class Balancer extends DurableObject<Env> {
  readonly #log: Logger = createLogger({ unit: 'balancer' });
  /** The AgentMap of the latest call: which node's credential a link to each agent presents. */
  #agentMap: AgentMap | undefined;
  /** One per configured agent URL. */
  readonly #agents = new Map<string, AgentNodes>();
  #streams: { key: string; at: number; pending: Promise<StreamsResult> } | undefined;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#createTables();
  }

  /** The agents' view of the nodes (fresh, or the reason it is not available). */
  async view(agents: AgentMap): Promise<BridgeView> {
    const outcomes = await this.#ask(agents);
    const merged = mergeNodes(agents, outcomes);
    if (merged !== undefined) return { bridge: 'up', ...merged };
    const { code, reason } = noAnswer(outcomes);
    return { bridge: 'down', code, reason, lastKnown: mergeLastReports(agents, outcomes) };
  }

  /**
   * The live streams with their nodes, viewers and bitrates, and the viewer history (the
   * dashboard), from every agent that answers, merged (./merge.ts), shared by every caller for
   * STREAMS_MAX_AGE_MS.
   * @throws CdnError when no agent can be reached
   */
  async streams(agents: AgentMap): Promise<StreamsResult> {
    const key = JSON.stringify(agents);
    const cached = this.#streams;
    if (cached !== undefined && cached.key === key && Date.now() - cached.at < STREAMS_MAX_AGE_MS) return cached.pending;
    const pending = this.#gatherStreams(agents);
    this.#streams = { key, at: Date.now(), pending };
    pending.catch(() => {
      if (this.#streams?.pending === pending) this.#streams = undefined;
    });
    return pending;
  }

  /**
   * Forgets everything, in memory (its agent links, their lists) and in storage (the lists kept for
   * an eviction), as an eviction with lost storage would: an operator's tool (POST /admin/reset)
   * and the proof that nothing depends on it. It rebuilds from the agents on the next read.
   */
  async reset(): Promise<void> {
    for (const agent of this.#agents.values()) agent.close('the balancer is being reset');
    this.#agents.clear();
    this.#streams = undefined;
    await this.ctx.storage.deleteAll();
    this.#createTables();
  }

  /** Each agent's last node list, kept across evictions. */
  #createTables(): void {
    this.ctx.storage.sql.exec('CREATE TABLE IF NOT EXISTS snapshots (name TEXT PRIMARY KEY, json TEXT NOT NULL)');
  }

  /** Passes a worker counters report on to the agent at `url` (sessions that never had a link of their own). */
  async report(agents: AgentMap, url: string, report: WorkerReport): Promise<void> {
    const agent = this.#sync(agents).find((a) => a.url === url);
    if (agent === undefined) throw new CdnError('INVALID_ARGUMENT', `${url} is not one of the configured agents`);
    await agent.fresh();
    await agent.liveLink().request('metrics', report);
  }

  async #gatherStreams(agents: AgentMap): Promise<StreamsResult> {
    const outcomes = await this.#ask(agents);
    if (!outcomes.some((o) => o.ok)) {
      const { code, reason } = noAnswer(outcomes);
      throw new CdnError(code, reason);
    }
    const asked = await Promise.all(
      outcomes
        .filter((o) => o.ok)
        .map(async (o) => {
          try {
            const agent = this.#agents.get(o.url);
            if (agent === undefined) throw Errors.closed(`the link to ${o.url}`);
            const result = await agent.liveLink().request('streams', {});
            return { url: o.url, result };
          } catch (err) {
            return { url: o.url, error: CdnError.from(err) };
          }
        }),
    );
    const answers = asked.flatMap((a) => ('result' in a ? [{ url: a.url, result: a.result }] : []));
    const merged = mergeStreams(agents, answers);
    if (merged !== undefined) return merged;
    const first = asked.find((a) => 'error' in a);
    throw first !== undefined && 'error' in first ? first.error : Errors.bridgeUnavailable('no agent answered "streams"');
  }

  /** Every configured agent's node list, or why it has none, in agentUrlsOf order. */
  #ask(agents: AgentMap): Promise<AgentOutcome[]> {
    const all = this.#sync(agents);
    // With several agents, one that has failed must not hold up the view of the others (see
    // AgentNodes.fresh); with one, its callers wait for its retry as they always did.
    const waitForRetry = all.length === 1;
    return Promise.all(
      all.map((agent) =>
        agent.fresh(waitForRetry).then(
          (snapshot): AgentOutcome => ({ url: agent.url, ok: true, snapshot }),
          (err: unknown): AgentOutcome => {
            const e = CdnError.from(err);
            const failure = agent.failure;
            return { url: agent.url, ok: false, error: { code: e.code, message: e.message }, since: failure?.since ?? Date.now(), lastReported: agent.lastReported() };
          },
        ),
      ),
    );
  }

  /** The agents `agents` configures, in agentUrlsOf order; links to agents no longer configured are closed. */
  #sync(agents: AgentMap): AgentNodes[] {
    this.#agentMap = agents;
    const urls = agentUrlsOf(agents);
    for (const [url, agent] of this.#agents) {
      if (urls.includes(url)) continue;
      agent.close('agent no longer configured');
      this.#agents.delete(url);
    }
    return urls.map((url) => {
      let agent = this.#agents.get(url);
      if (agent === undefined) {
        agent = new AgentNodes(url, {
          open: (to, handlers) => {
            const config = readConfig(this.env);
            // The node is the one the callers' latest AgentMap gives this URL (the object's own env may not list it).
            return connectBridge({ url: to, secret: config.bridgeSecret, agentNode: agentNodeOf(this.#agentMap ?? agents, to), timeoutMs: config.bridgeRequestTimeoutMs, log: this.#log, ...handlers });
          },
          save: (to, snap) => this.#saveSnapshot(to, snap),
          load: (to) => this.#loadSnapshot(to),
          log: this.#log,
        });
        this.#agents.set(url, agent);
      }
      return agent;
    });
  }

  #saveSnapshot(url: string, snap: NodesSnapshot): void {
    this.ctx.storage.sql.exec(
      'INSERT INTO snapshots (name, json) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET json = excluded.json',
      snapshotName(url),
      JSON.stringify(snap),
    );
  }

  #loadSnapshot(url: string): NodesSnapshot | undefined {
    const row = this.ctx.storage.sql.exec('SELECT json FROM snapshots WHERE name = ?', snapshotName(url)).toArray()[0];
    if (row === undefined) return undefined;
    try {
      const parsed = v.safeParse(StoredSnapshot, JSON.parse(v.parse(SnapshotRow, row).json));
      return parsed.success ? { ...parsed.output, nodes: [...parsed.output.nodes] } : undefined;
    } catch (err) {
      this.#log.warn('ignoring an unreadable stored node list', { agent: url, err });
      return undefined;
    }
  }
}

/** The row an agent's last node list is kept in. */
function snapshotName(url: string): string {
  return `nodes ${url}`;
}

/** Why no agent answered: with one agent, its own error; with several, each one's. */
function noAnswer(outcomes: readonly AgentOutcome[]): { code: ErrorCode; reason: string } {
  const failures = outcomes.flatMap((o) => (o.ok ? [] : [o.error]));
  const first = failures[0];
  if (first === undefined) return { code: 'UNAVAILABLE', reason: 'no agent is configured' };
  if (failures.length === 1) return { code: first.code, reason: first.message };
  return { code: first.code, reason: `no agent answers: ${[...new Set(failures.map((f) => f.message))].join('; ')}` };
}

/** The one Balancer of the CDN `agents` describes (its name: the sorted agent URLs). */
export function balancerFor(env: Env, agents: AgentMap): DurableObjectStub<Balancer> {
  return env.BALANCER.get(env.BALANCER.idFromName(balancerName(agents)));
}

/** The Balancer's name: with one agent, its URL (the name the one bridge's object always had). */
export function balancerName(agents: AgentMap): string {
  return agentUrlsOf(agents).sort().join(' ');
}
