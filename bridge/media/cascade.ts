/**
 * One edge's copy of a stream: the stream's room on the edge, a remote publisher there whose
 * streams mirror the origin publisher's mindexes, and the origin's `publish_remotely` to it with
 * `rtcp_port` (keyframe requests from edge viewers must reach the publisher).
 *
 *   pending ──run()──> ready
 *      │                 │
 *      └──(a step fails)─┴──> failed        close() from any state ──> closed
 *
 * `made` records how far the Janus side got, so `close()` undoes exactly that, in reverse: the
 * origin stops forwarding, then the edge's remote publisher and room go. Runs inside its stream's
 * Serial, like every change to the stream's Janus state.
 */
import type { CdnError } from '../../protocol/index.ts';
import { toCdnError } from '../janus/errors.ts';
import * as vr from '../janus/videoroom.ts';
import type { PublisherStream } from '../janus/videoroom.ts';
import { reachable, type MediaContext, type MediaNode } from './context.ts';
import { MediaErrors } from './errors.ts';
import { remotePublisherStreams, signal, type Signal } from './plan.ts';

/** What a cascade needs of its stream. */
export interface CascadeSource {
  readonly name: string;
  readonly room: number;
  readonly node: MediaNode;
  readonly generation: number;
  readonly streams: readonly PublisherStream[];
  readonly publisherId: number | undefined;
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

export class Cascade {
  readonly node: MediaNode;
  readonly generation: number;
  readonly remoteId: string;
  /** Resolved when `run()` is over, ready or not (plays wait on it). */
  readonly done: Signal = signal();
  #state: CascadeState = 'pending';
  /** How far the Janus side got: what `close()` has to undo. */
  #made: 'nothing' | 'room' | 'remote-publisher' | 'forwarding' = 'nothing';
  #remotePublisherId: number | undefined;
  #error: CdnError | undefined;
  #closing: Promise<void> | undefined;

  constructor(
    readonly ctx: MediaContext,
    readonly source: CascadeSource,
    node: MediaNode,
    remoteId?: string,
  ) {
    this.node = node;
    this.generation = node.generation;
    if (remoteId !== undefined) {
      this.remoteId = remoteId;
      return;
    }
    this.remoteId = `fanout-${node.id}-${RUN}-${node.generation}`;
  }

  /**
   * A cascade an earlier bridge run made and Janus kept (./adopt.ts): ready, with the remote id
   * the origin forwards under and the edge's remote publisher.
   */
  static adopt(ctx: MediaContext, source: CascadeSource, node: MediaNode, p: { remoteId: string; remotePublisherId: number }): Cascade {
    const c = new Cascade(ctx, source, node, p.remoteId);
    c.#state = 'ready';
    c.#made = 'forwarding';
    c.#remotePublisherId = p.remotePublisherId;
    c.done.resolve();
    return c;
  }

  get state(): CascadeState {
    return this.#state;
  }

  /** The edge's remote publisher (what its players' mountpoints are fed from), once ready. */
  get remotePublisherId(): number | undefined {
    return this.#state === 'ready' ? this.#remotePublisherId : undefined;
  }

  /** Why it failed, when it did. */
  get error(): CdnError | undefined {
    return this.#error;
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
      if (!this.#current() || s.publisherId === undefined) throw MediaErrors.relayChanged(edge.id);
      await ctx.createRoom(edge, { room: s.room, name: s.name, streams: s.streams }, undefined);
      this.#made = 'room';
      if (!this.#current()) throw MediaErrors.relayChanged(edge.id);
      const remote = await vr.addRemotePublisher(edge.control, { room: s.room, display: s.name, streams: remotePublisherStreams(s.streams) }, ctx.rq);
      this.#remotePublisherId = remote.id;
      this.#made = 'remote-publisher';
      if (!this.#current()) throw MediaErrors.relayChanged(edge.id);
      await vr.publishRemotely(
        s.node.control,
        {
          room: s.room,
          publisherId: s.publisherId,
          remoteId: this.remoteId,
          adminKey: ctx.adminKey,
          host: ctx.rtpHost(edge),
          port: remote.port,
          rtcpPort: remote.rtcpPort,
        },
        ctx.rq,
      );
      this.#made = 'forwarding';
      if (!this.#current()) throw MediaErrors.relayChanged(edge.id);
      this.#state = 'ready';
      ctx.changed();
      ctx.log.debug('cascaded', { stream: s.name, edge: edge.id, remote: remote.id, port: remote.port, rtcpPort: remote.rtcpPort });
    } catch (err) {
      const wasPending = this.#state === 'pending';
      this.#error = toCdnError(err, `relay "${s.name}" to ${edge.id}`);
      if (wasPending) this.#state = 'failed';
      failed(this, this.#error);
      await this.close();
    } finally {
      this.done.resolve();
    }
  }

  /**
   * Undoes the cascade as far as it got: the origin stops forwarding, then the edge's remote
   * publisher and room go. Safe to call twice; what is already gone (a node down) is skipped.
   */
  close(): Promise<void> {
    this.#closing ??= this.#undo();
    return this.#closing;
  }

  async #undo(): Promise<void> {
    if (this.#state === 'pending' || this.#state === 'ready') this.#state = 'closed';
    this.ctx.changed();
    const s = this.source;
    const ctx = this.ctx;
    const made = this.#made;
    this.#made = 'nothing';
    if (made === 'forwarding' && s.publisherId !== undefined && reachable(s.node, s.generation)) {
      await ctx.quietly(
        vr.unpublishRemotely(s.node.control, { room: s.room, publisherId: s.publisherId, remoteId: this.remoteId, adminKey: ctx.adminKey }, ctx.rq),
        `unpublish_remotely ${this.remoteId}`,
      );
    }
    const edge = this.node;
    if (!reachable(edge, this.generation)) return;
    if ((made === 'forwarding' || made === 'remote-publisher') && this.#remotePublisherId !== undefined) {
      await ctx.quietly(vr.removeRemotePublisher(edge.control, { room: s.room, id: this.#remotePublisherId }, ctx.rq), `remove remote publisher on ${edge.id}`);
    }
    if (made !== 'nothing') await ctx.quietly(vr.destroyRoom(edge.control, s.room, ctx.adminKey, ctx.rq), `destroy room on ${edge.id}`);
  }
}
