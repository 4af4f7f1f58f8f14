/**
 * What every media entity (stream, cascade, mountpoint, player) shares: the nodes as the media layer
 * sees them, the options, and one context object with the settings and the few services an entity
 * calls back into (the load recount, event sending, quiet teardown steps, attaching with a timeout,
 * creating a stream's room). The entities hold it; only the controller makes it.
 */
import { errorText, type BridgeEvent, type Bitrate, type CdnError, type Logger } from '../../protocol/index.ts';
import type { Owner } from '../api/index.ts';
import { isBenignTeardownError, JANUS_VIDEOROOM_ERROR, janusTimeout, toCdnError } from '../janus/errors.ts';
import * as vr from '../janus/videoroom.ts';
import type { JanusHandle, PublisherStream } from '../janus/videoroom.ts';
import type { NodeSession } from '../state/journal.ts';
import { h264Profile, ROOM_AUDIO_CODECS, ROOM_VIDEO_CODECS, roomDescription } from './plan.ts';

// ---------------------------------------------------------------- what the media layer needs of the nodes

/** A Janus node as the media layer sees it (a JanusNode from ../nodes satisfies it). */
export interface MediaNode {
  readonly id: string;
  readonly role: 'origin' | 'edge';
  readonly up: boolean;
  /** Bumped on every (re)connection: handles and rooms of an older generation are gone or unreachable. */
  readonly generation: number;
  readonly load: { publishers: number; subscribers: number };
  readonly config: { readonly janusUrl: string };
  /** A long-lived handle for room management; throws UNAVAILABLE when the node is down. */
  readonly control: JanusHandle;
  /** A long-lived Streaming handle for mountpoint management; throws UNAVAILABLE when the node is down. */
  readonly streamingControl: JanusHandle;
  /** A new VideoRoom handle (a publisher). */
  attach(): Promise<JanusHandle>;
  /** A new Streaming handle (a player). */
  attachStreaming(): Promise<JanusHandle>;
  /**
   * Whether this node's connection took back the Janus session an earlier bridge run left (so
   * what that run made here is still there); false after a fresh session.
   */
  readonly reclaimed: boolean;
  /** A handle object for handle `id` of the reclaimed session (nothing is sent to Janus). */
  adoptHandle(plugin: 'videoroom' | 'streaming', id: number): JanusHandle;
  /** The ids that let a restarted bridge claim this node's session (the journal's), while it is up. */
  record(): NodeSession | undefined;
  unavailable(): CdnError;
}

/** The node set (a NodeManager satisfies it). */
export interface MediaNodes {
  /** The topology's origins, by id, in topology order (driven here or not). */
  readonly originIds: readonly string[];
  /** The nodes this process drives: every node, or an agent's one. */
  readonly all: readonly MediaNode[];
  /** The edges this process drives. */
  readonly edges: readonly MediaNode[];
  /** Throws NOT_FOUND for an id that is not in the topology, or that another agent drives. */
  get(id: string): MediaNode;
  loadChanged(node: MediaNode): void;
  /** Resolves once every node has connected or failed its first try (what to take back is then known). */
  firstTries(): Promise<void>;
  on(event: 'up' | 'down', listener: (node: MediaNode) => void): unknown;
  off(event: 'up' | 'down', listener: (node: MediaNode) => void): unknown;
}

/** Whether what was made on `node` in connection `generation` is still there to be changed. */
export function reachable(node: MediaNode, generation: number): boolean {
  return node.up && node.generation === generation;
}

export interface MediaOptions {
  nodes: MediaNodes;
  /** The VideoRoom admin_key (Fanout's Janus config uses the API secret), for create/destroy/list and publish_remotely. */
  adminKey: string | undefined;
  log: Logger;
  /** Timeout of every Janus request. */
  requestTimeoutMs?: number;
  /** A player that does not answer Janus's offer within this is ended. */
  answerTimeoutMs?: number;
  /** A publisher whose WebRTC is not up within this after configuring is ended. */
  mediaTimeoutMs?: number;
  /** A publisher from which no stream has had media for this long is ended (0: never). */
  noMediaTimeoutMs?: number;
  /** How long a play waits for a cascade to its edge that is under way. */
  cascadeWaitMs?: number;
  /** How long to wait for Janus's trickled candidates after its offer or answer. */
  candidateWaitMs?: number;
  /** Where the origin sends an edge's RTP; default: the host of the edge's Janus API URL. */
  rtpHost?: (node: MediaNode) => string;
  /** Told once per stream when its cascade is ready on every edge (metrics); a throwing listener is logged. */
  onCascadeReady?: (stream: string, ms: number) => void;
  /**
   * Where the bridge keeps its journal (../state/journal.ts), so that a restarted bridge takes back
   * what this one made; undefined: no journal (tests of the media layer alone).
   */
  stateDir?: string | undefined;
  /** How long a lost link's publishes and plays wait for a `bind` (default BRIDGE_OWNER_GRACE_MS). */
  ownerGraceMs?: number;
  /**
   * Janus's own per-handle statistics (../metrics/janus-stats.ts, from its event handler), which
   * tell what was lost with the events while the bridge was away (./adopt.ts `watchAdopted`).
   */
  janusStats?: JanusStatsView | undefined;
}

/** What the media layer reads of Janus's statistics. */
export interface JanusStatsView {
  /** The latest bitrates (bits/s) of a handle, unless stale. */
  bitrate(handle: number): { in: Bitrate; out: Bitrate; at: number } | undefined;
  /** When the latest statistics of any handle came (undefined: none yet). */
  readonly lastAt: number | undefined;
}

/** How a publish or play ended, as `bind` reports it. */
export type EndStatus = 'UNPUBLISHED' | 'STOPPED' | 'FAILED';

/** What the registry does for the entities beyond the load recount. */
export interface ContextHooks {
  /** Keeps a node's load figures equal to what the registry holds on it. */
  recount(node: MediaNode): void;
  /** Something the journal keeps changed. */
  changed(): void;
  /** A publish or play ended (remembered for a while, for `bind`). */
  ended(id: string, status: EndStatus, info: string): void;
  /** A handle was attached: the journal lists it at once (until it is detached), so no restart loses it. */
  attached(node: MediaNode, handle: JanusHandle): void;
}

/**
 * How long every stream of a publisher may stay without media, after Janus reported it stopped
 * (its `no_media_timer`, 1 s in Fanout's config, checked once a second), before the publisher is
 * ended. A PeerConnection that vanishes without a DTLS alert (a crashed tab, a lost network) is
 * noticed only this way, and its players must hear within 5 s: Janus reports about 2 s after the
 * last packet (2.1 s measured), then this, so players hear after about 3.1 s. A live WebRTC sender
 * is never silent on every stream for 3 s (a muted track still sends silence or black frames).
 */
export const DEFAULT_NO_MEDIA_TIMEOUT_MS = 1_000;

// ---------------------------------------------------------------- the context

export class MediaContext {
  readonly nodes: MediaNodes;
  readonly adminKey: string | undefined;
  readonly log: Logger;
  readonly rq: vr.RequestOptions;
  readonly answerTimeoutMs: number;
  readonly mediaTimeoutMs: number;
  readonly noMediaTimeoutMs: number;
  readonly cascadeWaitMs: number;
  readonly candidateWaitMs: number;
  readonly rtpHost: (node: MediaNode) => string;
  readonly onCascadeReady: ((stream: string, ms: number) => void) | undefined;
  readonly janusStats: JanusStatsView | undefined;
  /** Keeps a node's load figures equal to what the registry holds on it (the controller's). */
  readonly recount: (node: MediaNode) => void;
  /** Something the journal keeps changed: it is rewritten soon (call it after every such change). */
  readonly changed: () => void;
  /** A publish or play ended, with how (for a link that re-binds it later). */
  readonly ended: (id: string, status: EndStatus, info: string) => void;
  readonly #attached: (node: MediaNode, handle: JanusHandle) => void;

  constructor(opts: MediaOptions, hooks: ContextHooks) {
    this.nodes = opts.nodes;
    this.adminKey = opts.adminKey;
    this.log = opts.log.child({ component: 'media' });
    this.rq = { timeoutMs: opts.requestTimeoutMs ?? vr.DEFAULT_REQUEST_TIMEOUT_MS };
    this.answerTimeoutMs = opts.answerTimeoutMs ?? 30_000;
    this.mediaTimeoutMs = opts.mediaTimeoutMs ?? 30_000;
    this.noMediaTimeoutMs = opts.noMediaTimeoutMs ?? DEFAULT_NO_MEDIA_TIMEOUT_MS;
    this.cascadeWaitMs = opts.cascadeWaitMs ?? 10_000;
    this.candidateWaitMs = opts.candidateWaitMs ?? 1_000;
    this.rtpHost = opts.rtpHost ?? ((node) => new URL(node.config.janusUrl).hostname);
    this.onCascadeReady = opts.onCascadeReady;
    this.janusStats = opts.janusStats;
    this.recount = hooks.recount;
    this.changed = hooks.changed;
    this.ended = hooks.ended;
    this.#attached = hooks.attached;
  }

  /** A teardown step: what is already gone is expected (debug); anything else is logged, never thrown. */
  async quietly(step: Promise<unknown>, what: string): Promise<void> {
    try {
      await step;
    } catch (err) {
      if (isBenignTeardownError(err)) this.log.debug('already gone', { what, err: errorText(err) });
      else this.log.warn('teardown step failed', { what, err: toCdnError(err, what) });
    }
  }

  /** Pushes an event to its owner; an owner that cannot take it is logged, never fatal. */
  send(owner: Owner, event: BridgeEvent): void {
    try {
      owner.send(event);
    } catch (err) {
      this.log.warn('cannot send an event', { owner: owner.id, err });
    }
  }

  /** Attaches a handle with the request timeout; a handle that arrives too late is detached. */
  async attach(node: MediaNode, attach: () => Promise<JanusHandle>): Promise<JanusHandle> {
    const pending = attach();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(janusTimeout(`attach on ${node.id}`, this.rq.timeoutMs)), this.rq.timeoutMs);
    });
    try {
      const handle = await Promise.race([pending, timeout]);
      this.#attached(node, handle);
      return handle;
    } catch (err) {
      pending.then((h) => h.detach()).catch(() => undefined);
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Creates a stream's room on `node`. A 427 (room exists) means a stale room holds the id: on the
   * origin `renew` picks another id (and returns it); on an edge (no `renew`) the stale room is
   * destroyed and created again. Edges offer the origin publisher's H264 profile (see
   * vr.createRoom); the origin takes any. Returns the room id created.
   */
  async createRoom(
    node: MediaNode,
    p: { room: number; name: string; streams: readonly PublisherStream[] | undefined },
    renew: (() => number) | undefined,
  ): Promise<number> {
    let room = p.room;
    for (let attempt = 1; ; attempt++) {
      try {
        await vr.createRoom(
          node.control,
          {
            room,
            description: roomDescription(p.name),
            adminKey: this.adminKey,
            publishers: 1,
            audiocodec: ROOM_AUDIO_CODECS,
            videocodec: ROOM_VIDEO_CODECS,
            h264Profile: p.streams === undefined ? undefined : h264Profile(p.streams),
          },
          this.rq,
        );
        return room;
      } catch (err) {
        const e = toCdnError(err, `create room on ${node.id}`);
        if (e.janusCode !== JANUS_VIDEOROOM_ERROR.ROOM_EXISTS || attempt >= 3) throw e;
        if (renew !== undefined) room = renew();
        else await this.quietly(vr.destroyRoom(node.control, room, this.adminKey, this.rq), `destroy stale room on ${node.id}`);
      }
    }
  }
}
