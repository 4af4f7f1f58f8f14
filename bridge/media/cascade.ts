/**
 * One edge's cascade of a stream: the edge's copy (./relay.ts: its room and remote publisher, and
 * the players and mountpoints there) and the origin's forward to it (./forward.ts). The copy
 * belongs to the edge and the forward to the origin; this pairs them, in order: the copy is made,
 * then the origin forwards to it, then players may join it.
 *
 *   pending ──run()──> ready
 *      │                 │
 *      └──(a step fails)─┴──> failed        close() from any state ──> closed
 *
 * `close()` undoes both, in reverse: the origin stops forwarding, then the copy goes. Runs inside
 * its stream's Serial, like every change to the stream's Janus state.
 */
import type { CdnError } from '../../protocol/index.ts';
import { toCdnError } from '../janus/errors.ts';
import { reachable, type MediaContext, type MediaNode } from './context.ts';
import { MediaErrors } from './errors.ts';
import { Forward, type ForwardSource } from './forward.ts';
import type { PlayerEnding } from './player.ts';
import { Relay } from './relay.ts';
import { signal, type Signal } from './plan.ts';

/** What a cascade needs of its stream. */
export interface CascadeSource extends ForwardSource {
  /** The stream is live and `c` is still its cascade to `c.node`. */
  holds(c: Cascade): boolean;
}

export type CascadeState = 'pending' | 'ready' | 'failed' | 'closed';

/**
 * Names this bridge run in the remote ids it gives the origin's `publish_remotely`: a restarted
 * bridge counts node generations from 1 again, and must never name a new cascade as an old one it
 * took back (Janus would refuse the duplicate remote id).
 */
const RUN = Math.floor(Math.random() * 0x1000000).toString(36);

/** How an edge's players end when its copy goes with the stream's end or a failed cascade. */
const RELAY_ENDED: PlayerEnding = { status: 'STOPPED', info: 'the relay to this node ended' };

export class Cascade {
  readonly node: MediaNode;
  readonly generation: number;
  readonly relay: Relay;
  readonly forward: Forward;
  /** Resolved when `run()` is over, ready or not. */
  readonly done: Signal = signal();
  #state: CascadeState = 'pending';
  #closing: Promise<void> | undefined;

  constructor(
    readonly ctx: MediaContext,
    readonly source: CascadeSource,
    node: MediaNode,
    parts?: { relay: Relay; forward: Forward },
  ) {
    this.node = node;
    this.generation = node.generation;
    this.relay = parts?.relay ?? new Relay(ctx, source.name, source.room, source.streams, node);
    this.forward = parts?.forward ?? new Forward(ctx, source, `fanout-${node.id}-${RUN}-${node.generation}`, node.id);
  }

  /**
   * A cascade an earlier bridge run made and Janus kept (../adopt.ts): ready, with the remote id
   * the origin forwards under and the edge's remote publisher.
   */
  static adopt(ctx: MediaContext, source: CascadeSource, node: MediaNode, p: { remoteId: string; remotePublisherId: number }): Cascade {
    const relay = Relay.adopt(ctx, source.name, source.room, source.streams, node, p.remotePublisherId);
    const c = new Cascade(ctx, source, node, { relay, forward: Forward.adopt(ctx, source, p.remoteId, node.id) });
    c.#state = 'ready';
    c.done.resolve();
    return c;
  }

  get state(): CascadeState {
    return this.#state;
  }
  get remoteId(): string {
    return this.forward.remoteId;
  }
  /** The edge's remote publisher, once ready. */
  get remotePublisherId(): number | undefined {
    return this.relay.remotePublisherId;
  }
  get error(): CdnError | undefined {
    return this.relay.error;
  }

  #current(): boolean {
    const s = this.source;
    return this.#state === 'pending' && s.holds(this) && reachable(this.node, this.generation) && reachable(s.node, s.generation);
  }

  /**
   * Relays the stream to the edge. Never throws: a failure is recorded (`failed`, `error`), what
   * was made is undone, and `failed()` is told so the stream forgets it.
   */
  async run(failed: (c: Cascade, err: CdnError) => void): Promise<void> {
    const s = this.source;
    const edge = this.node;
    const ctx = this.ctx;
    try {
      if (s.publisherId === undefined) throw MediaErrors.relayChanged(edge.id);
      const target = await this.relay.open(() => this.#current());
      await this.forward.open(ctx.rtpHost(edge), target);
      if (!this.#current()) throw MediaErrors.relayChanged(edge.id);
      this.#state = 'ready';
      this.relay.ready();
      ctx.changed();
      ctx.log.debug('cascaded', { stream: s.name, edge: edge.id, remote: target.remotePublisherId, port: target.port, rtcpPort: target.rtcpPort });
    } catch (err) {
      const e = toCdnError(err, `relay "${s.name}" to ${edge.id}`);
      if (this.#state === 'pending') this.#state = 'failed';
      this.relay.fail(e);
      failed(this, e);
      await this.close(RELAY_ENDED);
    } finally {
      this.done.resolve();
    }
  }

  /**
   * Undoes the cascade as far as it got: the origin stops forwarding, then the edge's copy goes,
   * its players told `ending`. Safe to call twice; what is already gone (a node down) is skipped.
   */
  close(ending: PlayerEnding = RELAY_ENDED): Promise<void> {
    this.#closing ??= this.#undo(ending);
    return this.#closing;
  }

  async #undo(ending: PlayerEnding): Promise<void> {
    if (this.#state === 'pending' || this.#state === 'ready') this.#state = 'closed';
    this.ctx.changed();
    await this.forward.close();
    await this.relay.close(ending);
  }
}
