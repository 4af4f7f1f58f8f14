/**
 * The media layer behind the worker API: publish on the origin, the origin-to-edge cascade, play on
 * any node, and the teardown of all of it. It owns the media state and is the only thing that
 * changes Janus rooms.
 *
 * Names and rooms: every published stream gets a fresh random numeric room id, used for its room on
 * the origin and on every edge, with the description "fanout:<stream>". Two streams never share a
 * room, a name is free again the moment its stream starts ending, and a restarted bridge finds the
 * rooms an earlier run left behind by their description and sweeps them when a node comes up.
 *
 * Per stream: the origin publisher (joinandconfigure with the client's offer); per healthy edge a
 * remote publisher whose streams mirror the origin publisher's mindexes, fed by `publish_remotely`
 * with `rtcp_port` (keyframe requests from edge viewers must reach the publisher).
 *
 * Players, on any node, watch a Streaming mountpoint ("fanout:<stream>" too) that the node's
 * VideoRoom feeds with `rtp_forward` from the stream's publisher there (the origin's own, an edge's
 * remote one), with the mountpoint's RTCP port as the forwarder's `rtcp_port` so keyframe requests
 * travel back. A mountpoint sends the payload types it was made with, so one mountpoint serves every
 * player of one payload-type profile: a player that offers (WebSDK, WHEP) gets one made with its own
 * numbers (../sdp joins its offer to Janus's); a player that answers (Fanout's SDK) takes any
 * mountpoint of the stream on its node. Mountpoints keep the last keyframe for the next viewer, so
 * viewers that join together do not wait for the publisher's next keyframe. A mountpoint and its
 * forwarders go when its last player leaves, the stream ends, or its node goes down.
 *
 * Changes to one stream's Janus state run one at a time (its Serial), and every record has one
 * cleanup path (`#endStream`, `#closePlayer`, `#dropCascade`, `#dropMount`) that is safe to call
 * twice and tolerates what is already gone.
 */
import type { MediaService, Owner } from '../api/index.ts';
import { CdnError, type BridgeEvent, type Params, type Result } from '../../protocol/index.ts';
import { isBenignTeardownError, JANUS_VIDEOROOM_ERROR, sdpError, toCdnError } from '../janus/errors.ts';
import { canTrickle, trickle as trickleCandidates } from '../janus/trickle.ts';
import * as st from '../janus/streaming.ts';
import * as vr from '../janus/videoroom.ts';
import type { JanusHandle, PublisherStream } from '../janus/videoroom.ts';
import type { Logger } from '../log.ts';
import { mountProfile, planPlayback, profileKey, readOffer, reconcile, watchedMids, type Description, type MountTrack, type PlaybackPlan } from '../sdp/index.ts';
import {
  describeStreams,
  feedMid,
  h264Profile,
  newId,
  newRoomId,
  remotePublisherStreams,
  roomDescription,
  ROOM_AUDIO_CODECS,
  ROOM_PREFIX,
  ROOM_VIDEO_CODECS,
  Serial,
  signal,
  sourceTracks,
  usableStreams,
  within,
  type Signal,
} from './plan.ts';

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
  unavailable(): CdnError;
}

/** The node set (a NodeManager satisfies it). */
export interface MediaNodes {
  readonly origin: MediaNode;
  readonly edges: readonly MediaNode[];
  /** Throws NOT_FOUND 'unknown node "<id>"'. */
  get(id: string): MediaNode;
  loadChanged(node: MediaNode): void;
  on(event: 'up' | 'down', listener: (node: MediaNode) => void): unknown;
  off(event: 'up' | 'down', listener: (node: MediaNode) => void): unknown;
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

/** How often, and how far apart, a forward into a mountpoint is retried while Janus registers the feed. */
const FEED_RETRY_ATTEMPTS = 5;
const FEED_RETRY_DELAY_MS = 40;

/** The media service, plus what the bridge itself needs. */
export interface Media extends MediaService {
  /** ms from "publisher configured" to "cascade ready on every edge" for a live stream, once known. */
  cascadeReadyMs(stream: string): number | undefined;
  /** A read-only view of every live or starting stream (metrics and the dashboard). */
  streams(): StreamSnapshot[];
  /** Ends every stream and player (bridge shutdown). Safe to call twice. */
  close(): Promise<void>;
}

/** One stream as `streams()` shows it: ids and states only, nothing that can change Janus. */
export interface StreamSnapshot {
  readonly name: string;
  readonly publishId: string;
  readonly origin: string;
  /** Epoch ms the publisher was configured; undefined while it is being set up. */
  readonly configuredAt: number | undefined;
  /** PUBLISHING was sent (WebRTC up and media flowing). */
  readonly publishing: boolean;
  /** The Janus handle id of the publisher on the origin, once attached. */
  readonly publisherHandle: number | undefined;
  readonly cascadeReadyMs: number | undefined;
  readonly edges: ReadonlyArray<{ readonly node: string; readonly state: 'pending' | 'ready' | 'failed' }>;
  readonly players: ReadonlyArray<{ readonly playId: string; readonly node: string; readonly handle: number | undefined; readonly playing: boolean }>;
}

// ---------------------------------------------------------------- records

type Ending = { status: 'UNPUBLISHED' | 'FAILED'; info: string; notifyOwner: boolean };
type PlayerEnding = { status: 'STOPPED' | 'FAILED'; info: string };

/** One edge's copy of a stream. */
class Cascade {
  readonly node: MediaNode;
  readonly generation: number;
  readonly remoteId: string;
  readonly done: Signal = signal();
  state: 'pending' | 'ready' | 'failed' = 'pending';
  roomCreated = false;
  remotePublisherId: number | undefined;
  forwarding = false;
  error: CdnError | undefined;

  constructor(node: MediaNode) {
    this.node = node;
    this.generation = node.generation;
    this.remoteId = `fanout-${node.id}-${node.generation}`;
  }
}

/** Where mountpoints take their RTP: the forwarder is the same Janus process, so loopback. */
const MOUNT_HOST = '127.0.0.1';

/** One Streaming mountpoint of a stream on a node, shared by the players of one payload-type profile. */
class Mount {
  readonly generation: number;
  readonly key: string;
  readonly players = new Set<PlayerRecord>();
  /** The mountpoint's id once created. */
  id: number | undefined;
  /** The VideoRoom forwarders feeding it (their stream_ids). */
  forwarders: number[] = [];
  closing = false;

  constructor(
    readonly node: MediaNode,
    readonly profile: readonly MountTrack[],
    /** The publisher it is fed from on `node`: the origin's own, or the edge's remote one. */
    readonly feed: number,
  ) {
    this.generation = node.generation;
    this.key = profileKey(profile);
  }
}

class StreamRecord {
  readonly serial = new Serial();
  readonly cascades = new Map<string, Cascade>();
  readonly players = new Set<PlayerRecord>();
  readonly mounts = new Set<Mount>();
  readonly generation: number;
  state: 'starting' | 'live' | 'closing' = 'starting';
  ending: Promise<void> | undefined;
  room: number;
  roomCreated = false;
  handle: JanusHandle | undefined;
  unwatch: () => void = () => undefined;
  publisherId: number | undefined;
  streams: PublisherStream[] = [];
  configuredAt: number | undefined;
  cascadeReadyMs: number | undefined;
  webrtcUp = false;
  /** Resolved when the publisher's WebRTC is up: Janus refuses subscribers to it before (428). */
  readonly webrtc: Signal = signal();
  receiving = false;
  /** Whether Janus currently receives each of the publisher's streams (by mid), from its media events. */
  readonly flowing = new Map<string, boolean>();
  noMediaTimer: NodeJS.Timeout | undefined;
  publishingSent = false;
  mediaTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly name: string,
    readonly publishId: string,
    readonly owner: Owner,
    readonly node: MediaNode,
    room: number,
  ) {
    this.generation = node.generation;
    this.room = room;
  }
}

class PlayerRecord {
  readonly serial = new Serial();
  readonly generation: number;
  state: 'joining' | 'offered' | 'starting' | 'started' | 'closing' = 'joining';
  closing: Promise<void> | undefined;
  handle: JanusHandle | undefined;
  /** The mountpoint it watches. */
  mount: Mount | undefined;
  unwatch: () => void = () => undefined;
  playingSent = false;
  answerTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly playId: string,
    readonly owner: Owner,
    readonly stream: StreamRecord,
    readonly node: MediaNode,
  ) {
    this.generation = node.generation;
  }
}

/** A player that sends its own offer: the offer as read, and which of its m-lines gets which track. */
interface ClientOffer {
  offer: Description;
  plan: PlaybackPlan;
}

// ---------------------------------------------------------------- the service

export class MediaController implements Media {
  readonly #nodes: MediaNodes;
  readonly #adminKey: string | undefined;
  readonly #log: Logger;
  readonly #rq: vr.RequestOptions;
  readonly #answerTimeoutMs: number;
  readonly #mediaTimeoutMs: number;
  readonly #noMediaTimeoutMs: number;
  readonly #cascadeWaitMs: number;
  readonly #candidateWaitMs: number;
  readonly #rtpHost: (node: MediaNode) => string;
  readonly #onCascadeReady: ((stream: string, ms: number) => void) | undefined;
  /** Live and starting streams by name, and by publishId. */
  readonly #streams = new Map<string, StreamRecord>();
  readonly #publishes = new Map<string, StreamRecord>();
  /** Every stream record until its cleanup is done (ending ones included). */
  readonly #records = new Set<StreamRecord>();
  readonly #players = new Map<string, PlayerRecord>();
  readonly #onUp = (node: MediaNode): void => this.#nodeUp(node);
  readonly #onDown = (node: MediaNode): void => this.#nodeDown(node);
  #closed = false;

  constructor(opts: MediaOptions) {
    this.#nodes = opts.nodes;
    this.#adminKey = opts.adminKey;
    this.#log = opts.log.child({ component: 'media' });
    this.#rq = { timeoutMs: opts.requestTimeoutMs ?? vr.DEFAULT_REQUEST_TIMEOUT_MS };
    this.#answerTimeoutMs = opts.answerTimeoutMs ?? 30_000;
    this.#mediaTimeoutMs = opts.mediaTimeoutMs ?? 30_000;
    this.#noMediaTimeoutMs = opts.noMediaTimeoutMs ?? DEFAULT_NO_MEDIA_TIMEOUT_MS;
    this.#cascadeWaitMs = opts.cascadeWaitMs ?? 10_000;
    this.#candidateWaitMs = opts.candidateWaitMs ?? 1_000;
    this.#rtpHost = opts.rtpHost ?? ((node) => new URL(node.config.janusUrl).hostname);
    this.#onCascadeReady = opts.onCascadeReady;
    this.#nodes.on('up', this.#onUp);
    this.#nodes.on('down', this.#onDown);
  }

  cascadeReadyMs(stream: string): number | undefined {
    return this.#streams.get(stream)?.cascadeReadyMs;
  }

  streams(): StreamSnapshot[] {
    return [...this.#streams.values()].map((rec) => ({
      name: rec.name,
      publishId: rec.publishId,
      origin: rec.node.id,
      configuredAt: rec.configuredAt,
      publishing: rec.publishingSent,
      publisherHandle: rec.handle?.id,
      cascadeReadyMs: rec.cascadeReadyMs,
      edges: [...rec.cascades.values()].map((c) => ({ node: c.node.id, state: c.state })),
      players: [...rec.players].map((p) => ({ playId: p.playId, node: p.node.id, handle: p.handle?.id, playing: p.playingSent })),
    }));
  }

  // ---------------------------------------------------------------- publish

  async publish(owner: Owner, params: Params<'publish'>): Promise<Result<'publish'>> {
    this.#checkNotClosed();
    const node = this.#nodes.get(params.node);
    if (node.role !== 'origin') {
      throw new CdnError(
        'FAILED_PRECONDITION',
        `publishing is accepted only on the origin ("${this.#nodes.origin.id}"), not on edge "${node.id}"`,
      );
    }
    if (this.#streams.has(params.stream)) throw new CdnError('ALREADY_EXISTS', `stream already published: "${params.stream}"`);
    if (!node.up) throw node.unavailable();

    const rec = new StreamRecord(params.stream, newId('pub_'), owner, node, newRoomId((r) => this.#roomTaken(r)));
    this.#streams.set(rec.name, rec);
    this.#publishes.set(rec.publishId, rec);
    this.#records.add(rec);
    let answer: string;
    try {
      answer = await rec.serial.run(() => this.#startPublisher(rec, params.sdp));
    } catch (err) {
      const e = sdpError(toCdnError(err, `publish "${rec.name}"`));
      await this.#endStream(rec, { status: 'FAILED', info: e.message, notifyOwner: false });
      this.#log.info({ stream: rec.name, code: e.code, err: e.message }, 'publish refused');
      throw e;
    }
    this.#log.info({ stream: rec.name, publishId: rec.publishId, room: rec.room, media: describeStreams(rec.streams) }, 'publisher configured');
    void this.#cascadeAtPublish(rec);
    return { publishId: rec.publishId, sdp: answer };
  }

  async #startPublisher(rec: StreamRecord, offer: string): Promise<string> {
    const node = rec.node;
    await this.#createRoom(node, rec, () => (rec.room = newRoomId((r) => this.#roomTaken(r))));
    rec.roomCreated = true;
    this.#checkStream(rec);

    const handle = await this.#attach(node);
    rec.handle = handle;
    rec.unwatch = vr.watchHandle(
      handle,
      {
        webrtcup: () => {
          rec.webrtcUp = true;
          rec.webrtc.resolve();
          this.#maybePublishing(rec);
        },
        media: (e) => this.#publisherMedia(rec, e),
        hangup: (reason) =>
          void this.#endStream(rec, { status: /ice/i.test(reason) ? 'FAILED' : 'UNPUBLISHED', info: `the publisher hung up (${reason})`, notifyOwner: true }),
        iceFailed: () => void this.#endStream(rec, { status: 'FAILED', info: 'ICE failed', notifyOwner: true }),
        detached: () => {
          const info = node.up && node.generation === rec.generation ? 'the publisher handle was detached' : `the origin node "${node.id}" went down`;
          void this.#endStream(rec, { status: 'FAILED', info, notifyOwner: true });
        },
        destroyed: () => void this.#endStream(rec, { status: 'FAILED', info: 'the room was destroyed', notifyOwner: true }),
        slowlink: (e) => this.#send(rec.owner, { event: 'slowlink', id: rec.publishId, stream: rec.name, uplink: e.uplink, lost: e.lost }),
      },
      (err, event) => this.#log.warn({ stream: rec.name, event, err: String(err) }, 'publisher event handling failed'),
    );
    this.#recount(node);
    this.#checkStream(rec);

    const collector = new vr.CandidateCollector(handle);
    let joined: vr.JoinedPublisher;
    try {
      joined = await vr.joinAndConfigure(handle, { room: rec.room, display: rec.name, offer }, this.#rq);
    } catch (err) {
      collector.dispose();
      throw err;
    }
    const answer = await collector.complete(joined.answer, this.#candidateWaitMs);
    rec.publisherId = joined.id;
    rec.streams = joined.streams;
    this.#checkStream(rec);
    if (usableStreams(joined.streams).length === 0) {
      throw new CdnError('INVALID_ARGUMENT', `sdp: the offer has no audio or video Janus can take (audio: ${ROOM_AUDIO_CODECS}; video: ${ROOM_VIDEO_CODECS})`);
    }
    rec.state = 'live';
    rec.configuredAt = Date.now();
    rec.mediaTimer = setTimeout(() => {
      if (!rec.webrtcUp) void this.#endStream(rec, { status: 'FAILED', info: `WebRTC did not come up within ${this.#mediaTimeoutMs} ms`, notifyOwner: true });
    }, this.#mediaTimeoutMs);
    rec.mediaTimer.unref();
    return answer;
  }

  /**
   * Janus reports, per stream, when media starts and when it has stopped for its no-media timer.
   * A publisher whose every stream stopped for `noMediaTimeoutMs` is gone (a PeerConnection that
   * vanished without a DTLS alert is not noticed otherwise in time: ICE consent checks take ~30 s).
   */
  #publisherMedia(rec: StreamRecord, e: vr.MediaEvent): void {
    rec.flowing.set(e.mid ?? e.type, e.receiving);
    if (e.receiving) {
      rec.receiving = true;
      clearTimeout(rec.noMediaTimer);
      rec.noMediaTimer = undefined;
      this.#maybePublishing(rec);
      return;
    }
    if (this.#noMediaTimeoutMs <= 0 || rec.noMediaTimer !== undefined || [...rec.flowing.values()].some((f) => f)) return;
    rec.noMediaTimer = setTimeout(() => {
      this.#log.info({ stream: rec.name, publishId: rec.publishId, ms: this.#noMediaTimeoutMs }, 'publisher media stopped; ending the stream');
      void this.#endStream(rec, { status: 'FAILED', info: `no media from the publisher for ${this.#noMediaTimeoutMs} ms`, notifyOwner: true });
    }, this.#noMediaTimeoutMs);
    rec.noMediaTimer.unref();
  }

  #maybePublishing(rec: StreamRecord): void {
    if (rec.publishingSent || rec.state !== 'live' || !rec.webrtcUp || !rec.receiving) return;
    rec.publishingSent = true;
    clearTimeout(rec.mediaTimer);
    this.#log.info({ stream: rec.name, publishId: rec.publishId }, 'publishing');
    this.#send(rec.owner, { event: 'publisher', publishId: rec.publishId, stream: rec.name, status: 'PUBLISHING' });
  }

  async unpublish(owner: Owner, params: Params<'unpublish'>): Promise<Result<'unpublish'>> {
    const rec = this.#publishes.get(params.publishId);
    if (rec === undefined || rec.owner.id !== owner.id) throw new CdnError('NOT_FOUND', `unknown publishId "${params.publishId}"`);
    await this.#endStream(rec, { status: 'UNPUBLISHED', info: 'unpublished', notifyOwner: true });
    return {};
  }

  // ---------------------------------------------------------------- cascade

  /** Relays a just-configured stream to every healthy edge and records how long that took. */
  async #cascadeAtPublish(rec: StreamRecord): Promise<void> {
    const configuredAt = rec.configuredAt ?? Date.now();
    const targets = this.#nodes.edges.flatMap((edge) => {
      const c = this.#beginCascade(rec, edge);
      return c === undefined ? [] : [c];
    });
    await rec.serial.run(() => Promise.all(targets.map((c) => this.#runCascade(rec, c))));
    if (rec.state !== 'live') return;
    const failed = targets.filter((c) => c.state !== 'ready').map((c) => c.node.id);
    if (failed.length === 0) {
      rec.cascadeReadyMs = Date.now() - configuredAt;
      this.#log.info({ stream: rec.name, edges: targets.map((c) => c.node.id), ms: rec.cascadeReadyMs }, 'cascade ready on every edge');
      try {
        this.#onCascadeReady?.(rec.name, rec.cascadeReadyMs);
      } catch (err) {
        this.#log.error({ stream: rec.name, err: String(err) }, 'cascade-ready listener threw');
      }
    } else {
      this.#log.warn({ stream: rec.name, failed }, 'cascade incomplete: some edges cannot play this stream until they come back');
    }
  }

  /** Registers a pending cascade of `rec` to `edge` (so plays can wait for it), unless one exists. */
  #beginCascade(rec: StreamRecord, edge: MediaNode): Cascade | undefined {
    if (rec.state !== 'live' || !edge.up) return undefined;
    const existing = rec.cascades.get(edge.id);
    if (existing !== undefined && existing.generation === edge.generation) return undefined;
    const c = new Cascade(edge);
    rec.cascades.set(edge.id, c);
    return c;
  }

  #cascadeCurrent(rec: StreamRecord, c: Cascade): boolean {
    return (
      rec.state === 'live' &&
      rec.cascades.get(c.node.id) === c &&
      c.node.up &&
      c.node.generation === c.generation &&
      rec.node.up &&
      rec.node.generation === rec.generation
    );
  }

  /** Runs inside rec.serial. Never throws: a failure is recorded on the cascade and cleaned up. */
  async #runCascade(rec: StreamRecord, c: Cascade): Promise<void> {
    const edge = c.node;
    const stale = (): CdnError => new CdnError('UNAVAILABLE', `the stream ended or a node changed while relaying to ${edge.id}`);
    try {
      if (!this.#cascadeCurrent(rec, c) || rec.publisherId === undefined) throw stale();
      await this.#createRoom(edge, rec, undefined);
      c.roomCreated = true;
      if (!this.#cascadeCurrent(rec, c)) throw stale();
      const remote = await vr.addRemotePublisher(
        edge.control,
        { room: rec.room, display: rec.name, streams: remotePublisherStreams(rec.streams) },
        this.#rq,
      );
      c.remotePublisherId = remote.id;
      if (!this.#cascadeCurrent(rec, c)) throw stale();
      await vr.publishRemotely(
        rec.node.control,
        {
          room: rec.room,
          publisherId: rec.publisherId,
          remoteId: c.remoteId,
          adminKey: this.#adminKey,
          host: this.#rtpHost(edge),
          port: remote.port,
          rtcpPort: remote.rtcpPort,
        },
        this.#rq,
      );
      c.forwarding = true;
      if (!this.#cascadeCurrent(rec, c)) throw stale();
      c.state = 'ready';
      this.#log.debug({ stream: rec.name, edge: edge.id, remote: remote.id, port: remote.port, rtcpPort: remote.rtcpPort }, 'cascaded');
    } catch (err) {
      c.state = 'failed';
      c.error = toCdnError(err, `relay "${rec.name}" to ${edge.id}`);
      const wasCurrent = rec.cascades.get(edge.id) === c;
      if (wasCurrent) rec.cascades.delete(edge.id);
      if (wasCurrent && rec.state === 'live' && edge.up) this.#log.warn({ stream: rec.name, edge: edge.id, err: c.error.message }, 'cascade failed');
      await this.#dropCascade(rec, c);
    } finally {
      c.done.resolve();
    }
  }

  /** Undoes a cascade as far as it got: origin stops forwarding, then the edge's remote publisher and room go. */
  async #dropCascade(rec: StreamRecord, c: Cascade): Promise<void> {
    const origin = rec.node;
    if (c.forwarding && rec.publisherId !== undefined && origin.up && origin.generation === rec.generation) {
      await this.#quietly(
        vr.unpublishRemotely(origin.control, { room: rec.room, publisherId: rec.publisherId, remoteId: c.remoteId, adminKey: this.#adminKey }, this.#rq),
        `unpublish_remotely ${c.remoteId}`,
      );
    }
    c.forwarding = false;
    const edge = c.node;
    if (edge.up && edge.generation === c.generation) {
      if (c.remotePublisherId !== undefined) {
        await this.#quietly(vr.removeRemotePublisher(edge.control, { room: rec.room, id: c.remotePublisherId }, this.#rq), `remove remote publisher on ${edge.id}`);
      }
      if (c.roomCreated) await this.#quietly(vr.destroyRoom(edge.control, rec.room, this.#adminKey, this.#rq), `destroy room on ${edge.id}`);
    }
    c.remotePublisherId = undefined;
    c.roomCreated = false;
  }

  // ---------------------------------------------------------------- play

  async play(owner: Owner, params: Params<'play'>): Promise<Result<'play'>> {
    this.#checkNotClosed();
    return this.#openPlayer(owner, params.node, params.stream, params.sdp);
  }

  /**
   * A player on `nodeId`: a mountpoint of the stream there (found or made, see #acquireMount), a
   * Streaming handle watching it, and then either Janus's offer for the client to answer (no `sdp`),
   * or, for a client that offered `sdp`, Janus's offer answered on its behalf and the client's
   * answered from Janus's (../sdp).
   */
  async #openPlayer(owner: Owner, nodeId: string, streamName: string, sdp: string | undefined): Promise<Result<'play'>> {
    const node = this.#nodes.get(nodeId);
    const rec = this.#liveStream(streamName);
    if (!node.up) throw node.unavailable();
    // A client's offer is checked before anything is made, so a bad one leaves nothing behind.
    const client = sdp === undefined ? undefined : this.#clientOffer(sdp, rec);
    const feed = await this.#feedOn(rec, node);
    if (rec.state !== 'live') throw this.#streamNotFound(streamName);

    const player = new PlayerRecord(newId('play_'), owner, rec, node);
    this.#players.set(player.playId, player);
    rec.players.add(player);
    try {
      return await player.serial.run(async () => {
        const mount = await this.#acquireMount(rec, player, feed, client?.plan);
        this.#checkPlayer(player);
        const handle = await this.#attach(node, () => node.attachStreaming());
        player.handle = handle;
        player.unwatch = this.#watchPlayer(player, handle);
        this.#recount(node);
        this.#checkPlayer(player);
        const collector = new vr.CandidateCollector(handle);
        let janusOffer: string;
        try {
          const mids = client === undefined ? undefined : watchedMids(client.plan);
          if (mount.id === undefined) throw new CdnError('INTERNAL', `the mountpoint of "${rec.name}" on ${node.id} has no id`);
          janusOffer = await collector.complete(await st.watch(handle, { id: mount.id, mids }, this.#rq), this.#candidateWaitMs);
        } finally {
          collector.dispose();
        }
        this.#checkPlayer(player);
        if (client === undefined) {
          player.state = 'offered';
          player.answerTimer = setTimeout(
            () => void this.#closePlayer(player, { status: 'FAILED', info: `no answer to the offer within ${this.#answerTimeoutMs} ms` }),
            this.#answerTimeoutMs,
          );
          player.answerTimer.unref();
          this.#log.info({ stream: rec.name, node: node.id, playId: player.playId, mount: mount.key }, 'player joined');
          return { playId: player.playId, sdp: janusOffer, type: 'offer' };
        }
        const answers = reconcile(client.offer, janusOffer, client.plan);
        player.state = 'starting';
        await st.start(handle, answers.toJanus, this.#rq);
        player.state = 'started';
        this.#log.info({ stream: rec.name, node: node.id, playId: player.playId, mount: mount.key }, 'player joined with its own offer');
        return { playId: player.playId, sdp: answers.toPlayer, type: 'answer' };
      });
    } catch (err) {
      const streamEnded = rec.ending !== undefined;
      await this.#closePlayer(player, undefined);
      if (streamEnded) throw new CdnError('NOT_FOUND', `stream not found: "${streamName}" (it ended while the player was joining)`);
      throw sdpError(toCdnError(err, `play "${streamName}" on ${node.id}`));
    }
  }

  /** Reads a client's offer and plans its playback of `rec`; throws INVALID_ARGUMENT when it cannot play. */
  #clientOffer(sdp: string, rec: StreamRecord): ClientOffer {
    const offer = readOffer(sdp);
    return { offer, plan: planPlayback(offer, sourceTracks(rec.streams)) };
  }

  /**
   * The mountpoint a player watches, with the player counted on it. A player with a plan needs the
   * mountpoint of its payload-type profile; one without takes the stream's busiest mountpoint on its
   * node, or one with default payload types. Runs in the stream's Serial, like every change to the
   * stream's Janus state, so two players of one profile never make two mountpoints.
   */
  #acquireMount(rec: StreamRecord, player: PlayerRecord, feed: number, plan: PlaybackPlan | undefined): Promise<Mount> {
    const node = player.node;
    return rec.serial.run(async () => {
      if (rec.state !== 'live') throw this.#streamNotFound(rec.name);
      this.#checkPlayer(player);
      const current = [...rec.mounts].filter((m) => m.node === node && m.generation === node.generation && !m.closing && m.feed === feed);
      const tracks = sourceTracks(rec.streams);
      const wanted = plan === undefined ? undefined : mountProfile(tracks, plan);
      let mount =
        wanted === undefined
          ? current.sort((a, b) => b.players.size - a.players.size)[0]
          : current.find((m) => m.key === profileKey(wanted));
      if (mount === undefined) {
        mount = new Mount(node, wanted ?? mountProfile(tracks), feed);
        await this.#openMount(rec, mount);
      }
      mount.players.add(player);
      player.mount = mount;
      return mount;
    });
  }

  /** Creates a mountpoint and the forwarders that feed it; on failure undoes what it made, and throws. */
  async #openMount(rec: StreamRecord, m: Mount): Promise<void> {
    const node = m.node;
    rec.mounts.add(m);
    try {
      const created = await st.createMountpoint(
        node.streamingControl,
        {
          description: roomDescription(rec.name),
          adminKey: this.#adminKey,
          iface: MOUNT_HOST,
          media: m.profile.map((t) => ({
            type: t.type,
            mid: t.mid,
            pt: t.pt,
            codec: t.codec,
            fmtp: t.fmtp,
            msid: `fanout fanout-${t.type}-${t.mid}`,
            bufferkf: t.type === 'video',
          })),
        },
        this.#rq,
      );
      m.id = created.id;
      if (m.closing || rec.state !== 'live' || !node.up || node.generation !== m.generation) {
        throw new CdnError('UNAVAILABLE', `the stream ended or ${node.id} changed while its mountpoint was made`);
      }
      const onOrigin = node === rec.node;
      const streams = created.media.map((port) => {
        const mid = feedMid(rec.streams, port.mid, onOrigin);
        if (mid === undefined) throw new CdnError('INTERNAL', `mountpoint ${created.id} has a stream (mid ${port.mid}) the publisher does not`);
        return { mid, port: port.port, rtcpPort: port.type === 'video' ? port.rtcp_port : undefined };
      });
      // An edge's remote publisher is registered asynchronously by Janus: right after the cascade a
      // forward can still meet "428 no such feed" for a few milliseconds. Retry that case only.
      let forwarders: vr.Forwarder[] | undefined;
      for (let attempt = 1; forwarders === undefined; attempt++) {
        try {
          forwarders = await vr.rtpForward(
            node.control,
            { room: rec.room, publisherId: m.feed, host: MOUNT_HOST, streams, adminKey: this.#adminKey },
            this.#rq,
          );
        } catch (err) {
          const e = toCdnError(err, 'rtp_forward');
          if (e.janusCode !== JANUS_VIDEOROOM_ERROR.NO_SUCH_FEED || attempt >= FEED_RETRY_ATTEMPTS) throw err;
          await new Promise((r) => setTimeout(r, FEED_RETRY_DELAY_MS));
        }
      }
      m.forwarders = forwarders.map((f) => f.stream_id);
      this.#log.debug({ stream: rec.name, node: node.id, mountpoint: m.id, profile: m.key }, 'mountpoint ready');
    } catch (err) {
      await this.#dropMount(rec, m);
      throw err;
    }
  }

  /** Stops a mountpoint's forwarders and destroys it, as far as they exist. Runs in the stream's Serial. */
  async #dropMount(rec: StreamRecord, m: Mount): Promise<void> {
    if (m.closing) return;
    m.closing = true;
    rec.mounts.delete(m);
    const node = m.node;
    if (!node.up || node.generation !== m.generation) return;
    for (const streamId of m.forwarders.splice(0)) {
      await this.#quietly(
        vr.stopRtpForward(node.control, { room: rec.room, publisherId: m.feed, streamId, adminKey: this.#adminKey }, this.#rq),
        `stop forwarder ${streamId} on ${node.id}`,
      );
    }
    if (m.id !== undefined) await this.#quietly(st.destroyMountpoint(node.streamingControl, m.id, this.#adminKey, this.#rq), `destroy mountpoint ${m.id} on ${node.id}`);
    this.#log.debug({ stream: rec.name, node: node.id, mountpoint: m.id, profile: m.key }, 'mountpoint removed');
  }

  /** A player left its mountpoint: the mountpoint goes when it was the last one. */
  #leaveMount(player: PlayerRecord): void {
    const m = player.mount;
    player.mount = undefined;
    if (m === undefined) return;
    m.players.delete(player);
    if (m.players.size > 0 || m.closing) return;
    const rec = player.stream;
    // Queued behind any play that is taking this mountpoint right now: it is dropped only if still unused.
    void rec.serial.run(async () => {
      if (m.players.size === 0) await this.#dropMount(rec, m);
    });
  }

  #watchPlayer(player: PlayerRecord, handle: JanusHandle): () => void {
    const end = (e: PlayerEnding): void => void this.#closePlayer(player, e);
    return vr.watchHandle(
      handle,
      {
        webrtcup: () => {
          if (player.playingSent || player.state === 'closing') return;
          player.playingSent = true;
          this.#log.info({ stream: player.stream.name, node: player.node.id, playId: player.playId }, 'playing');
          this.#send(player.owner, { event: 'player', playId: player.playId, stream: player.stream.name, status: 'PLAYING' });
        },
        hangup: (reason) => end({ status: /ice/i.test(reason) ? 'FAILED' : 'STOPPED', info: `the player hung up (${reason})` }),
        iceFailed: () => end({ status: 'FAILED', info: 'ICE failed' }),
        detached: () =>
          end({
            status: 'FAILED',
            info: player.node.up && player.node.generation === player.generation ? 'the subscriber handle was detached' : `node "${player.node.id}" went down`,
          }),
        destroyed: () => end({ status: 'STOPPED', info: 'the stream ended' }),
        slowlink: (e) =>
          this.#send(player.owner, { event: 'slowlink', id: player.playId, stream: player.stream.name, uplink: e.uplink, lost: e.lost }),
      },
      (err, event) => this.#log.warn({ playId: player.playId, event, err: String(err) }, 'player event handling failed'),
    );
  }

  /** The publisher a player on `node` subscribes to: the origin's own, or the edge's remote one. */
  async #feedOn(rec: StreamRecord, node: MediaNode): Promise<number> {
    if (node === rec.node) {
      if (!rec.webrtcUp && !(await within(rec.webrtc.promise, this.#cascadeWaitMs))) {
        throw new CdnError('UNAVAILABLE', `the publisher of "${rec.name}" is not connected yet; try again shortly`);
      }
      if (rec.publisherId === undefined || rec.state !== 'live') throw this.#streamNotFound(rec.name);
      return rec.publisherId;
    }
    const c = rec.cascades.get(node.id);
    if (c === undefined) {
      throw new CdnError('UNAVAILABLE', `stream "${rec.name}" is not relayed to ${node.id} (the node is down or the relay failed); try again shortly`);
    }
    if (c.state === 'pending' && !(await within(c.done.promise, this.#cascadeWaitMs))) {
      throw new CdnError('TIMEOUT', `stream "${rec.name}" is still being relayed to ${node.id} after ${this.#cascadeWaitMs} ms`);
    }
    if (c.state !== 'ready' || c.remotePublisherId === undefined) {
      throw new CdnError('UNAVAILABLE', `stream "${rec.name}" could not be relayed to ${node.id}: ${c.error?.message ?? 'the relay ended'}`);
    }
    return c.remotePublisherId;
  }

  async answer(owner: Owner, params: Params<'answer'>): Promise<Result<'answer'>> {
    const player = this.#playerOf(owner, params.playId);
    let failure: CdnError | undefined;
    await player.serial.run(async () => {
      if (player.state === 'closing') throw new CdnError('NOT_FOUND', `play "${params.playId}" has ended`);
      if (player.state !== 'offered' || player.handle === undefined) {
        throw new CdnError('FAILED_PRECONDITION', `play "${params.playId}" is not waiting for an answer`);
      }
      player.state = 'starting';
      clearTimeout(player.answerTimer);
      try {
        await st.start(player.handle, params.sdp, this.#rq);
        player.state = 'started';
      } catch (err) {
        failure = sdpError(toCdnError(err, `answer for play "${params.playId}"`));
      }
    });
    if (failure !== undefined) {
      // The subscriber cannot be used with another answer: end it, so nothing is left behind.
      await this.#closePlayer(player, undefined);
      throw failure;
    }
    return {};
  }

  async stop(owner: Owner, params: Params<'stop'>): Promise<Result<'stop'>> {
    await this.#closePlayer(this.#playerOf(owner, params.playId), undefined);
    return {};
  }

  /** The client's trickled candidates (WHIP/WHEP), given to the Janus handle of its publish or play. */
  async trickle(owner: Owner, params: Params<'trickle'>): Promise<Result<'trickle'>> {
    const rec = this.#publishes.get(params.id);
    const player = rec === undefined ? this.#players.get(params.id) : undefined;
    const target = rec ?? player;
    if (target === undefined || target.owner.id !== owner.id) throw new CdnError('NOT_FOUND', `unknown publishId or playId "${params.id}"`);
    const handle = target.handle;
    const ended = rec !== undefined ? rec.state === 'closing' : player?.state === 'closing';
    if (ended || handle === undefined) throw new CdnError('NOT_FOUND', `"${params.id}" has ended`);
    if (!canTrickle(handle)) throw new CdnError('INTERNAL', 'the Janus handle cannot trickle');
    await trickleCandidates(handle, params.candidates, params.ended === true, this.#rq.timeoutMs);
    return {};
  }

  async release(owner: Owner): Promise<void> {
    const streams = [...this.#publishes.values()].filter((r) => r.owner.id === owner.id);
    const players = [...this.#players.values()].filter((p) => p.owner.id === owner.id);
    if (streams.length + players.length === 0) return;
    this.#log.info({ owner: owner.id, streams: streams.length, players: players.length }, 'releasing what a closed connection owned');
    await Promise.all([
      ...streams.map((r) => this.#endStream(r, { status: 'UNPUBLISHED', info: 'the publisher disconnected', notifyOwner: false })),
      ...players.map((p) => this.#closePlayer(p, undefined)),
    ]);
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#nodes.off('up', this.#onUp);
    this.#nodes.off('down', this.#onDown);
    await Promise.all([
      ...[...this.#records].map((r) => this.#endStream(r, { status: 'UNPUBLISHED', info: 'the bridge is shutting down', notifyOwner: true })),
      ...[...this.#players.values()].map((p) => this.#closePlayer(p, { status: 'STOPPED', info: 'the bridge is shutting down' })),
    ]);
  }

  // ---------------------------------------------------------------- teardown

  /** Ends a stream: its players are told, every edge's copy goes, the publisher leaves, rooms go. */
  #endStream(rec: StreamRecord, ending: Ending): Promise<void> {
    if (rec.ending !== undefined) return rec.ending;
    const wasLive = rec.state === 'live';
    rec.state = 'closing';
    rec.webrtc.resolve();
    clearTimeout(rec.mediaTimer);
    clearTimeout(rec.noMediaTimer);
    if (this.#streams.get(rec.name) === rec) this.#streams.delete(rec.name);
    this.#publishes.delete(rec.publishId);
    if (ending.notifyOwner && wasLive) {
      this.#send(rec.owner, { event: 'publisher', publishId: rec.publishId, stream: rec.name, status: ending.status, info: ending.info });
    }
    const done = signal();
    rec.ending = done.promise;
    const info = `the stream ended: ${ending.info}`;
    void Promise.all([...rec.players].map((p) => this.#closePlayer(p, { status: 'STOPPED', info })))
      .then(() => rec.serial.run(() => this.#cleanupStream(rec)))
      .catch((err: unknown) => this.#log.error({ stream: rec.name, err: String(err) }, 'stream cleanup failed'))
      .finally(() => {
        this.#records.delete(rec);
        if (wasLive) this.#log.info({ stream: rec.name, publishId: rec.publishId, status: ending.status, info: ending.info }, 'stream ended');
        done.resolve();
      });
    return rec.ending;
  }

  async #cleanupStream(rec: StreamRecord): Promise<void> {
    rec.unwatch();
    // Mountpoints first: their forwarders hang off the publishers the cascades and the origin remove.
    for (const m of [...rec.mounts]) await this.#dropMount(rec, m);
    const cascades = [...rec.cascades.values()];
    rec.cascades.clear();
    await Promise.all(cascades.map((c) => this.#dropCascade(rec, c)));
    const origin = rec.node;
    const reachable = origin.up && origin.generation === rec.generation;
    const handle = rec.handle;
    if (handle !== undefined && reachable) {
      if (rec.publisherId !== undefined) await this.#quietly(vr.leave(handle, this.#rq), `publisher of "${rec.name}" leaves`);
      await this.#quietly(handle.detach(), `detach publisher of "${rec.name}"`);
    }
    rec.handle = undefined;
    if (rec.roomCreated && reachable) await this.#quietly(vr.destroyRoom(origin.control, rec.room, this.#adminKey, this.#rq), `destroy room of "${rec.name}"`);
    rec.roomCreated = false;
    this.#recount(origin);
  }

  /** Ends a player: told with `ending` (unless it asked), its subscriber detached. */
  #closePlayer(player: PlayerRecord, ending: PlayerEnding | undefined): Promise<void> {
    if (player.closing !== undefined) return player.closing;
    const wasUp = player.state !== 'joining';
    player.state = 'closing';
    clearTimeout(player.answerTimer);
    this.#players.delete(player.playId);
    player.stream.players.delete(player);
    if (ending !== undefined && wasUp) {
      this.#send(player.owner, { event: 'player', playId: player.playId, stream: player.stream.name, status: ending.status, info: ending.info });
    }
    const done = signal();
    player.closing = done.promise;
    void player.serial
      .run(async () => {
        player.unwatch();
        const node = player.node;
        if (player.handle !== undefined && node.up && node.generation === player.generation) {
          await this.#quietly(player.handle.detach(), `detach player ${player.playId}`);
        }
        player.handle = undefined;
        this.#leaveMount(player);
        this.#recount(node);
        if (wasUp) this.#log.info({ stream: player.stream.name, node: node.id, playId: player.playId, info: ending?.info ?? 'stopped' }, 'player ended');
      })
      .catch((err: unknown) => this.#log.error({ playId: player.playId, err: String(err) }, 'player cleanup failed'))
      .finally(() => done.resolve());
    return player.closing;
  }

  // ---------------------------------------------------------------- node health

  #nodeDown(node: MediaNode): void {
    if (node.role === 'origin') {
      for (const rec of [...this.#records]) {
        if (rec.node === node) void this.#endStream(rec, { status: 'FAILED', info: `the origin node "${node.id}" went down`, notifyOwner: true });
      }
      return;
    }
    for (const rec of [...this.#records]) {
      for (const p of [...rec.players]) if (p.node === node) void this.#closePlayer(p, { status: 'FAILED', info: `node "${node.id}" went down` });
      // Its mountpoints went with it (or are swept when it is back): forget them.
      for (const m of [...rec.mounts]) if (m.node === node) void rec.serial.run(() => this.#dropMount(rec, m));
      const c = rec.cascades.get(node.id);
      if (c === undefined) continue;
      rec.cascades.delete(node.id);
      // The origin must stop forwarding to the dead edge; the edge's own state is gone or swept when it is back.
      void rec.serial.run(() => this.#dropCascade(rec, c));
    }
  }

  #nodeUp(node: MediaNode): void {
    if (this.#closed) return;
    void (async () => {
      await this.#sweep(node);
      if (node.role !== 'edge' || !node.up) return;
      for (const rec of this.#streams.values()) {
        const c = this.#beginCascade(rec, node);
        if (c === undefined) continue;
        void rec.serial.run(() => this.#runCascade(rec, c)).then(() => {
          if (c.state === 'ready') this.#log.info({ stream: rec.name, edge: node.id }, 'cascaded to a node that came up');
        });
      }
    })();
  }

  /**
   * Removes Fanout rooms on `node` that no current stream uses: left by an earlier bridge run, or by
   * this one before the node's connection dropped. Remote publishers have no session, so they
   * outlive whoever created them: they are removed explicitly before the room.
   */
  async #sweep(node: MediaNode): Promise<void> {
    const generation = node.generation;
    await this.#sweepMountpoints(node);
    let rooms: vr.RoomInfo[];
    try {
      rooms = await vr.listRooms(node.control, this.#adminKey, this.#rq);
    } catch (err) {
      this.#log.warn({ node: node.id, err: toCdnError(err, 'list rooms').message }, 'cannot list rooms to sweep');
      return;
    }
    let swept = 0;
    for (const r of rooms) {
      if (!r.description.startsWith(ROOM_PREFIX) || this.#roomInUse(node, r.room)) continue;
      if (!node.up || node.generation !== generation) return;
      try {
        const participants = await vr.listParticipants(node.control, r.room, this.#rq);
        for (const p of participants) {
          if (p.remote) await this.#quietly(vr.removeRemotePublisher(node.control, { room: r.room, id: p.id }, this.#rq), 'sweep remote publisher');
        }
      } catch (err) {
        if (!isBenignTeardownError(err)) this.#log.warn({ node: node.id, room: r.room, err: String(err) }, 'sweep: cannot list participants');
      }
      if (this.#roomInUse(node, r.room)) continue;
      await this.#quietly(vr.destroyRoom(node.control, r.room, this.#adminKey, this.#rq), 'sweep room');
      swept++;
    }
    if (swept > 0) this.#log.info({ node: node.id, rooms: swept }, 'removed rooms no stream uses');
  }

  /** Removes Fanout mountpoints on `node` that no current stream uses (their forwarders go with their rooms). */
  async #sweepMountpoints(node: MediaNode): Promise<void> {
    let mountpoints: st.MountpointInfo[];
    try {
      mountpoints = await st.listMountpoints(node.streamingControl, this.#adminKey, this.#rq);
    } catch (err) {
      this.#log.warn({ node: node.id, err: toCdnError(err, 'list mountpoints').message }, 'cannot list mountpoints to sweep');
      return;
    }
    const inUse = new Set<number>();
    for (const rec of this.#records) for (const m of rec.mounts) if (m.node === node && m.generation === node.generation && m.id !== undefined) inUse.add(m.id);
    let swept = 0;
    for (const mp of mountpoints) {
      if (!mp.description.startsWith(ROOM_PREFIX) || inUse.has(mp.id)) continue;
      await this.#quietly(st.destroyMountpoint(node.streamingControl, mp.id, this.#adminKey, this.#rq), 'sweep mountpoint');
      swept++;
    }
    if (swept > 0) this.#log.info({ node: node.id, mountpoints: swept }, 'removed mountpoints no stream uses');
  }

  #roomInUse(node: MediaNode, room: number): boolean {
    for (const rec of this.#records) {
      if (rec.room !== room) continue;
      if (rec.node === node) return true;
      const c = rec.cascades.get(node.id);
      if (c !== undefined && c.generation === node.generation) return true;
    }
    return false;
  }

  #roomTaken(room: number): boolean {
    for (const rec of this.#records) if (rec.room === room) return true;
    return false;
  }

  // ---------------------------------------------------------------- helpers

  /**
   * Creates the stream's room on `node`. A 427 (room exists) means a stale room holds the id: on
   * the origin `renew` picks another id; on an edge the stale room is destroyed and created again.
   */
  async #createRoom(node: MediaNode, rec: StreamRecord, renew: (() => void) | undefined): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await vr.createRoom(
          node.control,
          {
            room: rec.room,
            description: roomDescription(rec.name),
            adminKey: this.#adminKey,
            publishers: 1,
            audiocodec: ROOM_AUDIO_CODECS,
            videocodec: ROOM_VIDEO_CODECS,
            // Edges offer the origin publisher's H264 profile (see createRoom); the origin takes any.
            h264Profile: node === rec.node ? undefined : h264Profile(rec.streams),
          },
          this.#rq,
        );
        return;
      } catch (err) {
        const e = toCdnError(err, `create room on ${node.id}`);
        if (e.janusCode !== JANUS_VIDEOROOM_ERROR.ROOM_EXISTS || attempt >= 3) throw e;
        if (renew !== undefined) renew();
        else await this.#quietly(vr.destroyRoom(node.control, rec.room, this.#adminKey, this.#rq), `destroy stale room on ${node.id}`);
      }
    }
  }

  /** Attaches a VideoRoom handle, with the request timeout; a handle that arrives too late is detached. */
  async #attach(node: MediaNode, attach: () => Promise<JanusHandle> = () => node.attach()): Promise<JanusHandle> {
    const pending = attach();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new CdnError('TIMEOUT', `attach on ${node.id}: Janus did not answer within ${this.#rq.timeoutMs} ms`)), this.#rq.timeoutMs);
    });
    try {
      return await Promise.race([pending, timeout]);
    } catch (err) {
      pending.then((h) => h.detach()).catch(() => undefined);
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  #liveStream(name: string): StreamRecord {
    const rec = this.#streams.get(name);
    if (rec === undefined || rec.state !== 'live') throw this.#streamNotFound(name);
    return rec;
  }

  #streamNotFound(name: string): CdnError {
    return new CdnError('NOT_FOUND', `stream not found: "${name}"`);
  }

  #playerOf(owner: Owner, playId: string): PlayerRecord {
    const player = this.#players.get(playId);
    if (player === undefined || player.owner.id !== owner.id) throw new CdnError('NOT_FOUND', `unknown playId "${playId}"`);
    return player;
  }

  #checkStream(rec: StreamRecord): void {
    if (rec.state === 'closing') throw new CdnError('UNAVAILABLE', `stream "${rec.name}" ended while it was being published`);
    if (!rec.node.up || rec.node.generation !== rec.generation) throw rec.node.unavailable();
  }

  #checkPlayer(player: PlayerRecord): void {
    if (player.state === 'closing') throw new CdnError('UNAVAILABLE', `play of "${player.stream.name}" ended while it was starting`);
    if (!player.node.up || player.node.generation !== player.generation) throw player.node.unavailable();
  }

  #checkNotClosed(): void {
    if (this.#closed) throw new CdnError('UNAVAILABLE', 'the bridge is shutting down');
  }

  /** Keeps a node's load figures equal to what this layer holds on it. */
  #recount(node: MediaNode): void {
    if (!node.up) return;
    let publishers = 0;
    for (const rec of this.#publishes.values()) if (rec.node === node && rec.handle !== undefined) publishers++;
    let subscribers = 0;
    for (const p of this.#players.values()) if (p.node === node && p.handle !== undefined) subscribers++;
    if (node.load.publishers === publishers && node.load.subscribers === subscribers) return;
    node.load.publishers = publishers;
    node.load.subscribers = subscribers;
    this.#nodes.loadChanged(node);
  }

  /** Teardown steps: what is already gone is expected; anything else is logged, never thrown. */
  async #quietly(step: Promise<unknown>, what: string): Promise<void> {
    try {
      await step;
    } catch (err) {
      if (isBenignTeardownError(err)) this.#log.debug({ what, err: String(err) }, 'already gone');
      else this.#log.warn({ what, err: toCdnError(err, what).message }, 'teardown step failed');
    }
  }

  #send(owner: Owner, event: BridgeEvent): void {
    try {
      owner.send(event);
    } catch (err) {
      this.#log.warn({ owner: owner.id, err: String(err) }, 'cannot send an event');
    }
  }
}
