/**
 * One agent's part of the Balancer: its link (the only one that asks it `nodes`, so the only one
 * its `node` events and its reports reach), the node list it last reported, and its last failure.
 * The agent reports its whole list every NODE_REPORT_MS; one that has not reported (nor answered,
 * nor sent an event) for NODE_STALE_MS is stale: its link is given up and its nodes are down until
 * a new link reads them. The Balancer
 * keeps one per distinct agent URL and merges their lists (./merge.ts); each keeps the bounds the
 * single bridge link had, so one agent that hangs or is away costs only its own nodes.
 */
import { CdnError, Errors, NODE_REPORT_MS, NODE_STALE_MS, type BridgeEvent, type Logger, type Result } from '../../protocol/index.ts';
import type { BridgeClient } from '../bridge-client/index.ts';
import type { NodesSnapshot } from './merge.ts';

/** How long a read of the node list (on a new link) may take. */
export const NODES_TIMEOUT_MS = 2_000;
/** After a failed connection, callers get the same error for this long instead of a new attempt. */
export const RETRY_AFTER_FAILURE_MS = 1_000;

export interface AgentNodesDeps {
  /** Opens a link to the agent at `url`. */
  open(url: string, handlers: { onEvent(event: BridgeEvent): void; onClose(reason: CdnError): void }): Promise<BridgeClient>;
  /** Keeps the agent's last node list across evictions of the object. */
  save(url: string, snapshot: NodesSnapshot): void;
  load(url: string): NodesSnapshot | undefined;
  log: Logger;
}

export class AgentNodes {
  readonly url: string;
  readonly #deps: AgentNodesDeps;
  #link: BridgeClient | undefined;
  #snapshot: NodesSnapshot | undefined;
  #stored: { snapshot: NodesSnapshot | undefined } | undefined;
  #refreshing: Promise<NodesSnapshot> | undefined;
  #lastFailure: { at: number; error: CdnError } | undefined;
  /** When it started failing (its nodes are down since then); undefined while it answers. */
  #failingSince: number | undefined;
  #closed = false;

  constructor(url: string, deps: AgentNodesDeps) {
    this.url = url;
    this.#deps = deps;
  }

  /** Since when it has failed to answer, and why (undefined while it answers). */
  get failure(): { since: number; error: CdnError } | undefined {
    const f = this.#lastFailure;
    return f === undefined ? undefined : { since: this.#failingSince ?? f.at, error: f.error };
  }

  /** The node list it last reported: this object's, else the one stored before an eviction. */
  lastReported(): NodesSnapshot | undefined {
    if (this.#snapshot !== undefined) return this.#snapshot;
    this.#stored ??= { snapshot: this.#deps.load(this.url) };
    return this.#stored.snapshot;
  }

  /**
   * Its node list, as last reported (not older than NODE_STALE_MS). `waitForRetry` false: once it has failed, the
   * caller hears that failure at once while the next try runs on (one of several agents must not
   * hold up the others' view for its whole connect timeout); true: the caller that starts the
   * next try waits for it, as the one bridge's callers always did.
   * @throws CdnError when it cannot be reached or does not answer
   */
  fresh(waitForRetry = true): Promise<NodesSnapshot> {
    if (this.#closed) return Promise.reject(Errors.closed(`the link to ${this.url}`));
    const snap = this.#snapshot;
    const link = this.#link;
    if (snap !== undefined && link !== undefined && !link.closed) {
      const silentMs = Date.now() - snap.updatedAt;
      if (silentMs < NODE_STALE_MS) return Promise.resolve(snap);
      this.#stale(link, silentMs);
    }
    const failure = this.#lastFailure;
    if (failure !== undefined && Date.now() - failure.at < RETRY_AFTER_FAILURE_MS) return Promise.reject(failure.error);
    // The last try failed and a new one is under way (a hung agent keeps it for the whole connect
    // timeout): callers hear the failure now rather than wait on it.
    if (failure !== undefined && this.#refreshing !== undefined) return Promise.reject(failure.error);
    const refreshing = this.#startRefresh();
    return failure !== undefined && !waitForRetry ? Promise.reject(failure.error) : refreshing;
  }

  /** The open link (`fresh` has just made sure there is one). */
  liveLink(): BridgeClient {
    const link = this.#link;
    if (link === undefined || link.closed) throw Errors.closed(`the link to ${this.url}`);
    return link;
  }

  /** Closes the link for good (the agent is no longer configured). Safe to call twice. */
  close(reason: string): void {
    this.#closed = true;
    this.#link?.close(reason);
    this.#link = undefined;
  }

  /** No report for NODE_STALE_MS on an open link: a hung agent. Its nodes are down from now. */
  #stale(link: BridgeClient, silentMs: number): void {
    const error = new CdnError('UNAVAILABLE', `the agent at ${this.url} sent no report for ${Math.round(silentMs / 100) / 10} s (it reports every ${NODE_REPORT_MS / 1000} s)`);
    const at = Date.now();
    this.#lastFailure = { at, error };
    this.#failingSince ??= at;
    this.#link = undefined;
    link.abandon(error.message);
    this.#deps.log.warn('agent stale: its nodes are down', { agent: this.url, err: error });
  }

  #startRefresh(): Promise<NodesSnapshot> {
    if (this.#refreshing !== undefined) return this.#refreshing;
    const refreshing = this.#refresh().finally(() => {
      this.#refreshing = undefined;
    });
    // Handled here (the failure is kept in #lastFailure): a try nobody waits for must not be an
    // unhandled rejection. Callers that wait still get its outcome.
    refreshing.catch(() => undefined);
    this.#refreshing = refreshing;
    return refreshing;
  }

  async #refresh(): Promise<NodesSnapshot> {
    try {
      const link = this.#link !== undefined && !this.#link.closed ? this.#link : await this.#connect();
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
      this.#failingSince = undefined;
      this.#deps.save(this.url, snap);
      return snap;
    } catch (err) {
      const error = CdnError.from(err);
      const at = Date.now();
      this.#lastFailure = { at, error };
      this.#failingSince ??= at;
      this.#deps.log.warn('cannot read the node list from the agent', { agent: this.url, err: error });
      throw error;
    }
  }

  async #connect(): Promise<BridgeClient> {
    const link = await this.#deps.open(this.url, {
      onEvent: (event) => {
        if (this.#link !== link || this.#snapshot === undefined) return;
        if (event.event === 'report') {
          // The whole list, as `nodes` answers it; stored only when it changed (a report comes every 2 s).
          const changed = JSON.stringify(event.nodes) !== JSON.stringify(this.#snapshot.nodes);
          this.#snapshot = { mode: event.mode, loadBalancing: event.loadBalancing, nodes: [...event.nodes], updatedAt: Date.now() };
          if (changed) this.#deps.save(this.url, this.#snapshot);
          return;
        }
        if (event.event !== 'node') return;
        const nodes = this.#snapshot.nodes.filter((n) => n.id !== event.node.id);
        nodes.push(event.node);
        this.#snapshot = { ...this.#snapshot, nodes, updatedAt: Date.now() };
        this.#deps.save(this.url, this.#snapshot);
      },
      onClose: (reason) => {
        if (this.#link === link) this.#link = undefined;
        this.#deps.log.info('balancer agent link closed', { agent: this.url, err: reason });
      },
    });
    if (this.#closed) {
      link.close('agent no longer configured');
      throw Errors.closed(`the link to ${this.url}`);
    }
    this.#link = link;
    return link;
  }
}
