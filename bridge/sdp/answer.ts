/**
 * The two answers that join a player's offer to Janus's offer for the same playback (Janus 1.1.2
 * only offers to viewers): one to Janus, as if the player had answered Janus's offer, and one to the
 * player, as if Janus had answered the player's offer. Rules, field by field (see the shared notes,
 * client-offer-play.md, measured with Chromium and Janus 1.1.2):
 *
 * - m-lines: the player's answer has exactly the player's m-lines (order, mids), `sendonly`; Janus's
 *   has exactly Janus's, `recvonly`. A player line with no track gets port 0 and `inactive`.
 * - codecs: the payload type is the player's (the mountpoint was made with it). The player's answer
 *   keeps the player's fmtp. rtx: both answers use the player's rtx number with apt= the codec.
 * - rtcp-fb: the intersection of both offers for the codec.
 * - header extensions: kept only where both offered the same id for the same URI (Janus ignores ids
 *   in an answer, and Chromium refuses to move an id); sdes:mid only when every paired mid is equal.
 * - msid, ssrc, ssrc-group: Janus's, copied into the player's answer (the player attaches
 *   event.streams[0], so a=msid must be there).
 * - ICE: each answer carries the other side's ufrag, pwd, fingerprint and candidates.
 * - DTLS: the player's role is what it offered (actpass means passive); Janus takes the other one.
 *
 * Pure: sdp-transform only.
 */
import { write, type MediaDescription, type SessionDescription } from 'sdp-transform';
import { Errors, type CdnError } from '../../protocol/errors.ts';
import type { OfferedCodec } from './codecs.ts';
import { readDescription, type Candidate, type Description, type Extension, type MediaSection, type Transport } from './description.ts';
import type { Pair, PlaybackPlan } from './plan.ts';

const MID_URI = 'urn:ietf:params:rtp-hdrext:sdes:mid';

export interface Answers {
  /** To Janus: the player's side of Janus's offer. */
  toJanus: string;
  /** To the player: Janus's side of the player's offer. */
  toPlayer: string;
}

/** What each pair becomes in the two answers. */
interface Joined {
  pair: Pair;
  janus: MediaSection;
  /** Janus's codec for the pair (same payload type as the player's). */
  janusCodec: OfferedCodec;
  rtx: number | undefined;
  feedback: string[];
  extensions: Extension[];
}

function internal(message: string): CdnError {
  return Errors.internal(`sdp: Janus's offer ${message}`);
}

/** Builds both answers. Throws INTERNAL when Janus's offer does not match the plan (a bug, not bad input). */
export function reconcile(offer: Description, janusOfferSdp: string, plan: PlaybackPlan): Answers {
  const janus = readDescription(janusOfferSdp, "Janus's offer");
  const midsEqual = plan.pairs.every((p) => p.section.mid === p.track.mid);
  const joined: Joined[] = plan.pairs.map((pair) => {
    const section = janus.media.find((s) => s.mid === pair.track.mid);
    if (section === undefined) throw internal(`has no m-line for mid ${pair.track.mid}`);
    const janusCodec = section.codecs.find((c) => c.pt === pair.codec.pt);
    if (janusCodec === undefined || janusCodec.name !== pair.codec.name) {
      throw internal(`sends ${section.codecs.map((c) => `${c.name}/${c.pt}`).join(' ')} on mid ${pair.track.mid}, not ${pair.codec.name}/${pair.codec.pt}`);
    }
    return {
      pair,
      janus: section,
      janusCodec,
      rtx: janusCodec.rtx !== undefined ? pair.codec.rtx : undefined,
      feedback: janusCodec.feedback.filter((fb) => pair.codec.feedback.includes(fb)),
      extensions: section.extensions.filter(
        (e) => pair.section.extensions.some((x) => x.id === e.id && x.uri === e.uri) && (e.uri !== MID_URI || midsEqual),
      ),
    };
  });
  const janusTransport = transportOf(janus);
  return {
    toJanus: write(answerToJanus(offer, janus, joined, plan)),
    toPlayer: write(answerToPlayer(offer, janus, janusTransport, joined, plan)),
  };
}

function transportOf(d: Description): Transport {
  const first = d.media[0];
  if (first === undefined) throw internal('has no m-line');
  const t = first.transport;
  if (t.ufrag === undefined || t.pwd === undefined || t.fingerprint === undefined) throw internal('has no ICE credentials or fingerprint');
  // Janus trickles its candidates on the first m-line, but take them from wherever they are.
  const seen = new Set<string>();
  const candidates: Candidate[] = [];
  for (const s of d.media) {
    for (const c of s.transport.candidates) {
      const key = `${c.foundation} ${c.component} ${c.transport} ${c.ip} ${c.port} ${c.type}`;
      if (!seen.has(key)) {
        seen.add(key);
        candidates.push(c);
      }
    }
  }
  return { ...t, candidates, endOfCandidates: d.media.some((s) => s.transport.endOfCandidates) };
}

function rtpOf(codec: OfferedCodec, rtx: number | undefined): { rtp: MediaDescription['rtp']; fmtp: MediaDescription['fmtp']; payloads: string } {
  const rtp: MediaDescription['rtp'] = [{ payload: codec.pt, codec: rtpmapName(codec), rate: codec.clockRate, ...(codec.channels === undefined ? {} : { encoding: codec.channels }) }];
  const fmtp: MediaDescription['fmtp'] = codec.fmtp === '' ? [] : [{ payload: codec.pt, config: codec.fmtp }];
  if (rtx !== undefined) {
    rtp.push({ payload: rtx, codec: 'rtx', rate: codec.clockRate });
    fmtp.push({ payload: rtx, config: `apt=${codec.pt}` });
  }
  return { rtp, fmtp, payloads: rtx === undefined ? String(codec.pt) : `${codec.pt} ${rtx}` };
}

/** The rtpmap encoding name as SDP spells it. */
function rtpmapName(codec: OfferedCodec): string {
  const names: Record<string, string> = { vp8: 'VP8', vp9: 'VP9', h264: 'H264', av1: 'AV1', opus: 'opus' };
  return names[codec.name] ?? codec.name;
}

function feedbackOf(pt: number, feedback: readonly string[]): NonNullable<MediaDescription['rtcpFb']> {
  return feedback.map((fb) => {
    const [type, ...rest] = fb.split(' ');
    return rest.length === 0 ? { payload: pt, type: type ?? fb } : { payload: pt, type: type ?? fb, subtype: rest.join(' ') };
  });
}

function session(origin: SessionDescription['origin'], bundle: readonly string[]): SessionDescription {
  return {
    version: 0,
    origin: { ...origin, sessionVersion: origin.sessionVersion },
    name: '-',
    timing: { start: 0, stop: 0 },
    ...(bundle.length === 0 ? {} : { groups: [{ type: 'BUNDLE', mids: bundle.join(' ') }] }),
    media: [],
  };
}

function transportLines(t: Transport, setup: string, withCandidates: boolean): Partial<MediaDescription> {
  const lines: Partial<MediaDescription> = {
    ...(t.ufrag === undefined ? {} : { iceUfrag: t.ufrag }),
    ...(t.pwd === undefined ? {} : { icePwd: t.pwd }),
    ...(t.fingerprint === undefined ? {} : { fingerprint: t.fingerprint }),
    setup,
    ...(t.iceOptions === undefined ? {} : { iceOptions: t.iceOptions }),
  };
  if (withCandidates && t.candidates.length > 0) lines.candidates = [...t.candidates];
  if (withCandidates && t.endOfCandidates) lines.endOfCandidates = 'end-of-candidates';
  return lines;
}

function answerToJanus(offer: Description, janus: Description, joined: readonly Joined[], plan: PlaybackPlan): SessionDescription {
  // Janus's lines in Janus's order; the player's transport on each, its candidates on the first.
  const out = session(offer.raw.origin, joined.map((j) => j.janus.mid ?? ''));
  const setup = plan.playerDtls;
  let first = true;
  for (const s of janus.media) {
    const j = joined.find((x) => x.janus === s);
    if (j === undefined) {
      out.media.push(rejected(s));
      continue;
    }
    const { rtp, fmtp, payloads } = rtpOf({ ...j.janusCodec, fmtp: j.pair.codec.fmtp }, j.rtx);
    out.media.push({
      type: s.type,
      port: 9,
      protocol: s.protocol,
      payloads,
      connection: { version: 4, ip: '0.0.0.0' },
      ...transportLines(plan.transport, setup, first),
      mid: j.janus.mid ?? '',
      direction: 'recvonly',
      rtcpMux: 'rtcp-mux',
      rtp,
      fmtp,
      rtcpFb: feedbackOf(j.janusCodec.pt, j.feedback),
      ext: j.extensions.map((e) => ({ value: e.id, uri: e.uri })),
    });
    first = false;
  }
  return out;
}

function answerToPlayer(offer: Description, janus: Description, t: Transport, joined: readonly Joined[], plan: PlaybackPlan): SessionDescription {
  const out = session(janus.raw.origin, joined.map((j) => j.pair.section.mid ?? ''));
  if (janus.raw.msidSemantic !== undefined) out.msidSemantic = janus.raw.msidSemantic;
  if (janus.raw.icelite !== undefined) out.icelite = janus.raw.icelite;
  if (janus.raw.extmapAllowMixed !== undefined && offer.raw.extmapAllowMixed !== undefined) out.extmapAllowMixed = 'extmap-allow-mixed';
  const setup = plan.playerDtls === 'passive' ? 'active' : 'passive';
  let first = true;
  for (const s of offer.media) {
    const j = joined.find((x) => x.pair.section === s);
    if (j === undefined) {
      out.media.push(rejected(s));
      continue;
    }
    const { rtp, fmtp, payloads } = rtpOf(j.pair.codec, j.rtx);
    const m: MediaDescription = {
      type: s.type,
      port: 9,
      protocol: s.protocol,
      payloads,
      connection: { version: 4, ip: j.janus.raw.connection?.ip ?? '0.0.0.0' },
      ...transportLines(t, setup, first),
      mid: s.mid ?? '',
      direction: 'sendonly',
      rtcpMux: 'rtcp-mux',
      rtp,
      fmtp,
      rtcpFb: feedbackOf(j.pair.codec.pt, j.feedback),
      ext: j.extensions.map((e) => ({ value: e.id, uri: e.uri })),
    };
    if (j.janus.raw.msid !== undefined) m.msid = j.janus.raw.msid;
    if (j.janus.raw.ssrcGroups !== undefined) m.ssrcGroups = j.janus.raw.ssrcGroups;
    if (j.janus.raw.ssrcs !== undefined) m.ssrcs = j.janus.raw.ssrcs;
    out.media.push(m);
    first = false;
  }
  return out;
}

/** An m-line answered with port 0: the same kind and first format, nothing else. */
function rejected(s: MediaSection): MediaDescription {
  const m: MediaDescription = {
    type: s.type,
    port: 0,
    protocol: s.protocol,
    payloads: s.raw.payloads === undefined ? '' : (String(s.raw.payloads).split(' ')[0] ?? ''),
    connection: { version: 4, ip: '0.0.0.0' },
    rtp: [],
    fmtp: [],
    ...(s.type === 'application' ? {} : { direction: 'inactive' as const }),
    ...(s.mid === undefined ? {} : { mid: s.mid }),
  };
  const first = s.codecs[0];
  if (first !== undefined && String(first.pt) === m.payloads) m.rtp = rtpOf(first, undefined).rtp;
  return m;
}
