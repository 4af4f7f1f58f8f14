/**
 * The coordinator of cross-node work, when each Janus node has its own agent (AGENT_URLS): it
 * relays every live stream from its origin to every edge that is up, through the two nodes'
 * agents (protocol/api.ts, "cross-node work"), and removes the copies when the stream ends.
 *
 *   origin's agent ──source──> coordinator ──relay──> edge's agent   (the copy: room, remote publisher)
 *                                          ──forward─> origin's agent (publish_remotely to the copy)
 *   origin's agent ──source-ended──> coordinator ──unrelay──> every edge's agent
 *
 * It holds no state of its own that matters: what is live and what each edge carries is read back
 * from the agents (`sources`) whenever a link (re)opens, so a coordinator that starts again, or an
 * agent that restarted, is brought in line by `tick()`. Media never depends on it: agents and Janus
 * carry the streams; only new relays wait while it is away. Runtime-free: links come from `open`.
 */
import { CdnError, type BridgeEvent, type Logger, type Method, type NodeInfo, type Params, type Result, type SourceInfo } from '../../protocol/index.ts';

/** What the coordinator needs of a link to an agent (BridgeClient satisfies it). */
export interface AgentLink {
  readonly closed: boolean;
  request<M extends Method>(method: M, params: Params<M>, timeoutMs?: number): Promise<Result<M>>;
  close(reason: string): void;
}

export interface CoordinatorDeps {
  /** Every distinct agent URL. */
  agentUrls: readonly string[];
  open(url: string, handlers: { onEvent(e: BridgeEvent): void; onClose(reason: CdnError): void }): Promise<AgentLink>;
  /** A fresh forward id (the coordinator names the forwards it asks for). */
  newForwardId(): string;
  log: Logger;
  /** Asks for a `tick()` soon (after a link was lost). */
  soon(): void;
}

interface Agent {
  readonly url: string;
  link: AgentLink | undefined;
  opening: Promise<void> | undefined;
  /** The nodes it drives, as it last reported them. */
  nodes: Map<string, NodeInfo>;
  /** Its `sources` were read on the current link. */
  synced: boolean;
  /** The copies its edges held when it was last read, not yet checked against what is live. */
  relays: Result<'sources'>['relays'] | undefined;
  /** The coordinator's sequence number when it was last read. */
  readAt: number;
}

/**
 * An edge's copy of a stream: under way, or fed by the origin's forward `forwardId`. `at`: the
 * sequence number when it was recorded (a copy recorded after an agent was read is not expected
 * in what it reported).
 */
type Copy = { state: 'relaying'; publishId: string; at: number } | { state: 'fed'; publishId: string; forwardId: string; at: number };

export class Coordinator {
  readonly #deps: CoordinatorDeps;
  readonly #agents: Agent[];
  /** Live streams by name, as their origin's agent reported them. */
  readonly #live = new Map<string, SourceInfo>();
  /** What each edge carries: edge id → stream → copy. */
  readonly #copies = new Map<string, Map<string, Copy>>();
  #closed = false;
  #seq = 0;

  constructor(deps: CoordinatorDeps) {
    this.#deps = deps;
    this.#agents = deps.agentUrls.map((url) => ({ url, link: undefined, opening: undefined, nodes: new Map(), synced: false, relays: undefined, readAt: 0 }));
  }

  /** Links every agent and reads what it holds, then relays every live stream to every edge that lacks it. */
  async tick(): Promise<void> {
    if (this.#closed) return;
    await Promise.all(this.#agents.map((a) => this.#ensure(a)));
    // Copies of streams that are not live are removed, but only once every agent has told what it
    // holds: a stream whose origin's agent is out of reach may well be live.
    if (this.#agents.every((a) => a.synced)) for (const a of this.#agents) this.#checkCopies(a);
    const relays: Promise<void>[] = [];
    for (const src of this.#live.values()) for (const edge of this.#edgesUp()) relays.push(this.#relayTo(edge, src));
    await Promise.all(relays);
  }

  /** What each edge carries, fed by the origin (the unit tests read it). */
  copies(): Record<string, string[]> {
    const out: Record<string, string[]> = {};
    for (const [edge, m] of this.#copies) out[edge] = [...m].filter(([, c]) => c.state === 'fed').map(([s]) => s);
    return out;
  }

  close(): void {
    this.#closed = true;
    for (const a of this.#agents) a.link?.close('the coordinator is closing');
  }

  // ---------------------------------------------------------------- links

  #ensure(a: Agent): Promise<void> {
    if (a.link !== undefined && !a.link.closed && a.synced) return Promise.resolve();
    a.opening ??= this.#open(a).finally(() => {
      a.opening = undefined;
    });
    return a.opening;
  }

  async #open(a: Agent): Promise<void> {
    try {
      if (a.link === undefined || a.link.closed) {
        const link = await this.#deps.open(a.url, {
          onEvent: (e) => {
            if (a.link === link) this.#onEvent(a, e);
          },
          onClose: (reason) => {
            if (a.link !== link) return;
            a.link = undefined;
            a.synced = false;
            this.#deps.log.warn('coordinator: lost the link to an agent', { agent: a.url, err: reason });
            this.#deps.soon();
          },
        });
        a.link = link;
      }
      const link = a.link;
      const nodes = await link.request('nodes', {});
      a.nodes = new Map(nodes.nodes.map((n) => [n.id, n]));
      const sources = await link.request('sources', {});
      this.#sync(a, sources);
      a.synced = true;
    } catch (err) {
      this.#deps.log.warn('coordinator: cannot reach an agent yet', { agent: a.url, err: CdnError.from(err) });
    }
  }

  /** Brings what is known in line with what agent `a` holds (after its link opened). */
  #sync(a: Agent, held: Result<'sources'>): void {
    const origins = new Set([...a.nodes.values()].filter((n) => n.role === 'origin').map((n) => n.id));
    const reported = new Set(held.streams.map((s) => s.stream));
    for (const src of held.streams) {
      this.#live.set(src.stream, src);
      for (const f of src.forwards ?? []) {
        // Known from before this read (`at` kept), or learnt now: then as old as any read, so the
        // edge's own report (read before or after) is checked against it.
        const known = this.#copiesOf(f.edge).get(src.stream);
        const at = known?.state === 'fed' && known.forwardId === f.forwardId ? known.at : 0;
        this.#copiesOf(f.edge).set(src.stream, { state: 'fed', publishId: src.publishId, forwardId: f.forwardId, at });
      }
    }
    // What ended while nobody listened to its origin.
    for (const [name, src] of [...this.#live]) {
      if (origins.has(src.node) && !reported.has(name)) this.#ended(src, 'the stream ended while the coordinator was away');
    }
    a.relays = [...held.relays];
    a.readAt = ++this.#seq;
  }

  /**
   * Checks what agent `a`'s edges reported against what is live: a copy of a stream that is not
   * live goes; a copy the origin forwards to but the edge no longer has (its Janus restarted) is
   * forgotten and its forward stopped, so it is relayed afresh.
   */
  #checkCopies(a: Agent): void {
    const relays = a.relays;
    if (relays === undefined) return;
    a.relays = undefined;
    const held = new Set(relays.map((r) => `${r.node}/${r.stream}`));
    for (const r of relays) {
      const src = this.#live.get(r.stream);
      if (src === undefined || src.room !== r.room) void this.#unrelay(r.node, r.stream, 'the stream ended');
    }
    for (const edge of a.nodes.values()) {
      if (edge.role !== 'edge') continue;
      for (const [stream, c] of this.#copiesOf(edge.id)) {
        if (c.state !== 'fed' || c.at > a.readAt || held.has(`${edge.id}/${stream}`)) continue;
        this.#copiesOf(edge.id).delete(stream);
        this.#unforward(stream, c);
      }
    }
  }

  #onEvent(a: Agent, e: BridgeEvent): void {
    switch (e.event) {
      case 'source':
        this.#live.set(e.source.stream, e.source);
        for (const edge of this.#edgesUp()) void this.#relayTo(edge, e.source);
        return;
      case 'source-ended': {
        const src = this.#live.get(e.stream);
        if (src?.publishId === e.publishId) this.#ended(src, e.info, e.failed === true);
        return;
      }
      case 'node': {
        const was = a.nodes.get(e.node.id);
        a.nodes.set(e.node.id, e.node);
        if (e.node.role !== 'edge') return;
        if (!e.node.up) this.#edgeDown(e.node.id);
        else if (was?.up !== true) {
          // Back up with its Janus state gone: what it was fed before (a forward learnt while it
          // was down, or one whose stop could not be sent) is stopped, and it is relayed afresh.
          this.#edgeDown(e.node.id);
          for (const src of this.#live.values()) void this.#relayTo(e.node, src);
        }
        return;
      }
      default:
        return;
    }
  }

  // ---------------------------------------------------------------- relays

  async #relayTo(edge: NodeInfo, src: SourceInfo): Promise<void> {
    const copies = this.#copiesOf(edge.id);
    const now = copies.get(src.stream);
    if (now !== undefined && now.publishId === src.publishId) return;
    copies.set(src.stream, { state: 'relaying', publishId: src.publishId, at: ++this.#seq });
    const edgeLink = this.#linkOf(edge.id);
    const originLink = this.#linkOf(src.node);
    let made = false;
    try {
      if (edgeLink === undefined || originLink === undefined) throw new CdnError('UNAVAILABLE', `the agent of ${edgeLink === undefined ? edge.id : src.node} is not linked`);
      const target = await edgeLink.request('relay', { node: edge.id, stream: src.stream, room: src.room, streams: src.streams });
      made = true;
      if (this.#live.get(src.stream)?.publishId !== src.publishId) throw new CdnError('UNAVAILABLE', 'the stream ended while it was being relayed');
      const forwardId = this.#deps.newForwardId();
      await originLink.request('forward', { publishId: src.publishId, forwardId, edge: edge.id, ...target });
      const fed: Copy = { state: 'fed', publishId: src.publishId, forwardId, at: ++this.#seq };
      // The edge went down meanwhile (its copies were forgotten): the forward just made is stopped.
      if (this.#copies.get(edge.id) !== copies) return this.#unforward(src.stream, fed);
      if (copies.get(src.stream)?.publishId !== src.publishId) return;
      copies.set(src.stream, fed);
      this.#deps.log.info('coordinator: relayed', { stream: src.stream, from: src.node, to: edge.id });
    } catch (err) {
      // Forgotten, so the next tick tries again (an edge that is down is not tried until it is up).
      // (A copy of a stream that ended meanwhile was unrelayed by its end; unrelaying here too could
      // remove the copy of a newer publish of the same name.)
      if (copies.get(src.stream)?.publishId === src.publishId) copies.delete(src.stream);
      // A copy made for a stream that is no longer live (its end may have been handled before the
      // copy existed on the edge) is removed; nothing newer of that name is live to be hurt.
      if (made && !this.#live.has(src.stream)) void this.#unrelay(edge.id, src.stream, 'the stream ended');
      this.#deps.log.warn('coordinator: relay failed; tried again shortly', { stream: src.stream, edge: edge.id, err: CdnError.from(err) });
    }
  }

  /** A stream ended: every edge's copy goes, its players told how the stream ended (FAILED when it failed). */
  #ended(src: SourceInfo, info: string, failed = false): void {
    this.#live.delete(src.stream);
    // Every edge, not only those with a copy on record: a relay whose forward failed was forgotten
    // here but may still be held there. Nothing else of that name is live, so none is hurt.
    for (const edge of this.#edgesUp()) {
      const copies = this.#copiesOf(edge.id);
      if (copies.get(src.stream)?.publishId === src.publishId) copies.delete(src.stream);
      void this.#unrelay(edge.id, src.stream, `the stream ended: ${info}`, failed);
    }
    this.#deps.log.info('coordinator: stream ended; its copies go', { stream: src.stream, info });
  }

  /** An edge went down: its copies went with it; the origin stops forwarding to them. */
  #edgeDown(edge: string): void {
    const copies = this.#copies.get(edge);
    if (copies === undefined) return;
    this.#copies.delete(edge);
    for (const [stream, c] of copies) this.#unforward(stream, c);
  }

  #unforward(stream: string, c: Copy): void {
    const src = this.#live.get(stream);
    if (c.state !== 'fed' || src === undefined || src.publishId !== c.publishId) return;
    const forwardId = c.forwardId;
    void this.#linkOf(src.node)
      ?.request('unforward', { publishId: c.publishId, forwardId })
      .catch((err: unknown) => this.#deps.log.warn('coordinator: unforward failed', { stream, forwardId, err: CdnError.from(err) }));
  }

  async #unrelay(edge: string, stream: string, info: string, failed = false): Promise<void> {
    try {
      await this.#linkOf(edge)?.request('unrelay', { node: edge, stream, info, ...(failed ? { failed } : {}) });
    } catch (err) {
      this.#deps.log.warn('coordinator: unrelay failed', { stream, edge, err: CdnError.from(err) });
    }
  }

  // ---------------------------------------------------------------- lookups

  #copiesOf(edge: string): Map<string, Copy> {
    let m = this.#copies.get(edge);
    if (m === undefined) this.#copies.set(edge, (m = new Map()));
    return m;
  }

  #agentOf(node: string): Agent | undefined {
    return this.#agents.find((a) => a.nodes.has(node));
  }

  #linkOf(node: string): AgentLink | undefined {
    const link = this.#agentOf(node)?.link;
    return link === undefined || link.closed ? undefined : link;
  }

  #edgesUp(): NodeInfo[] {
    return this.#agents.flatMap((a) => [...a.nodes.values()].filter((n) => n.role === 'edge' && n.up));
  }
}
