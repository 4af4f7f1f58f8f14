/**
 * Typed Streaming-plugin requests for Janus 1.1.2, validated with valibot where the replies enter
 * the bridge (see ./request.ts). Fanout plays every viewer from an RTP mountpoint that its node's
 * VideoRoom feeds with `rtp_forward`: the mountpoint sends the payload types it was created with
 * (the VideoRoom would rewrite them to its fixed numbers), keeps the last keyframe for the next
 * viewer (`bufferkf`), and passes viewers' keyframe requests back through its RTCP port.
 *
 * In 1.1.2 a viewer always gets Janus's offer (`watch`) and answers it (`start`); a client that
 * offers itself is bridged by the SDP reconciliation in ../sdp.
 */
import * as v from 'valibot';
import { CdnError } from '../../protocol/errors.ts';
import { JANUS_STREAMING_ERROR } from './errors.ts';
import { JanusId, Port, request, requireJsep, type JanusHandle, type RequestOptions } from './request.ts';

// ---------------------------------------------------------------- schemas of Janus replies

const MediaType = v.picklist(['audio', 'video', 'data']);

const Created = v.object({
  streaming: v.literal('created'),
  stream: v.object({
    id: JanusId,
    ports: v.array(v.object({ type: MediaType, mid: v.string(), port: Port, rtcp_port: v.optional(Port) })),
  }),
});
export type MountpointMedia = v.InferOutput<typeof Created>['stream']['ports'][number];

const Destroyed = v.object({ streaming: v.literal('destroyed') });

const List = v.object({
  streaming: v.literal('list'),
  list: v.array(v.object({ id: JanusId, description: v.optional(v.string(), '') })),
});
export type MountpointInfo = v.InferOutput<typeof List>['list'][number];

const Status = (...status: [string, ...string[]]) => v.object({ streaming: v.literal('event'), result: v.object({ status: v.picklist(status) }) });

// ---------------------------------------------------------------- mountpoints (control handle)

/** One stream of a mountpoint: what viewers are offered, and how the RTP arrives. */
export interface MountMediaSpec {
  type: 'audio' | 'video';
  /** The mid viewers see for this stream. */
  mid: string;
  /** The payload type every packet is rewritten to. */
  pt: number;
  /** Janus's codec name: opus, vp8, h264. */
  codec: string;
  fmtp?: string | undefined;
  /** "<stream id> <track id>": viewers group the tracks into one MediaStream by it. */
  msid: string;
  /** Keep the latest keyframe and send it to each new viewer at once. */
  bufferkf?: boolean;
}

export interface MountpointSettings {
  description: string;
  /** The Streaming plugin's admin_key, when it has one. */
  adminKey: string | undefined;
  /** Address the mountpoint's RTP and RTCP ports bind to (the forwarder is on the same host). */
  iface: string;
  media: readonly MountMediaSpec[];
}

/**
 * Creates an RTP mountpoint whose ports (RTP per stream, RTCP per video stream) Janus picks from
 * its range; returns its id and, per stream, where to send the RTP.
 */
export async function createMountpoint(h: JanusHandle, s: MountpointSettings, opts: RequestOptions): Promise<{ id: number; media: MountpointMedia[] }> {
  const body: Record<string, unknown> = {
    request: 'create',
    type: 'rtp',
    description: s.description,
    is_private: false,
    permanent: false,
    media: s.media.map((m) => ({
      type: m.type,
      mid: m.mid,
      msid: m.msid,
      port: 0,
      // Video only: keyframe requests go back through it; audio needs no feedback from viewers.
      ...(m.type === 'video' ? { rtcpport: 0 } : {}),
      iface: s.iface,
      pt: m.pt,
      codec: m.codec,
      ...(m.fmtp === undefined ? {} : { fmtp: m.fmtp }),
      ...(m.type === 'video' ? { bufferkf: m.bufferkf ?? false } : {}),
    })),
  };
  if (s.adminKey !== undefined) body['admin_key'] = s.adminKey;
  const { data } = await request(h, `create mountpoint "${s.description}"`, body, Created, opts);
  return { id: data.stream.id, media: data.stream.ports };
}

export async function destroyMountpoint(h: JanusHandle, id: number, adminKey: string | undefined, opts: RequestOptions): Promise<void> {
  const body: Record<string, unknown> = { request: 'destroy', id, permanent: false };
  if (adminKey !== undefined) body['admin_key'] = adminKey;
  await request(h, `destroy mountpoint ${id}`, body, Destroyed, opts);
}

/** Every public mountpoint (Fanout makes only public ones). */
export async function listMountpoints(h: JanusHandle, adminKey: string | undefined, opts: RequestOptions): Promise<MountpointInfo[]> {
  const body: Record<string, unknown> = { request: 'list' };
  if (adminKey !== undefined) body['admin_key'] = adminKey;
  const { data } = await request(h, 'list mountpoints', body, List, opts);
  return data.list;
}

// ---------------------------------------------------------------- viewers

/** Watches a mountpoint (only the streams `mids` names, when given); Janus offers. */
export async function watch(h: JanusHandle, p: { id: number; mids?: readonly string[] | undefined }, opts: RequestOptions): Promise<string> {
  const what = `watch mountpoint ${p.id}`;
  const body: Record<string, unknown> = { request: 'watch', id: p.id };
  if (p.mids !== undefined) body['media'] = [...p.mids];
  const { jsep } = await request(h, what, body, Status('preparing'), opts);
  return requireJsep(jsep, 'offer', what);
}

/** Gives the viewer's answer to Janus; media flows once WebRTC is up. */
export async function start(h: JanusHandle, answer: string, opts: RequestOptions): Promise<void> {
  await request(h, 'start viewer', { request: 'start' }, Status('starting', 'started'), opts, { type: 'answer', sdp: answer });
}

const Configured = v.object({ streaming: v.literal('event'), result: v.object({ event: v.literal('configured') }) });

/**
 * Whether the viewer on `h` is still on its mountpoint. Janus takes a viewer off its mountpoint
 * when its PeerConnection hangs up, and then refuses `configure` with "not on a mountpoint"; an
 * empty `configure` changes nothing on a viewer that is still there. This is how the bridge learns
 * of a hangup whose event nobody heard (it was away).
 */
export async function isWatching(h: JanusHandle, opts: RequestOptions): Promise<boolean> {
  try {
    await request(h, 'configure viewer', { request: 'configure' }, Configured, opts);
    return true;
  } catch (err) {
    if (err instanceof CdnError && err.janusCode === JANUS_STREAMING_ERROR.NO_SUCH_MOUNTPOINT) return false;
    throw err;
  }
}
