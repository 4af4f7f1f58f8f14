/**
 * The cross-node work one node's agent does when the coordinator asks (protocol/api.ts, "cross-node
 * work"): on an edge it holds the copies of streams (./relay.ts) that players there play from; on
 * the origin it makes each stream's forwards (./forward.ts) to those copies; and it tells the links
 * that asked `sources` when a stream goes live or ends, so the coordinator can relay it.
 *
 * A bridge that drives every node cascades by itself (Stream.cascadeAll) and holds no copy here;
 * an agent that drives one node holds here what the coordinator asked of it.
 */
import { Errors, type BridgeEvent, type Params, type Result, type SourceInfo } from '../../protocol/index.ts';
import { toCdnError } from '../janus/errors.ts';
import { reachable, type MediaContext, type MediaNode, type MediaNodes } from './context.ts';
import { Forward } from './forward.ts';
import type { PlayerEnding } from './player.ts';
import { signal, within } from './plan.ts';
import { Relay } from './relay.ts';
import type { Stream } from './stream.ts';

/**
 * How long a play on an edge waits for its copy to appear: the coordinator relays a stream within
 * milliseconds of its publish, so a play that beats it waits briefly; a stream that is not
 * published anywhere is refused after this.
 */
export const RELAY_APPEAR_WAIT_MS = 2_000;

export interface CrossNodeDeps {
  ctx: MediaContext;
  nodes: MediaNodes;
  /** The live stream with this publish id on a node this agent drives. */
  stream(publishId: string): Stream | undefined;
}

export class CrossNode {
  readonly #deps: CrossNodeDeps;
  /** The copies held on this agent's edges, by `node/stream`. */
  readonly #relays = new Map<string, Relay>();
  /** Plays waiting for a copy to appear, by `node/stream`. */
  readonly #waiting = new Map<string, Set<() => void>>();
  readonly #listeners = new Set<(e: BridgeEvent) => void>();

  constructor(deps: CrossNodeDeps) {
    this.#deps = deps;
  }

  // ---------------------------------------------------------------- sources (the origin's side)

  /** Calls `listener` with every `source` and `source-ended` event from now on; returns the unsubscribe. */
  watch(listener: (e: BridgeEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** A stream on this agent's origin is live (configured): the coordinator may relay it. */
  live(s: Stream): void {
    this.#emit({ event: 'source', source: sourceInfo(s) });
  }

  /**
   * A stream on this agent's origin ended: the coordinator removes its copies. Only one that went
   * live (was configured) can have copies; one taken back after a restart went live in the run before.
   */
  /** `failed`: its origin node went down (its copies' players are told FAILED). */
  ended(s: Stream, info: string, failed: boolean): void {
    if (s.configuredAt === undefined) return;
    this.#emit({ event: 'source-ended', stream: s.name, publishId: s.publishId, node: s.node.id, info, ...(failed ? { failed } : {}) });
  }

  sources(streams: Iterable<Stream>): Result<'sources'> {
    return {
      streams: [...streams]
        .filter((s) => s.live && s.publisherId !== undefined)
        .map((s) => ({ ...sourceInfo(s), forwards: [...s.forwards.values()].map((f) => ({ forwardId: f.remoteId, edge: f.edge })) })),
      relays: [...this.#relays.values()].filter((r) => r.live).map((r) => ({ node: r.node.id, stream: r.name, room: r.room })),
    };
  }

  /** Forwards a live stream of this agent's origin to an edge's copy. Asking twice is harmless. */
  async forward(p: Params<'forward'>): Promise<Result<'forward'>> {
    const s = this.#deps.stream(p.publishId);
    if (s === undefined || !s.live) throw Errors.publishNotFound(p.publishId);
    if (s.forwards.has(p.forwardId)) return {};
    const f = new Forward(this.#deps.ctx, s, p.forwardId, p.edge);
    s.forwards.set(p.forwardId, f);
    try {
      await s.serial.run(() => f.open(p.host, { port: p.port, rtcpPort: p.rtcpPort }));
    } catch (err) {
      if (s.forwards.get(p.forwardId) === f) s.forwards.delete(p.forwardId);
      throw toCdnError(err, `forward "${s.name}" to ${p.edge}`);
    }
    this.#deps.ctx.log.info('forwarding to an edge', { stream: s.name, edge: p.edge, forwardId: p.forwardId });
    return {};
  }

  async unforward(p: Params<'unforward'>): Promise<Result<'unforward'>> {
    const s = this.#deps.stream(p.publishId);
    const f = s?.forwards.get(p.forwardId);
    if (s === undefined || f === undefined) return {};
    s.forwards.delete(p.forwardId);
    await s.serial.run(() => f.close());
    return {};
  }

  // ---------------------------------------------------------------- copies (an edge's side)

  /** Makes this edge's copy of a stream (or answers the one there); players there play from it. */
  async relay(p: Params<'relay'>): Promise<Result<'relay'>> {
    const { ctx, nodes } = this.#deps;
    const node = nodes.get(p.node);
    if (node.role !== 'edge') throw Errors.invalid(`relay: node "${node.id}" is the origin; streams are relayed to edges`);
    if (!node.up) throw node.unavailable();
    const key = keyOf(node, p.stream);
    const existing = this.#relays.get(key);
    if (existing?.live === true && existing.room === p.room && existing.target !== undefined) {
      return { host: ctx.rtpHost(node), port: existing.target.port, rtcpPort: existing.target.rtcpPort };
    }
    // Another publish of the same name (a new room): the old copy goes.
    if (existing !== undefined) {
      this.#relays.delete(key);
      void existing.close({ status: 'STOPPED', info: 'the stream was published again' });
    }
    const r = new Relay(ctx, p.stream, p.room, p.streams, node);
    this.#relays.set(key, r);
    try {
      // On the copy's serial queue, so a close() meanwhile (an unrelay) undoes what open() made
      // after it settles, instead of before the room exists.
      const target = await r.serial.run(() => r.open(() => this.#relays.get(key) === r && reachable(node, r.generation)));
      r.ready();
      ctx.changed();
      for (const wake of this.#waiting.get(key) ?? []) wake();
      ctx.log.info('relayed to this edge', { stream: p.stream, node: node.id, room: p.room, remote: target.remotePublisherId });
      return { host: ctx.rtpHost(node), port: target.port, rtcpPort: target.rtcpPort };
    } catch (err) {
      const e = toCdnError(err, `relay "${p.stream}" to ${node.id}`);
      if (this.#relays.get(key) === r) this.#relays.delete(key);
      r.fail(e);
      await r.close({ status: 'STOPPED', info: `the relay to ${node.id} failed` });
      throw e;
    }
  }

  async unrelay(p: Params<'unrelay'>): Promise<Result<'unrelay'>> {
    const node = this.#deps.nodes.get(p.node);
    const key = keyOf(node, p.stream);
    const r = this.#relays.get(key);
    if (r === undefined) return {};
    this.#relays.delete(key);
    this.#deps.ctx.changed();
    await r.close({ status: p.failed === true ? 'FAILED' : 'STOPPED', info: p.info ?? 'the stream ended' });
    return {};
  }

  /** The copy a play on `node` plays from, waiting briefly for one that is on its way. */
  async relayFor(node: MediaNode, stream: string): Promise<Relay> {
    const key = keyOf(node, stream);
    const now = this.#relays.get(key);
    if (now?.live === true) return now;
    const appeared = signal();
    let set = this.#waiting.get(key);
    if (set === undefined) this.#waiting.set(key, (set = new Set()));
    const wake = (): void => appeared.resolve();
    set.add(wake);
    try {
      await within(appeared.promise, RELAY_APPEAR_WAIT_MS);
    } finally {
      set.delete(wake);
      if (set.size === 0) this.#waiting.delete(key);
    }
    const r = this.#relays.get(key);
    if (r?.live !== true) throw Errors.streamNotFound(stream);
    return r;
  }

  /** The copies held here (the journal's). */
  relays(): Relay[] {
    return [...this.#relays.values()];
  }

  /** Copies an earlier run made and Janus kept (../adopt.ts). */
  adopt(relays: readonly Relay[]): void {
    for (const r of relays) this.#relays.set(keyOf(r.node, r.name), r);
  }

  /** Whether a copy here uses `room` on `node` (the sweep keeps it). */
  usesRoom(node: MediaNode, room: number): boolean {
    return [...this.#relays.values()].some((r) => r.node === node && r.room === room && r.generation === node.generation);
  }

  /** The mountpoints of the copies on `node` (the sweep keeps them). */
  mountpointsOn(node: MediaNode): number[] {
    return [...this.#relays.values()].flatMap((r) => (r.node === node ? r.mounts.ids() : []));
  }

  /** A node went down: its copies' players fail, and the copies are forgotten (their state went with it). */
  nodeDown(node: MediaNode): void {
    const ending: PlayerEnding = { status: 'FAILED', info: `node "${node.id}" went down` };
    for (const [key, r] of this.#relays) {
      if (r.node !== node) continue;
      this.#relays.delete(key);
      void r.close(ending);
    }
  }

  /** Ends every copy (shutdown). */
  async close(ending: PlayerEnding): Promise<void> {
    const all = [...this.#relays.values()];
    this.#relays.clear();
    await Promise.all(all.map((r) => r.close(ending)));
  }

  #emit(e: BridgeEvent): void {
    for (const l of this.#listeners) {
      try {
        l(e);
      } catch (err) {
        this.#deps.ctx.log.error('a source listener threw', { err });
      }
    }
  }
}

function keyOf(node: MediaNode, stream: string): string {
  return `${node.id}/${stream}`;
}

function sourceInfo(s: Stream): SourceInfo {
  return { stream: s.name, publishId: s.publishId, node: s.node.id, room: s.room, streams: s.streams.map((x) => ({ ...x })) };
}
