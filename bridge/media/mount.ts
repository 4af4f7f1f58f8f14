/**
 * One Streaming mountpoint of a stream on a node, shared by the players of one payload-type
 * profile, and the VideoRoom forwarders (`rtp_forward`) that feed it from the stream's publisher
 * on that node (the origin's own, or an edge's remote one), with the mountpoint's RTCP port as the
 * forwarder's `rtcp_port` so keyframe requests travel back. A mountpoint sends the payload types it
 * was made with, and keeps the last keyframe for the next viewer.
 *
 *   opening ──open()──> ready ──close()──> closing ──> closed
 *      └────(a step fails: close())──────────┘
 *
 * Runs inside its stream's Serial. `close()` stops the forwarders and destroys the mountpoint as
 * far as they exist; it is safe to call twice.
 */
import { Errors } from '../../protocol/index.ts';
import { JANUS_VIDEOROOM_ERROR, toCdnError } from '../janus/errors.ts';
import * as st from '../janus/streaming.ts';
import * as vr from '../janus/videoroom.ts';
import type { PublisherStream } from '../janus/videoroom.ts';
import { profileKey, type MountTrack } from '../sdp/index.ts';
import { reachable, type MediaContext, type MediaNode } from './context.ts';
import { MediaErrors } from './errors.ts';
import { feedMid, roomDescription } from './plan.ts';
import type { Player } from './player.ts';

/** Where mountpoints take their RTP: the forwarder is the same Janus process, so loopback. */
const MOUNT_HOST = '127.0.0.1';

/** How often, and how far apart, a forward into a mountpoint is retried while Janus registers the feed. */
const FEED_RETRY_ATTEMPTS = 5;
const FEED_RETRY_DELAY_MS = 40;

/** What a mountpoint needs of what it plays: the origin's stream, or an edge's copy of it. */
export interface MountSource {
  readonly name: string;
  readonly room: number;
  /** The origin publisher's streams. */
  readonly streams: readonly PublisherStream[];
  readonly live: boolean;
  /** Fed from an edge's remote publisher, whose mids are its own (not the origin publisher's). */
  readonly remote: boolean;
}

export type MountState = 'opening' | 'ready' | 'closing' | 'closed';

export class Mount {
  readonly generation: number;
  readonly key: string;
  readonly players = new Set<Player>();
  #state: MountState = 'opening';
  /** The mountpoint's id once created. */
  #id: number | undefined;
  /** The VideoRoom forwarders feeding it (their stream_ids). */
  #forwarders: number[] = [];
  #closing: Promise<void> | undefined;

  constructor(
    readonly ctx: MediaContext,
    readonly source: MountSource,
    readonly node: MediaNode,
    readonly profile: readonly MountTrack[],
    /** The publisher it is fed from on `node`: the origin's own, or the edge's remote one. */
    readonly feed: number,
  ) {
    this.generation = node.generation;
    this.key = profileKey(profile);
  }

  get state(): MountState {
    return this.#state;
  }

  get id(): number | undefined {
    return this.#id;
  }

  /** The stream_ids of the VideoRoom forwarders feeding it. */
  get forwarders(): readonly number[] {
    return this.#forwarders;
  }

  /** A mountpoint an earlier bridge run made and Janus kept (./adopt.ts), with its forwarders. */
  adopt(id: number, forwarders: readonly number[]): void {
    this.#id = id;
    this.#forwarders = [...forwarders];
    this.#state = 'ready';
  }

  /** Whether a player of `node` fed from `feed` may join it. */
  usable(node: MediaNode, feed: number): boolean {
    return this.node === node && this.generation === node.generation && this.feed === feed && (this.#state === 'opening' || this.#state === 'ready');
  }

  /** Creates the mountpoint and the forwarders that feed it; on failure closes what it made, and throws. */
  async open(): Promise<void> {
    const s = this.source;
    const node = this.node;
    const ctx = this.ctx;
    try {
      const created = await st.createMountpoint(
        node.streamingControl,
        {
          description: roomDescription(s.name),
          adminKey: ctx.adminKey,
          iface: MOUNT_HOST,
          media: this.profile.map((t) => ({
            type: t.type,
            mid: t.mid,
            pt: t.pt,
            codec: t.codec,
            fmtp: t.fmtp,
            msid: `fanout fanout-${t.type}-${t.mid}`,
            bufferkf: t.type === 'video',
          })),
        },
        ctx.rq,
      );
      this.#id = created.id;
      if (this.#state !== 'opening' || !s.live || !reachable(node, this.generation)) throw MediaErrors.mountChanged(node.id);
      const streams = created.media.map((port) => {
        const mid = feedMid(s.streams, port.mid, !s.remote);
        if (mid === undefined) throw Errors.internal(`mountpoint ${created.id} has a stream (mid ${port.mid}) the publisher does not`);
        return { mid, port: port.port, rtcpPort: port.type === 'video' ? port.rtcp_port : undefined };
      });
      // An edge's remote publisher is registered asynchronously by Janus: right after the cascade a
      // forward can still meet "428 no such feed" for a few milliseconds. Retry that case only.
      let forwarders: vr.Forwarder[] | undefined;
      for (let attempt = 1; forwarders === undefined; attempt++) {
        try {
          forwarders = await vr.rtpForward(node.control, { room: s.room, publisherId: this.feed, host: MOUNT_HOST, streams, adminKey: ctx.adminKey }, ctx.rq);
        } catch (err) {
          const e = toCdnError(err, 'rtp_forward');
          if (e.janusCode !== JANUS_VIDEOROOM_ERROR.NO_SUCH_FEED || attempt >= FEED_RETRY_ATTEMPTS) throw err;
          await new Promise((r) => setTimeout(r, FEED_RETRY_DELAY_MS));
        }
      }
      this.#forwarders = forwarders.map((f) => f.stream_id);
      this.#state = 'ready';
      ctx.changed();
      ctx.log.debug('mountpoint ready', { stream: s.name, node: node.id, mountpoint: this.#id, profile: this.key });
    } catch (err) {
      await this.close();
      throw err;
    }
  }

  /** Stops the forwarders and destroys the mountpoint, as far as they exist. Safe to call twice. */
  close(): Promise<void> {
    this.#closing ??= this.#teardown();
    return this.#closing;
  }

  async #teardown(): Promise<void> {
    this.#state = 'closing';
    this.ctx.changed();
    const node = this.node;
    const ctx = this.ctx;
    const forwarders = this.#forwarders.splice(0);
    if (reachable(node, this.generation)) {
      for (const streamId of forwarders) {
        await ctx.quietly(
          vr.stopRtpForward(node.control, { room: this.source.room, publisherId: this.feed, streamId, adminKey: ctx.adminKey }, ctx.rq),
          `stop forwarder ${streamId} on ${node.id}`,
        );
      }
      if (this.#id !== undefined) await ctx.quietly(st.destroyMountpoint(node.streamingControl, this.#id, ctx.adminKey, ctx.rq), `destroy mountpoint ${this.#id} on ${node.id}`);
      ctx.log.debug('mountpoint removed', { stream: this.source.name, node: node.id, mountpoint: this.#id, profile: this.key });
    }
    this.#state = 'closed';
  }
}
