/**
 * In-memory agents for the coordinator's tests (./coordinator.test.ts): each fake agent keeps a
 * small model of what its node holds (the origin's live streams and their forwards, an edge's
 * copies), answers `nodes`, `sources`, `relay`, `unrelay`, `forward` and `unforward` from it,
 * records every request, pushes events, and can lose its link, refuse one, fail or hold a request.
 * Test-only; nothing imports it but the tests.
 */
import { vi } from 'vitest';
import { CdnError, silentLogger, type BridgeEvent, type Method, type NodeInfo, type Params, type Result, type SourceInfo } from '../../protocol/index.ts';
import { Coordinator, type AgentLink } from './coordinator.ts';

export type Call = { [M in Method]: { method: M; params: Params<M> } }[Method];
export type Handlers = Parameters<ConstructorParameters<typeof Coordinator>[0]['open']>[1];
export type Copy = Result<'sources'>['relays'][number];

/** Lets every promise chain the coordinator started run to its end (it awaits nothing slower). */
export async function flush(): Promise<void> {
  for (let i = 0; i < 50; i++) await Promise.resolve();
}

export function nodeInfo(id: string, role: 'origin' | 'edge', up = true): NodeInfo {
  return { id, role, host: `${id}.test:8443`, up, since: 0, load: { publishers: 0, subscribers: 0 } };
}

/** A link to a fake agent, as the coordinator holds it. */
export class FakeLink implements AgentLink {
  closed = false;
  readonly #agent: FakeAgent;
  readonly handlers: Handlers;

  constructor(agent: FakeAgent, handlers: Handlers) {
    this.#agent = agent;
    this.handlers = handlers;
  }

  async request<M extends Method>(method: M, params: Params<M>): Promise<Result<M>> {
    if (this.closed) throw new CdnError('UNAVAILABLE', 'the link is closed');
    const result = await this.#agent.answer({ method, params } as Call);
    // A reply lost with its link fails, as the real client's pending requests do.
    if (this.closed) throw new CdnError('UNAVAILABLE', 'the link was lost');
    return result as Result<M>;
  }

  /** As the real client: closing fails what is pending and reports the close. */
  close(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.handlers.onClose(new CdnError('UNAVAILABLE', `the agent link was closed: ${reason}`));
  }
}

/** One node's agent: what its node holds, every request it got, its links. */
export class FakeAgent {
  readonly url: string;
  nodes: NodeInfo[];
  /** The origin's live streams, with the forwards it makes for each. */
  streams: SourceInfo[] = [];
  /** The edge's copies. */
  relays: Copy[] = [];
  /** Opening a link to it fails (the agent is down or out of reach). */
  refuse = false;
  readonly calls: Call[] = [];
  readonly links: FakeLink[] = [];
  /** What each `relay` answered, in order. */
  readonly relayAnswers: Result<'relay'>[] = [];
  readonly #failNext = new Map<Method, CdnError>();
  readonly #held = new Map<Method, Promise<void>[]>();
  readonly #heldReplies = new Map<Method, Promise<void>[]>();
  /** The copies being made, by `node/stream`: an unrelay or a newer relay of that name cancels one. */
  readonly #making = new Map<string, object>();
  #nextPort = 20_000;

  constructor(url: string, nodes: NodeInfo[]) {
    this.url = url;
    this.nodes = nodes;
  }

  open(handlers: Handlers): FakeLink {
    if (this.refuse) throw new CdnError('UNAVAILABLE', `connection to ${this.url} refused`);
    const link = new FakeLink(this, handlers);
    this.links.push(link);
    return link;
  }

  /** The link the coordinator holds now. */
  link(): FakeLink {
    const l = this.links.at(-1);
    if (l === undefined || l.closed) throw new Error(`${this.url} has no open link`);
    return l;
  }

  emit(e: BridgeEvent): void {
    this.link().handlers.onEvent(e);
  }

  /** The agent (or the network) dropped the link. */
  lose(): void {
    this.link().close('lost');
  }

  /** Its node went up or down (the agent's model follows, as the real agent's does). */
  setUp(id: string, up: boolean): void {
    this.nodes = this.nodes.map((n) => (n.id === id ? { ...n, up } : n));
    // A node that went down lost what it held (its Janus went with it).
    if (!up) this.relays = this.relays.filter((r) => r.node !== id);
    const n = this.nodes.find((x) => x.id === id);
    if (n !== undefined) this.emit({ event: 'node', node: n });
  }

  /** The next `method` request fails with `err`, changing nothing. */
  failNext(method: Method, err: CdnError): void {
    this.#failNext.set(method, err);
  }

  /** The agent works on the next `method` request (applies it and answers) only once `release` is called. */
  hold(method: Method): { release(): void } {
    return gate(this.#held, method);
  }

  /** The agent applies the next `method` request at once, but its answer arrives only once `release` is called. */
  holdReply(method: Method): { release(): void } {
    return gate(this.#heldReplies, method);
  }

  /** The params of every `method` request it got, in order. */
  requests<M extends Method>(method: M): Params<M>[] {
    return this.calls.filter((c): c is Extract<Call, { method: M }> => c.method === method).map((c) => c.params);
  }

  /** The cross-node work asked of it, in order (reading its state aside). */
  work(): Method[] {
    return this.calls.map((c) => c.method).filter((m) => m !== 'nodes' && m !== 'sources');
  }

  /** The forwards its origin makes for `stream` now. */
  forwardsOf(stream: string): { forwardId: string; edge: string }[] {
    return this.streams.find((s) => s.stream === stream)?.forwards ?? [];
  }

  /**
   * Answers from the model. As the real agent (bridge/media/cross-node.ts): a relay registers its
   * copy when it starts and lists it once made; an unrelay, or a relay of the same name, that comes
   * meanwhile cancels it and the relay fails.
   */
  async answer(call: Call): Promise<unknown> {
    this.calls.push(call);
    const work = this.#held.get(call.method)?.shift();
    const reply = this.#heldReplies.get(call.method)?.shift();
    const failure = this.#failNext.get(call.method);
    this.#failNext.delete(call.method);
    let making: object | undefined;
    if (call.method === 'relay' || call.method === 'unrelay') this.#making.delete(`${call.params.node}/${call.params.stream}`);
    if (call.method === 'relay' && failure === undefined) this.#making.set(`${call.params.node}/${call.params.stream}`, (making = {}));
    if (work !== undefined) await work;
    if (failure !== undefined) throw failure;
    const result = this.#apply(call, making);
    if (reply !== undefined) await reply;
    return result;
  }

  #apply(call: Call, making: object | undefined): unknown {
    switch (call.method) {
      case 'nodes':
        return { mode: 'ROUNDROBIN', loadBalancing: true, nodes: this.nodes.map((n) => ({ ...n })) };
      case 'sources':
        return { streams: structuredClone(this.streams), relays: this.relays.map((r) => ({ ...r })) };
      case 'relay': {
        const p = call.params;
        const key = `${p.node}/${p.stream}`;
        if (this.#making.get(key) !== making) throw new CdnError('UNAVAILABLE', `the copy of "${p.stream}" was removed while it was being made`);
        this.#making.delete(key);
        this.relays = [...this.relays.filter((r) => r.node !== p.node || r.stream !== p.stream), { node: p.node, stream: p.stream, room: p.room }];
        const target = { host: `${p.node}.rtp.test`, port: this.#nextPort, rtcpPort: this.#nextPort + 1 };
        this.#nextPort += 2;
        this.relayAnswers.push(target);
        return target;
      }
      case 'unrelay': {
        const p = call.params;
        this.relays = this.relays.filter((r) => r.node !== p.node || r.stream !== p.stream);
        return {};
      }
      case 'forward': {
        const p = call.params;
        const s = this.streams.find((x) => x.publishId === p.publishId);
        if (s === undefined) throw new CdnError('NOT_FOUND', `no publish ${p.publishId}`);
        if (!(s.forwards ?? []).some((f) => f.forwardId === p.forwardId)) s.forwards = [...(s.forwards ?? []), { forwardId: p.forwardId, edge: p.edge }];
        return {};
      }
      case 'unforward': {
        const p = call.params;
        const s = this.streams.find((x) => x.publishId === p.publishId);
        if (s !== undefined) s.forwards = (s.forwards ?? []).filter((f) => f.forwardId !== p.forwardId);
        return {};
      }
      default:
        throw new CdnError('INVALID_ARGUMENT', `the fake agent does not answer ${call.method}`);
    }
  }
}

/** Adds a gate to `queue`'s list for `method`: the next request of it waits until `release`. */
function gate(queue: Map<Method, Promise<void>[]>, method: Method): { release(): void } {
  let release = (): void => {};
  const g = new Promise<void>((resolve) => {
    release = resolve;
  });
  queue.set(method, [...(queue.get(method) ?? []), g]);
  return { release };
}

export interface World {
  coordinator: Coordinator;
  origin: FakeAgent;
  edges: Record<string, FakeAgent>;
  soon: ReturnType<typeof vi.fn>;
}

/**
 * An origin and its edges, each with an agent of its own. `edgesFirst`: the edges' agents are
 * listed (so read) before the origin's. `down`: edges that are down from the start.
 */
export function world(opts: { edges?: string[]; down?: string[]; edgesFirst?: boolean } = {}): World {
  const origin = new FakeAgent('wss://origin-1.test', [nodeInfo('origin-1', 'origin')]);
  const edges: Record<string, FakeAgent> = {};
  for (const id of opts.edges ?? ['edge-1', 'edge-2']) edges[id] = new FakeAgent(`wss://${id}.test`, [nodeInfo(id, 'edge', !(opts.down ?? []).includes(id))]);
  const all = opts.edgesFirst === true ? [...Object.values(edges), origin] : [origin, ...Object.values(edges)];
  const soon = vi.fn();
  let forwards = 0;
  const coordinator = new Coordinator({
    agentUrls: all.map((a) => a.url),
    open: async (url, handlers) => {
      const agent = all.find((a) => a.url === url);
      if (agent === undefined) throw new Error(`no agent at ${url}`);
      return agent.open(handlers);
    },
    newForwardId: () => `fwd_${String(++forwards).padStart(4, '0')}`,
    log: silentLogger,
    soon,
  });
  return { coordinator, origin, edges, soon };
}

/** What `agent`'s `i`th relay answered (where the origin is to forward). */
export function target(agent: FakeAgent, i: number): Result<'relay'> {
  const t = agent.relayAnswers[i];
  if (t === undefined) throw new Error(`${agent.url} answered no relay #${i}`);
  return t;
}

/** The agent of edge `id`. */
export function edge(w: World, id: string): FakeAgent {
  const a = w.edges[id];
  if (a === undefined) throw new Error(`no edge ${id}`);
  return a;
}

/** `src` goes live on the origin: its model lists it and the coordinator hears the `source` event. */
export async function goLive(w: World, src: SourceInfo): Promise<void> {
  w.origin.streams.push(structuredClone(src));
  w.origin.emit({ event: 'source', source: structuredClone(src) });
  await flush();
}

/** `src` ended on the origin (unpublished, or `failed`): gone from its model, and `source-ended` told. */
export async function end(w: World, src: SourceInfo, info = 'Unpublished by the publisher', failed = false): Promise<void> {
  w.origin.streams = w.origin.streams.filter((s) => s.publishId !== src.publishId);
  w.origin.emit({ event: 'source-ended', stream: src.stream, publishId: src.publishId, node: src.node, info, ...(failed ? { failed } : {}) });
  await flush();
}

/** The edges with a copy, and which (an edge with none may be listed empty by copies()). */
export function carried(w: World): Record<string, string[]> {
  return Object.fromEntries(Object.entries(w.coordinator.copies()).filter(([, streams]) => streams.length > 0));
}

/** The forward the origin was asked to make to `edgeId`'s copy, the last one if several. */
export function forwardTo(w: World, edgeId: string): Params<'forward'> {
  const f = w.origin.requests('forward').filter((x) => x.edge === edgeId).at(-1);
  if (f === undefined) throw new Error(`no forward to ${edgeId}`);
  return f;
}

