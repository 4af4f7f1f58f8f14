/**
 * An edge's copy of a stream: the stream's room on the edge and a remote publisher there whose
 * streams mirror the origin publisher's mindexes, fed by the origin's forward (./forward.ts). It is
 * what players on the edge play from: it owns them and their mountpoints, all on its own node.
 *
 *   pending ──open()──> (room, remote publisher) ──ready()──> ready
 *      └──────────fail()──────────────────────────────────> failed
 *   close() from any state ──> closed
 *
 * `made` records how far the Janus side got, so `close()` undoes exactly that. Changes to its
 * mountpoints run one at a time (its Serial). `close()` is safe to call twice.
 */
import type { CdnError } from '../../protocol/index.ts';
import * as vr from '../janus/videoroom.ts';
import type { PublisherStream } from '../janus/videoroom.ts';
import { reachable, type MediaContext, type MediaNode } from './context.ts';
import { MediaErrors } from './errors.ts';
import { MountSet, type MountSetSource, type PlaySource } from './mounts.ts';
import { remotePublisherStreams, Serial, signal, within, type Signal } from './plan.ts';
import type { Player, PlayerEnding } from './player.ts';

export type RelayState = 'pending' | 'ready' | 'failed' | 'closed';

/** Where the origin forwards to: the edge's remote publisher and its ports. */
export interface RelayTarget {
  remotePublisherId: number;
  port: number;
  rtcpPort: number;
}

export class Relay implements PlaySource, MountSetSource {
  readonly serial = new Serial();
  readonly players = new Set<Player>();
  readonly mounts: MountSet;
  readonly generation: number;
  readonly remote = true;
  /** Resolved once it is fed (ready) or will not be (failed, closed): plays wait on it. */
  readonly done: Signal = signal();
  #state: RelayState = 'pending';
  #made: 'nothing' | 'room' | 'remote-publisher' = 'nothing';
  #remotePublisherId: number | undefined;
  #target: RelayTarget | undefined;
  #error: CdnError | undefined;
  #closing: Promise<void> | undefined;

  constructor(
    readonly ctx: MediaContext,
    readonly name: string,
    readonly room: number,
    /** The origin publisher's streams. */
    readonly streams: readonly PublisherStream[],
    readonly node: MediaNode,
  ) {
    this.generation = node.generation;
    this.mounts = new MountSet(ctx, this, node);
  }

  /** A copy an earlier bridge run made and Janus kept (../adopt.ts): ready, fed by the origin. */
  static adopt(ctx: MediaContext, name: string, room: number, streams: readonly PublisherStream[], node: MediaNode, remotePublisherId: number, ports?: Omit<RelayTarget, 'remotePublisherId'>): Relay {
    const r = new Relay(ctx, name, room, streams, node);
    r.#state = 'ready';
    r.#made = 'remote-publisher';
    r.#remotePublisherId = remotePublisherId;
    if (ports !== undefined) r.#target = { remotePublisherId, ...ports };
    r.done.resolve();
    return r;
  }

  get state(): RelayState {
    return this.#state;
  }
  get live(): boolean {
    return this.#state === 'pending' || this.#state === 'ready';
  }
  /** The remote publisher its mountpoints are fed from, once ready. */
  get remotePublisherId(): number | undefined {
    return this.#state === 'ready' ? this.#remotePublisherId : undefined;
  }
  /** Where the origin forwards to, once the remote publisher is made. */
  get target(): RelayTarget | undefined {
    return this.#target;
  }
  /** Why it failed, when it did. */
  get error(): CdnError | undefined {
    return this.#error;
  }

  /**
   * Makes the room and the remote publisher, checking `current()` after each step; answers where
   * the origin should forward to. Throws on any failure (the caller fails and closes it).
   */
  async open(current: () => boolean): Promise<RelayTarget> {
    const ctx = this.ctx;
    const edge = this.node;
    if (!current()) throw MediaErrors.relayChanged(edge.id);
    await ctx.createRoom(edge, { room: this.room, name: this.name, streams: this.streams }, undefined);
    this.#made = 'room';
    if (!current()) throw MediaErrors.relayChanged(edge.id);
    const remote = await vr.addRemotePublisher(edge.control, { room: this.room, display: this.name, streams: remotePublisherStreams(this.streams) }, ctx.rq);
    this.#remotePublisherId = remote.id;
    this.#made = 'remote-publisher';
    if (!current()) throw MediaErrors.relayChanged(edge.id);
    this.#target = { remotePublisherId: remote.id, port: remote.port, rtcpPort: remote.rtcpPort };
    return this.#target;
  }

  /** The origin forwards to it: players may join. */
  ready(): void {
    if (this.#state !== 'pending') return;
    this.#state = 'ready';
    this.done.resolve();
  }

  /** It will not be fed: waiting players fail with `err`. */
  fail(err: CdnError): void {
    this.#error = err;
    if (this.#state === 'pending') this.#state = 'failed';
    this.done.resolve();
  }

  async feed(abort: Promise<void>): Promise<number> {
    const ctx = this.ctx;
    if (this.#state === 'pending' && !(await within(Promise.race([this.done.promise, abort]), ctx.cascadeWaitMs))) {
      throw MediaErrors.stillRelaying(this.name, this.node.id, ctx.cascadeWaitMs);
    }
    const id = this.remotePublisherId;
    if (id === undefined) throw MediaErrors.relayFailed(this.name, this.node.id, this.#error?.message ?? 'the relay ended');
    return id;
  }

  /**
   * Ends the copy: its players told `ending`, its mountpoints, remote publisher and room removed
   * as far as they exist (skipped on a node that went down). Safe to call twice.
   */
  close(ending: PlayerEnding): Promise<void> {
    if (this.#closing !== undefined) return this.#closing;
    if (this.#state === 'pending' || this.#state === 'ready') this.#state = 'closed';
    this.done.resolve();
    this.ctx.changed();
    this.#closing = Promise.all([...this.players].map((p) => p.close(ending))).then(() => this.serial.run(() => this.#undo()));
    return this.#closing;
  }

  async #undo(): Promise<void> {
    const ctx = this.ctx;
    const edge = this.node;
    await this.mounts.closeAll();
    const made = this.#made;
    this.#made = 'nothing';
    if (!reachable(edge, this.generation)) return;
    if (made === 'remote-publisher' && this.#remotePublisherId !== undefined) {
      await ctx.quietly(vr.removeRemotePublisher(edge.control, { room: this.room, id: this.#remotePublisherId }, ctx.rq), `remove remote publisher on ${edge.id}`);
    }
    if (made !== 'nothing') await ctx.quietly(vr.destroyRoom(edge.control, this.room, ctx.adminKey, ctx.rq), `destroy room on ${edge.id}`);
  }
}
