/**
 * A session description read with sdp-transform into what playback needs per m-line: codecs (with
 * their fmtp, feedback and rtx), header extensions, direction, and the transport (ICE credentials,
 * DTLS fingerprint and role, candidates), whether written at session or media level. Pure.
 */
import { parse, parsePayloads, type MediaDescription, type SessionDescription } from 'sdp-transform';
import { Errors, errorText, type CdnError } from '../../protocol/errors.ts';
import { fmtpParams, type OfferedCodec } from './codecs.ts';

export type Direction = 'sendrecv' | 'recvonly' | 'sendonly' | 'inactive';

export type Candidate = NonNullable<MediaDescription['candidates']>[number];

export interface Transport {
  ufrag: string | undefined;
  pwd: string | undefined;
  fingerprint: { type: string; hash: string } | undefined;
  setup: string | undefined;
  iceOptions: string | undefined;
  candidates: readonly Candidate[];
  endOfCandidates: boolean;
}

export interface Extension {
  id: number;
  uri: string;
}

export interface MediaSection {
  index: number;
  type: string;
  port: number;
  protocol: string;
  /** sdp-transform reads a numeric mid as a number: always a string here. */
  mid: string | undefined;
  direction: Direction;
  bundleOnly: boolean;
  rtcpMux: boolean;
  /** In the m-line's order of preference; rtx, red and fec entries included. */
  codecs: readonly OfferedCodec[];
  extensions: readonly Extension[];
  transport: Transport;
  raw: MediaDescription;
}

export interface Description {
  raw: SessionDescription;
  media: readonly MediaSection[];
  /** The mids of the first BUNDLE group, in order (empty when there is none). */
  bundle: readonly string[];
}

/** More m-lines than any player needs: a bound on the work one offer can cause. */
export const MAX_MEDIA_SECTIONS = 32;

/** A session description that breaks `rule`: INVALID_ARGUMENT naming the `sdp` field. */
export function invalidSdp(rule: string): CdnError {
  return Errors.invalid(`sdp: ${rule}`);
}

/**
 * Reads `sdp`; throws INVALID_ARGUMENT naming the rule when it is not a session description with
 * at least one m-line (`whose` says whose SDP it is in the message, e.g. "the offer").
 */
export function readDescription(sdp: string, whose: string): Description {
  let raw: SessionDescription;
  try {
    raw = parse(sdp);
  } catch (err) {
    throw invalidSdp(`${whose} cannot be read (${errorText(err)})`);
  }
  const media = raw.media ?? [];
  if (media.length === 0) throw invalidSdp(`${whose} has no media (no m= line)`);
  // RFC 8866 makes o= mandatory; an answer built from a description without one had no origin to copy (found by the fuzz suite).
  if (raw.origin === undefined) throw invalidSdp(`${whose} has no origin line ("o=<username> <sess-id> <sess-version> IN IP4 <address>")`);
  if (media.length > MAX_MEDIA_SECTIONS) {
    throw invalidSdp(`${whose} has ${media.length} m= lines; at most ${MAX_MEDIA_SECTIONS} are accepted`);
  }
  const bundleGroup = (raw.groups ?? []).find((g) => g.type.toUpperCase() === 'BUNDLE');
  return {
    raw,
    media: media.map((m, index) => section(raw, m, index)),
    bundle: bundleGroup === undefined ? [] : String(bundleGroup.mids).split(/\s+/).filter((x) => x !== ''),
  };
}

function section(session: SessionDescription, m: MediaDescription, index: number): MediaSection {
  const feedback = (pt: number): string[] =>
    (m.rtcpFb ?? [])
      .filter((fb) => String(fb.payload) === '*' || Number(fb.payload) === pt)
      .map((fb) => (fb.subtype === undefined ? fb.type : `${fb.type} ${fb.subtype}`));
  // sdp-transform gives a lone payload type as a number.
  const order = m.payloads === undefined || m.type === 'application' ? [] : parsePayloads(String(m.payloads));
  const rtpmaps = new Map((m.rtp ?? []).map((r) => [r.payload, r]));
  const fmtps = new Map((m.fmtp ?? []).map((f) => [f.payload, f.config]));
  const codecs: OfferedCodec[] = [];
  for (const pt of order) {
    const r = rtpmaps.get(pt);
    // A payload type must fit RTP's 7 bits, and with rtcp-mux stay clear of RTCP's (RFC 5761).
    if (r === undefined || !Number.isInteger(pt) || pt < 0 || pt > 127 || (pt >= 64 && pt <= 95)) continue;
    const fmtp = fmtps.get(pt) ?? '';
    codecs.push({
      pt,
      name: r.codec.toLowerCase(),
      clockRate: r.rate ?? 0,
      channels: r.encoding,
      fmtp,
      params: fmtpParams(fmtp),
      feedback: feedback(pt),
      rtx: undefined,
    });
  }
  for (const c of codecs) {
    if (c.name !== 'rtx') continue;
    const apt = Number(c.params['apt']);
    const target = codecs.find((x) => x.pt === apt && x.name !== 'rtx');
    if (target !== undefined && target.rtx === undefined) target.rtx = c.pt;
  }
  const direction: Direction = m.direction ?? session.direction ?? 'sendrecv';
  return {
    index,
    type: m.type,
    port: m.port,
    protocol: m.protocol,
    mid: m.mid === undefined ? undefined : String(m.mid),
    direction,
    bundleOnly: m.bundleOnly !== undefined,
    rtcpMux: m.rtcpMux !== undefined,
    codecs,
    extensions: [...(session.ext ?? []), ...(m.ext ?? [])].map((e) => ({ id: e.value, uri: e.uri })),
    transport: {
      ufrag: m.iceUfrag ?? session.iceUfrag,
      pwd: m.icePwd ?? session.icePwd,
      fingerprint: m.fingerprint ?? session.fingerprint,
      setup: m.setup ?? session.setup,
      iceOptions: m.iceOptions ?? session.iceOptions,
      candidates: m.candidates ?? [],
      endOfCandidates: m.endOfCandidates !== undefined,
    },
    raw: m,
  };
}

/** Codecs that carry no media of their own. */
export function isAuxiliary(codec: OfferedCodec): boolean {
  return ['rtx', 'red', 'ulpfec', 'flexfec-03', 'cn', 'telephone-event'].includes(codec.name);
}
