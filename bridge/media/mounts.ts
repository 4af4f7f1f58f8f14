/**
 * What a player plays from on its node, and the mountpoints it keeps there. A stream is played
 * from its origin's publisher (the Stream itself) or from an edge's copy of it (a Relay): each is a
 * `PlaySource` that owns the players and the mountpoints on its own node, so that everything on a
 * node belongs to something on that node.
 *
 * `MountSet` holds one source's mountpoints: a player with a plan needs the mountpoint of its
 * payload-type profile; one without takes the busiest one, or one with default payload types.
 * Changes run in the source's Serial, so two players of one profile never make two mountpoints.
 */
import { Errors } from '../../protocol/index.ts';
import { mountProfile, profileKey, type PlaybackPlan } from '../sdp/index.ts';
import { reachable, type MediaContext, type MediaNode } from './context.ts';
import { MediaErrors } from './errors.ts';
import { Mount, type MountSource } from './mount.ts';
import { sourceTracks, type Serial } from './plan.ts';
import type { Player } from './player.ts';

/** What a player plays from: the stream on its origin, or an edge's copy of it. */
export interface PlaySource {
  readonly name: string;
  readonly node: MediaNode;
  readonly players: Set<Player>;
  readonly mounts: MountSet;
  /** The publisher its mountpoints are fed from on `node`, once there is one; stops waiting when `abort` resolves. */
  feed(abort: Promise<void>): Promise<number>;
}

/** What a MountSet needs of its source. */
export interface MountSetSource extends MountSource {
  readonly serial: Serial;
}

export class MountSet {
  readonly #mounts = new Set<Mount>();

  constructor(
    readonly ctx: MediaContext,
    readonly source: MountSetSource,
    readonly node: MediaNode,
  ) {}

  get size(): number {
    return this.#mounts.size;
  }

  [Symbol.iterator](): IterableIterator<Mount> {
    return this.#mounts.values();
  }

  /** The mountpoint `player` watches, found or made, with the player counted on it. */
  acquire(player: Player, feed: number, plan: PlaybackPlan | undefined): Promise<Mount> {
    const s = this.source;
    const node = this.node;
    return s.serial.run(async () => {
      if (!s.live) throw Errors.streamNotFound(s.name);
      if (player.state === 'closing' || player.state === 'closed') throw MediaErrors.playEnded(s.name);
      if (!reachable(node, player.generation)) throw node.unavailable();
      const current = [...this.#mounts].filter((m) => m.usable(node, feed));
      const tracks = sourceTracks(s.streams);
      const wanted = plan === undefined ? undefined : mountProfile(tracks, plan);
      let mount = wanted === undefined ? current.sort((a, b) => b.players.size - a.players.size)[0] : current.find((m) => m.key === profileKey(wanted));
      if (mount === undefined) {
        mount = new Mount(this.ctx, s, node, wanted ?? mountProfile(tracks), feed);
        this.#mounts.add(mount);
        try {
          await mount.open();
        } finally {
          if (mount.state !== 'ready') this.#mounts.delete(mount);
        }
      }
      mount.players.add(player);
      player.joined(mount);
      return mount;
    });
  }

  /** A player left its mountpoint: the mountpoint goes when it was the last one. */
  leave(player: Player, m: Mount): void {
    m.players.delete(player);
    if (m.players.size > 0 || m.state !== 'ready') return;
    // Queued behind any play that is taking this mountpoint right now: it is dropped only if still unused.
    void this.source.serial.run(async () => {
      if (m.players.size === 0) await this.#drop(m);
    });
  }

  /** A mountpoint an earlier run made (../adopt.ts). */
  adopt(m: Mount): void {
    this.#mounts.add(m);
  }

  /** Drops the mountpoints no player watches (after a restart, those whose players are gone). */
  dropIdle(): void {
    for (const m of [...this.#mounts]) {
      if (m.players.size > 0) continue;
      void this.source.serial.run(async () => {
        if (m.players.size === 0 && this.#mounts.has(m)) await this.#drop(m);
      });
    }
  }

  /** Closes every mountpoint. Runs in the source's Serial. */
  async closeAll(): Promise<void> {
    for (const m of [...this.#mounts]) await this.#drop(m);
  }

  /** The ids of the current mountpoints (the sweep keeps them). */
  ids(): number[] {
    const node = this.node;
    return [...this.#mounts].flatMap((m) => (m.generation === node.generation && m.id !== undefined ? [m.id] : []));
  }

  #drop(m: Mount): Promise<void> {
    this.#mounts.delete(m);
    return m.close();
  }
}
