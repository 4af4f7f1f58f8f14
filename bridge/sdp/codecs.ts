/**
 * Codec matching for playback: which payload type of a player's m-line can carry a track of the
 * stream (opus, VP8, H264 with its profile), and the payload types and fmtp a mountpoint uses when
 * no player chose them. Pure: no runtime imports.
 */
import { parseParams } from 'sdp-transform';

/** A codec as offered in one m-line: its payload type, rtpmap, fmtp, feedback and its rtx. */
export interface OfferedCodec {
  pt: number;
  /** Lower case, e.g. "opus", "vp8", "h264". */
  name: string;
  clockRate: number;
  channels: number | undefined;
  /** The fmtp line's parameters, as written (empty when there is none). */
  fmtp: string;
  params: Readonly<Record<string, string>>;
  /** rtcp-fb values for this payload type (and for "*"), e.g. "nack", "nack pli", "ccm fir". */
  feedback: readonly string[];
  /** The payload type of its rtx (an rtx codec whose apt names this one). */
  rtx: number | undefined;
}

/** A track of the stream as the mountpoint carries it (the publisher's codec). */
export interface SourceTrack {
  type: 'audio' | 'video';
  /** Janus's codec name: opus, vp8, h264, ... */
  codec: string;
  /** For H264: the publisher's profile-level-id, e.g. "42e01f". */
  h264Profile?: string | undefined;
  /** The mid the mountpoint gives this track (what Janus offers it under). */
  mid: string;
}

export function fmtpParams(config: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, value] of Object.entries(parseParams(config))) out[k.toLowerCase()] = String(value);
  return out;
}

/** The first four hex digits of an H264 profile-level-id: profile_idc and the constraint flags. */
function h264ProfileOf(profileLevelId: string | undefined): string | undefined {
  return profileLevelId === undefined || !/^[0-9a-f]{6}$/i.test(profileLevelId) ? undefined : profileLevelId.slice(0, 4).toLowerCase();
}

/** The publisher's H264 profile when Janus did not report one (Chromium's default). */
export const DEFAULT_H264_PROFILE = '42e01f';

/**
 * Whether an offered codec can carry the track as the publisher sends it: same name and clock rate
 * (and two channels for opus); for H264 also the same profile (profile_idc and constraint flags, the
 * first four hex digits of profile-level-id) and packetization-mode 1, which Janus's publishers use.
 */
export function canCarry(codec: OfferedCodec, track: SourceTrack): boolean {
  switch (track.codec) {
    case 'opus':
      return codec.name === 'opus' && codec.clockRate === 48000 && (codec.channels ?? 1) === 2;
    case 'vp8':
      return codec.name === 'vp8' && codec.clockRate === 90000;
    case 'vp9':
      return codec.name === 'vp9' && codec.clockRate === 90000 && (codec.params['profile-id'] ?? '0') === '0';
    case 'av1':
      return codec.name === 'av1' && codec.clockRate === 90000;
    case 'h264':
      return (
        codec.name === 'h264' &&
        codec.clockRate === 90000 &&
        (codec.params['packetization-mode'] ?? '0') === '1' &&
        h264ProfileOf(codec.params['profile-level-id'] ?? '42001f') === h264ProfileOf(track.h264Profile ?? DEFAULT_H264_PROFILE)
      );
    default:
      return codec.name === track.codec;
  }
}

/** Human-readable codec, for errors: "H264 42e01f", "VP8", "opus". */
export function describeTrack(track: SourceTrack): string {
  return track.codec === 'h264' ? `${track.type} h264 ${track.h264Profile ?? DEFAULT_H264_PROFILE}` : `${track.type} ${track.codec}`;
}

/**
 * Payload types a mountpoint uses for a track no player chose (a server-offer player answers any):
 * Chromium's own numbers, so a Flashphoner WebSDK player and a server-offer player share one
 * mountpoint. `taken` are payload types already used by the mountpoint's other tracks.
 */
export function defaultPayloadType(track: SourceTrack, taken: ReadonlySet<number>): number {
  const preferred: Record<string, number> = { opus: 111, vp8: 96, h264: 108, vp9: 98, av1: 45 };
  const first = preferred[track.codec];
  if (first !== undefined && !taken.has(first)) return first;
  for (let pt = 96; pt <= 127; pt++) if (!taken.has(pt)) return pt;
  return 35;
}

/** The fmtp a mountpoint offers for a track (server-offer players see it; client-offer players keep their own). */
export function mountpointFmtp(track: SourceTrack): string | undefined {
  switch (track.codec) {
    case 'opus':
      return 'minptime=10;useinbandfec=1';
    case 'h264':
      return `level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=${track.h264Profile ?? DEFAULT_H264_PROFILE}`;
    default:
      return undefined;
  }
}
