/**
 * Playback planning for a player that offers: which of its m-lines receives which track of the
 * stream, at which of its payload types, and the mountpoint profile (one payload type per track)
 * that makes Janus send exactly those numbers. Checks everything about the offer that would make
 * playback fail, before anything is created in Janus. Pure.
 */
import { CdnError } from '../../protocol/errors.ts';
import { canCarry, defaultPayloadType, describeTrack, mountpointFmtp, type OfferedCodec, type SourceTrack } from './codecs.ts';
import { invalidSdp, isAuxiliary, type Description, type MediaSection, type Transport } from './description.ts';

/** One of the player's m-lines and the track it receives. */
export interface Pair {
  section: MediaSection;
  track: SourceTrack;
  /** The player's codec the track is sent with (its payload type, fmtp, feedback, rtx). */
  codec: OfferedCodec;
}

export interface PlaybackPlan {
  /** In the player's m-line order. */
  pairs: readonly Pair[];
  /** The player's transport: from its BUNDLE-tag m-line. */
  transport: Transport;
  /** DTLS role the player takes: it offered actpass or passive (the usual), or active. */
  playerDtls: 'passive' | 'active';
}

const RECEIVING = new Set(['recvonly', 'sendrecv']);

/** Whether a player's m-line can receive RTP from Janus at all (DTLS-SRTP, not rejected, receiving). */
function receivable(s: MediaSection): boolean {
  return (s.type === 'audio' || s.type === 'video') && /SAVPF$/.test(s.protocol) && (s.port !== 0 || s.bundleOnly) && RECEIVING.has(s.direction);
}

function summary(offer: Description): string {
  return offer.media
    .map((s) => {
      const codecs = [...new Set(s.codecs.filter((c) => !isAuxiliary(c)).map((c) => (c.name === 'h264' ? `h264 ${c.params['profile-level-id'] ?? '?'}/pm${c.params['packetization-mode'] ?? '0'}` : c.name)))];
      return `${s.type} ${s.direction}${s.port === 0 ? ' (rejected)' : ''} [${codecs.join(', ')}]`;
    })
    .join('; ');
}

/**
 * Pairs each of the player's receiving m-lines, in order, with the first track of the same kind not
 * yet paired whose codec it offers (its first such payload type, the player's preference). Lines that
 * get no track are rejected in the answer. Throws INVALID_ARGUMENT when nothing can be received or the
 * offer cannot be answered (no ICE credentials, no fingerprint, no rtcp-mux, no BUNDLE for several).
 */
export function planPlayback(offer: Description, tracks: readonly SourceTrack[]): PlaybackPlan {
  if (tracks.length === 0) throw new CdnError('FAILED_PRECONDITION', 'the stream has no audio or video to play');
  const pairs: Pair[] = [];
  const free = [...tracks];
  for (const s of offer.media) {
    if (!receivable(s)) continue;
    for (const track of free) {
      if (track.type !== s.type) continue;
      const codec = s.codecs.find((c) => canCarry(c, track));
      if (codec === undefined) continue;
      pairs.push({ section: s, track, codec });
      free.splice(free.indexOf(track), 1);
      break;
    }
  }
  if (pairs.length === 0) {
    throw invalidSdp(
      `no m-line of the offer can receive this stream (it sends ${tracks.map(describeTrack).join(' + ')}; the offer has: ${summary(offer)})`,
    );
  }
  for (const p of pairs) {
    if (p.section.mid === undefined) throw invalidSdp(`m-line ${p.section.index} (${p.section.type}) has no a=mid`);
    if (!p.section.rtcpMux) throw invalidSdp(`m-line ${p.section.index} (${p.section.type}) must use rtcp-mux (a=rtcp-mux)`);
  }
  if (pairs.length > 1 && !pairs.every((p) => p.section.mid !== undefined && offer.bundle.includes(p.section.mid))) {
    throw invalidSdp('the offer must bundle the m-lines it receives on (a=group:BUNDLE with their mids)');
  }
  // With BUNDLE the first mid of the group names the transport; otherwise the one paired line does.
  const tagMid = offer.bundle.find((mid) => pairs.some((p) => p.section.mid === mid));
  const tag = offer.media.find((s) => tagMid !== undefined && s.mid === tagMid) ?? pairs[0]!.section;
  const t = tag.transport;
  if (t.ufrag === undefined || t.pwd === undefined) throw invalidSdp('the offer has no ICE credentials (a=ice-ufrag and a=ice-pwd)');
  if (t.fingerprint === undefined) throw invalidSdp('the offer has no DTLS fingerprint (a=fingerprint)');
  const setup = t.setup ?? 'actpass';
  if (setup !== 'actpass' && setup !== 'passive' && setup !== 'active') {
    throw invalidSdp(`a=setup:${setup} cannot be answered (actpass, active or passive)`);
  }
  return { pairs, transport: t, playerDtls: setup === 'active' ? 'active' : 'passive' };
}

// ---------------------------------------------------------------- mountpoint profiles

/** One track of a mountpoint as it is created: the payload type and fmtp it offers. */
export interface MountTrack {
  type: 'audio' | 'video';
  mid: string;
  codec: string;
  pt: number;
  fmtp: string | undefined;
}

/**
 * The mountpoint a player needs: every track of the stream, at the payload type the plan chose for
 * it (the player's own), or a default one for a track the player does not take (or for any track,
 * without a plan: a server-offer player answers whatever it is offered).
 */
export function mountProfile(tracks: readonly SourceTrack[], plan?: PlaybackPlan): MountTrack[] {
  const chosen = new Map(plan?.pairs.map((p) => [p.track.mid, p.codec.pt]) ?? []);
  const taken = new Set(chosen.values());
  return tracks.map((track) => {
    let pt = chosen.get(track.mid);
    if (pt === undefined) {
      pt = defaultPayloadType(track, taken);
      taken.add(pt);
    }
    return { type: track.type, mid: track.mid, codec: track.codec, pt, fmtp: mountpointFmtp(track) };
  });
}

/** Players whose profiles have the same key share a mountpoint. */
export function profileKey(profile: readonly MountTrack[]): string {
  return profile.map((t) => `${t.mid}:${t.codec}/${t.pt}`).join(',');
}

/** The mountpoint mids a player of this plan watches. */
export function watchedMids(plan: PlaybackPlan): string[] {
  return plan.pairs.map((p) => p.track.mid);
}
