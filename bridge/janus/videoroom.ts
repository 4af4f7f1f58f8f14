/**
 * Typed VideoRoom requests for Janus 1.1.2, sent through a Janode handle with `handle.message()`
 * and validated with valibot where the replies enter the bridge: no casts on anything Janus sends.
 * Every request has a timeout; every Janus refusal becomes a CdnError that keeps the Janus code.
 *
 * The plugin-neutral handle code (events, trickled candidates) is in ./handle.ts.
 *
 * Remote-publisher requests (add_remote_publisher, publish_remotely, ...) are in the 1.1.2 plugin
 * but not in its docs or in Janode: see janus.md in the shared notes for what was measured.
 */
import * as v from 'valibot';
import { CdnError } from '../../protocol/errors.ts';
import { JanusId, Port, request, requireJsep, type JanusHandle, type RequestOptions } from './request.ts';

export type { JanusHandle, RequestOptions } from './request.ts';
export { DEFAULT_REQUEST_TIMEOUT_MS } from './request.ts';

// ---------------------------------------------------------------- schemas of Janus replies

const MediaType = v.picklist(['audio', 'video', 'data']);

/** A stream of a publisher, as Janus reports it in `joined` (own streams) and `attached`. */
export const PublisherStreamSchema = v.object({
  type: MediaType,
  mindex: v.pipe(v.number(), v.integer(), v.minValue(0)),
  mid: v.string(),
  codec: v.optional(v.string()),
  disabled: v.optional(v.boolean()),
  h264_profile: v.optional(v.string()),
});
export type PublisherStream = v.InferOutput<typeof PublisherStreamSchema>;

const Created = v.object({ videoroom: v.literal('created'), room: JanusId });
const Destroyed = v.object({ videoroom: v.literal('destroyed'), room: JanusId });
const Success = v.object({ videoroom: v.literal('success') });
const RoomList = v.object({
  videoroom: v.literal('success'),
  list: v.array(
    v.object({
      room: JanusId,
      description: v.optional(v.string(), ''),
      num_participants: v.optional(v.number(), 0),
    }),
  ),
});
export type RoomInfo = v.InferOutput<typeof RoomList>['list'][number];

const Participants = v.object({
  videoroom: v.literal('participants'),
  room: JanusId,
  participants: v.array(
    v.object({
      id: JanusId,
      display: v.optional(v.string()),
      publisher: v.boolean(),
      remote: v.optional(v.boolean(), false),
    }),
  ),
});
export type Participant = v.InferOutput<typeof Participants>['participants'][number];

const Joined = v.object({
  videoroom: v.literal('joined'),
  room: JanusId,
  id: JanusId,
  streams: v.optional(v.array(PublisherStreamSchema), []),
});

const RemotePublisherAdded = v.object({
  videoroom: v.literal('success'),
  room: JanusId,
  id: JanusId,
  port: Port,
  rtcp_port: Port,
});

const RemoteList = v.object({
  videoroom: v.literal('success'),
  list: v.array(v.object({ remote_id: v.string(), host: v.string(), port: Port, rtcp_port: v.optional(Port) })),
});
export type RemoteRecipient = v.InferOutput<typeof RemoteList>['list'][number];

const Left = v.object({ videoroom: v.literal('event') });

// ---------------------------------------------------------------- rooms (control handle)

export interface RoomSettings {
  room: number;
  description: string;
  /** The VideoRoom admin_key, when the plugin has one. */
  adminKey: string | undefined;
  publishers: number;
  audiocodec: string;
  videocodec: string;
  /**
   * The H264 profile-level-id the room offers subscribers. On an edge it must be the origin
   * publisher's: 1.1.2 reads a remote publisher stream's `h264_profile` as a string but validates it
   * as a boolean, so the room-wide setting is the only way to get it into the edge's offers.
   */
  h264Profile?: string | undefined;
}

export async function createRoom(h: JanusHandle, s: RoomSettings, opts: RequestOptions): Promise<number> {
  const body: Record<string, unknown> = {
    request: 'create',
    room: s.room,
    description: s.description,
    publishers: s.publishers,
    audiocodec: s.audiocodec,
    videocodec: s.videocodec,
    permanent: false,
  };
  if (s.adminKey !== undefined) body['admin_key'] = s.adminKey;
  if (s.h264Profile !== undefined) body['h264_profile'] = s.h264Profile;
  const { data } = await request(h, `create room ${s.room}`, body, Created, opts);
  return data.room;
}

export async function destroyRoom(h: JanusHandle, room: number, adminKey: string | undefined, opts: RequestOptions): Promise<void> {
  const body: Record<string, unknown> = { request: 'destroy', room, permanent: false };
  if (adminKey !== undefined) body['admin_key'] = adminKey;
  await request(h, `destroy room ${room}`, body, Destroyed, opts);
}

/** Every room, private ones included when the admin key is given. */
export async function listRooms(h: JanusHandle, adminKey: string | undefined, opts: RequestOptions): Promise<RoomInfo[]> {
  const body: Record<string, unknown> = { request: 'list' };
  if (adminKey !== undefined) body['admin_key'] = adminKey;
  const { data } = await request(h, 'list rooms', body, RoomList, opts);
  return data.list;
}

/** Publishers of a room, local and remote (subscribers are not participants). */
export async function listParticipants(h: JanusHandle, room: number, opts: RequestOptions): Promise<Participant[]> {
  const { data } = await request(h, `list participants of room ${room}`, { request: 'listparticipants', room }, Participants, opts);
  return data.participants;
}

// ---------------------------------------------------------------- publishers

export interface JoinedPublisher {
  id: number;
  streams: PublisherStream[];
  answer: string;
}

/** Joins `room` as a publisher and configures it with the client's offer in one request. */
export async function joinAndConfigure(
  h: JanusHandle,
  p: { room: number; display: string; offer: string },
  opts: RequestOptions,
): Promise<JoinedPublisher> {
  const what = `publish into room ${p.room}`;
  const { data, jsep } = await request(
    h,
    what,
    { request: 'joinandconfigure', room: p.room, ptype: 'publisher', display: p.display },
    Joined,
    opts,
    { type: 'offer', sdp: p.offer },
  );
  return { id: data.id, streams: data.streams, answer: requireJsep(jsep, 'answer', what) };
}

/** Leaves the room (publisher or subscriber). */
export async function leave(h: JanusHandle, opts: RequestOptions): Promise<void> {
  await request(h, 'leave', { request: 'leave' }, Left, opts);
}

// ---------------------------------------------------------------- remote publishers (cascade)

/** One stream of a remote publisher: its mindex must equal the origin publisher stream's. */
export interface RemoteStreamSpec {
  type: 'audio' | 'video' | 'data';
  mindex: number;
  mid: string;
  codec?: string;
  disabled?: boolean;
}

/** On an edge: a publisher fed by plain RTP from the origin; returns its id and ports. */
export async function addRemotePublisher(
  h: JanusHandle,
  p: { room: number; display: string; streams: RemoteStreamSpec[] },
  opts: RequestOptions,
): Promise<{ id: number; port: number; rtcpPort: number }> {
  const { data } = await request(
    h,
    `add remote publisher to room ${p.room}`,
    { request: 'add_remote_publisher', room: p.room, display: p.display, streams: p.streams },
    RemotePublisherAdded,
    opts,
  );
  return { id: data.id, port: data.port, rtcpPort: data.rtcp_port };
}

export async function removeRemotePublisher(h: JanusHandle, p: { room: number; id: number }, opts: RequestOptions): Promise<void> {
  await request(h, `remove remote publisher ${p.id} from room ${p.room}`, { request: 'remove_remote_publisher', room: p.room, id: p.id }, Success, opts);
}

export interface Remotization {
  room: number;
  publisherId: number;
  remoteId: string;
  adminKey: string | undefined;
}

/**
 * On the origin: forward a local publisher to a remote publisher. `rtcpPort` is required on
 * purpose: without it no keyframe request reaches the publisher and edge viewers never decode.
 */
export async function publishRemotely(
  h: JanusHandle,
  p: Remotization & { host: string; port: number; rtcpPort: number },
  opts: RequestOptions,
): Promise<void> {
  const body: Record<string, unknown> = {
    request: 'publish_remotely',
    room: p.room,
    publisher_id: p.publisherId,
    remote_id: p.remoteId,
    host: p.host,
    port: p.port,
    rtcp_port: p.rtcpPort,
  };
  if (p.adminKey !== undefined) body['admin_key'] = p.adminKey;
  await request(h, `publish ${p.publisherId} remotely to ${p.remoteId}`, body, Success, opts);
}

export async function unpublishRemotely(h: JanusHandle, p: Remotization, opts: RequestOptions): Promise<void> {
  const body: Record<string, unknown> = {
    request: 'unpublish_remotely',
    room: p.room,
    publisher_id: p.publisherId,
    remote_id: p.remoteId,
  };
  if (p.adminKey !== undefined) body['admin_key'] = p.adminKey;
  await request(h, `unpublish ${p.publisherId} remotely from ${p.remoteId}`, body, Success, opts);
}

export async function listRemotes(h: JanusHandle, p: { room: number; publisherId: number }, opts: RequestOptions): Promise<RemoteRecipient[]> {
  const { data } = await request(
    h,
    `list remotes of ${p.publisherId}`,
    { request: 'listremotes', room: p.room, publisher_id: p.publisherId },
    RemoteList,
    opts,
  );
  return data.list;
}

// ---------------------------------------------------------------- RTP forwarders (to a node's own Streaming mountpoints)

const Forwarded = v.object({
  videoroom: v.literal('rtp_forward'),
  forwarders: v.array(v.object({ stream_id: JanusId, type: MediaType, port: Port })),
});
export type Forwarder = v.InferOutput<typeof Forwarded>['forwarders'][number];

const ForwardStopped = v.object({ videoroom: v.literal('stop_rtp_forward') });

/** One stream of an RTP forwarder: the publisher stream's mid, where it goes, and where keyframe requests come from. */
export interface ForwardSpec {
  mid: string;
  port: number;
  /** The recipient's RTCP port: its keyframe requests reach the publisher through it. */
  rtcpPort?: number | undefined;
}

/**
 * Forwards a publisher's streams (local, or remote on an edge) as plain RTP to `host`. Janus skips
 * a mid it does not know without failing, so a reply with fewer forwarders than asked is refused
 * here (and what was created is stopped).
 */
export async function rtpForward(
  h: JanusHandle,
  p: { room: number; publisherId: number; host: string; streams: readonly ForwardSpec[]; adminKey: string | undefined },
  opts: RequestOptions,
): Promise<Forwarder[]> {
  const what = `forward ${p.publisherId} in room ${p.room} to ${p.host}`;
  const body: Record<string, unknown> = {
    request: 'rtp_forward',
    room: p.room,
    publisher_id: p.publisherId,
    host: p.host,
    streams: p.streams.map((s) => (s.rtcpPort === undefined ? { mid: s.mid, port: s.port } : { mid: s.mid, port: s.port, rtcp_port: s.rtcpPort })),
  };
  if (p.adminKey !== undefined) body['admin_key'] = p.adminKey;
  const { data } = await request(h, what, body, Forwarded, opts);
  if (data.forwarders.length !== p.streams.length) {
    await Promise.all(
      data.forwarders.map((f) => stopRtpForward(h, { room: p.room, publisherId: p.publisherId, streamId: f.stream_id, adminKey: p.adminKey }, opts).catch(() => undefined)),
    );
    const mids = p.streams.map((s) => s.mid).join(', ');
    throw new CdnError('INTERNAL', `${what}: Janus made ${data.forwarders.length} forwarders for mids ${mids}`);
  }
  return data.forwarders;
}

export async function stopRtpForward(
  h: JanusHandle,
  p: { room: number; publisherId: number; streamId: number; adminKey: string | undefined },
  opts: RequestOptions,
): Promise<void> {
  const body: Record<string, unknown> = { request: 'stop_rtp_forward', room: p.room, publisher_id: p.publisherId, stream_id: p.streamId };
  if (p.adminKey !== undefined) body['admin_key'] = p.adminKey;
  await request(h, `stop forwarder ${p.streamId} of ${p.publisherId}`, body, ForwardStopped, opts);
}
