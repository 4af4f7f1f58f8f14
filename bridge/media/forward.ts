/**
 * The origin's forward of a stream to an edge's copy (./relay.ts): the VideoRoom's
 * `publish_remotely` of the origin publisher to the edge's remote publisher, with `rtcp_port` so
 * keyframe requests from edge viewers reach the publisher. It belongs to the origin, as the copy
 * belongs to the edge. `close()` stops it (`unpublish_remotely`) if it was made and the origin is
 * still reachable; it is safe to call twice.
 */
import { Errors } from '../../protocol/index.ts';
import * as vr from '../janus/videoroom.ts';
import type { PublisherStream } from '../janus/videoroom.ts';
import { reachable, type MediaContext, type MediaNode } from './context.ts';
import type { RelayTarget } from './relay.ts';

/** What a forward needs of its stream on the origin. */
export interface ForwardSource {
  readonly name: string;
  readonly room: number;
  readonly node: MediaNode;
  readonly generation: number;
  readonly streams: readonly PublisherStream[];
  readonly publisherId: number | undefined;
}

export class Forward {
  #made = false;
  #closing: Promise<void> | undefined;

  constructor(
    readonly ctx: MediaContext,
    readonly source: ForwardSource,
    /** The id the origin forwards under (unique per edge, node generation and bridge run). */
    readonly remoteId: string,
    /** The edge it forwards to. */
    readonly edge: string,
  ) {}

  /** A forward an earlier bridge run made and Janus kept (../adopt.ts). */
  static adopt(ctx: MediaContext, source: ForwardSource, remoteId: string, edge: string): Forward {
    const f = new Forward(ctx, source, remoteId, edge);
    f.#made = true;
    return f;
  }

  /** Starts forwarding to `target` on the edge whose RTP address (as the origin reaches it) is `host`. */
  async open(host: string, target: Pick<RelayTarget, 'port' | 'rtcpPort'>): Promise<void> {
    const s = this.source;
    const ctx = this.ctx;
    if (s.publisherId === undefined) throw Errors.internal(`the publisher of "${s.name}" has no id`);
    await vr.publishRemotely(
      s.node.control,
      { room: s.room, publisherId: s.publisherId, remoteId: this.remoteId, adminKey: ctx.adminKey, host, port: target.port, rtcpPort: target.rtcpPort },
      ctx.rq,
    );
    this.#made = true;
  }

  close(): Promise<void> {
    this.#closing ??= this.#undo();
    return this.#closing;
  }

  async #undo(): Promise<void> {
    const s = this.source;
    const ctx = this.ctx;
    const made = this.#made;
    this.#made = false;
    if (!made || s.publisherId === undefined || !reachable(s.node, s.generation)) return;
    await ctx.quietly(
      vr.unpublishRemotely(s.node.control, { room: s.room, publisherId: s.publisherId, remoteId: this.remoteId, adminKey: ctx.adminKey }, ctx.rq),
      `unpublish_remotely ${this.remoteId}`,
    );
  }
}
