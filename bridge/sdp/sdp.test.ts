/**
 * The SDP reconciliation on real session descriptions: recvonly offers captured from headless
 * Chromium 156 as players make them (the WebSDK's legacy offerToReceive*, transceivers, video first,
 * audio or video only, extra m-lines, H264 only, with candidates), and the offers Janus 1.1.2 makes
 * to a viewer of a Fanout mountpoint. See test/fixtures/sdp (and its capture scripts).
 */
import { readFileSync } from 'node:fs';
import { parse, write, type MediaDescription, type SessionDescription } from 'sdp-transform';
import { describe, expect, it } from 'vitest';
import { mountProfile, planPlayback, profileKey, readOffer, reconcile, watchedMids, type SourceTrack } from './index.ts';

const FIXTURES = new URL('../../test/fixtures/sdp/', import.meta.url).pathname;
const fixture = (name: string): string => readFileSync(`${FIXTURES}${name}.sdp`, 'utf8');

const OPUS: SourceTrack = { type: 'audio', codec: 'opus', mid: '0' };
const VP8: SourceTrack = { type: 'video', codec: 'vp8', mid: '1' };
const H264 = (profile: string): SourceTrack => ({ type: 'video', codec: 'h264', h264Profile: profile, mid: '1' });
const AV_VP8 = [OPUS, VP8];

/** An offer fixture changed through sdp-transform (for the cases no browser makes by itself). */
function edited(name: string, change: (d: SessionDescription) => void): string {
  const d = parse(fixture(name));
  change(d);
  return write(d);
}

function media(sdp: string): MediaDescription[] {
  return parse(sdp).media;
}

function refusal(f: () => unknown): { code: string; message: string } {
  try {
    f();
  } catch (err) {
    if (err instanceof Error && 'code' in err && typeof err.code === 'string') return { code: err.code, message: err.message };
    throw err;
  }
  throw new Error('expected a refusal');
}

describe('readOffer', () => {
  it('reads every Chromium player offer: kinds, string mids, codecs with their rtx and fmtp, extension ids', () => {
    const offer = readOffer(fixture('chromium-websdk-legacy'));
    expect(offer.media.map((m) => [m.type, m.mid, m.direction])).toEqual([
      ['audio', '0', 'recvonly'],
      ['video', '1', 'recvonly'],
    ]);
    expect(offer.bundle).toEqual(['0', '1']);
    const video = offer.media[1]!;
    expect(video.codecs.find((c) => c.pt === 96)).toMatchObject({ name: 'vp8', clockRate: 90000, rtx: 97 });
    expect(video.codecs.find((c) => c.pt === 108)).toMatchObject({ name: 'h264', rtx: 109, params: { 'profile-level-id': '42e01f', 'packetization-mode': '1' } });
    expect(video.codecs.find((c) => c.pt === 96)?.feedback).toEqual(['goog-remb', 'transport-cc', 'ccm fir', 'nack', 'nack pli']);
    expect(video.extensions).toContainEqual({ id: 4, uri: 'urn:ietf:params:rtp-hdrext:sdes:mid' });
    expect(video.transport).toMatchObject({ ufrag: 'cWxf', setup: 'actpass', candidates: [] });
    for (const name of ['legacy-audio-only', 'legacy-video-only', 'transceivers-av', 'video-first', 'extra-mlines', 'h264-only', 'gathered-av']) {
      expect(readOffer(fixture(`chromium-${name}`)).media.length).toBeGreaterThan(0);
    }
  });

  it('reads Janus\'s viewer offers, where a lone payload type and numeric mids come out of sdp-transform as numbers', () => {
    const janus = readOffer(fixture('janus-mountpoint-audio-only'));
    expect(janus.media[0]).toMatchObject({ mid: '0', direction: 'sendonly' });
    expect(janus.media[0]?.codecs.map((c) => c.pt)).toEqual([111]);
    expect(janus.media[0]?.transport.candidates).toHaveLength(1);
  });

  it('ignores payload types RTP cannot carry (over 127, or in RTCP\'s range with rtcp-mux)', () => {
    const sdp = edited('chromium-legacy-audio-only', (d) => {
      const m = d.media[0]!;
      m.payloads = '200 72 111';
      m.rtp = [
        { payload: 200, codec: 'opus', rate: 48000, encoding: 2 },
        { payload: 72, codec: 'opus', rate: 48000, encoding: 2 },
        ...m.rtp.filter((r) => r.payload === 111),
      ];
    });
    expect(readOffer(sdp).media[0]?.codecs.map((c) => c.pt)).toEqual([111]);
    expect(planPlayback(readOffer(sdp), [OPUS]).pairs[0]?.codec.pt).toBe(111);
  });

  it('garbage, a description with no m= line or no o= line, and an absurd number of m-lines are INVALID_ARGUMENT naming the rule', () => {
    expect(refusal(() => readOffer('v=0\r\ngarbage\r\n'))).toEqual({ code: 'INVALID_ARGUMENT', message: 'sdp: the offer has no media (no m= line)' });
    expect(refusal(() => readOffer('\u0000\u0001 not sdp at all'))).toMatchObject({ code: 'INVALID_ARGUMENT' });
    // No o= line, or one that does not parse: refused, not a crash where the answer copies the origin.
    for (const origin of ['', 'o=garbage\r\n']) {
      const sdp = fixture('chromium-websdk-legacy').replace(/^o=.*\r\n/m, origin);
      expect(refusal(() => readOffer(sdp))).toEqual({ code: 'INVALID_ARGUMENT', message: 'sdp: the offer has no origin line ("o=<username> <sess-id> <sess-version> IN IP4 <address>")' });
    }
    const many = edited('chromium-legacy-audio-only', (d) => {
      d.media = Array.from({ length: 33 }, (_, i) => ({ ...d.media[0]!, mid: String(i) }));
    });
    expect(refusal(() => readOffer(many))).toEqual({ code: 'INVALID_ARGUMENT', message: 'sdp: the offer has 33 m= lines; at most 32 are accepted' });
  });
});

describe('planPlayback', () => {
  it('the WebSDK\'s offer and a VP8+opus stream: audio at 111, video at 96 with rtx 97; the mountpoint profile uses those numbers', () => {
    const plan = planPlayback(readOffer(fixture('chromium-websdk-legacy')), AV_VP8);
    expect(plan.pairs.map((p) => [p.section.mid, p.track.mid, p.codec.pt, p.codec.rtx])).toEqual([
      ['0', '0', 111, undefined],
      ['1', '1', 96, 97],
    ]);
    expect(plan.playerDtls).toBe('passive');
    expect(watchedMids(plan)).toEqual(['0', '1']);
    expect(profileKey(mountProfile(AV_VP8, plan))).toBe('0:opus/111,1:vp8/96');
  });

  it('H264 is matched on profile (first four hex digits of profile-level-id) and packetization-mode 1', () => {
    const offer = readOffer(fixture('chromium-websdk-legacy'));
    const ptFor = (profile: string): number | undefined => planPlayback(offer, [OPUS, H264(profile)]).pairs.find((p) => p.track.type === 'video')?.codec.pt;
    expect(ptFor('42e01f')).toBe(108);
    expect(ptFor('42e034')).toBe(108);
    expect(ptFor('42001f')).toBe(102);
    expect(ptFor('4d001f')).toBe(116);
    // High profile is not in this offer: the player gets the audio alone.
    expect(ptFor('640c1f')).toBeUndefined();
    expect(mountProfile([OPUS, H264('42e01f')], planPlayback(offer, [OPUS, H264('42e01f')])).map((t) => t.fmtp)).toEqual([
      'minptime=10;useinbandfec=1',
      'level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f',
    ]);
  });

  it('pairs by kind, whatever the order or the number of the player\'s m-lines', () => {
    const videoFirst = planPlayback(readOffer(fixture('chromium-video-first')), AV_VP8);
    expect(videoFirst.pairs.map((p) => [p.section.index, p.section.mid, p.track.mid])).toEqual([
      [0, '0', '1'],
      [1, '1', '0'],
    ]);
    const extra = planPlayback(readOffer(fixture('chromium-extra-mlines')), AV_VP8);
    expect(extra.pairs.map((p) => p.section.index)).toEqual([0, 1]);
    const audioOnly = planPlayback(readOffer(fixture('chromium-legacy-audio-only')), AV_VP8);
    expect(audioOnly.pairs.map((p) => p.track.type)).toEqual(['audio']);
    // The video track the player does not take keeps a default payload type in the mountpoint.
    expect(profileKey(mountProfile(AV_VP8, audioOnly))).toBe('0:opus/111,1:vp8/96');
    const h264Only = planPlayback(readOffer(fixture('chromium-h264-only')), AV_VP8);
    expect(h264Only.pairs.map((p) => p.track.type)).toEqual(['audio']);
  });

  it('an offer that can receive nothing of the stream is INVALID_ARGUMENT saying what the stream sends and what the offer has', () => {
    const e = refusal(() => planPlayback(readOffer(fixture('chromium-legacy-video-only')), [OPUS]));
    expect(e.code).toBe('INVALID_ARGUMENT');
    expect(e.message).toMatch(/^sdp: no m-line of the offer can receive this stream \(it sends audio opus; the offer has: video recvonly \[vp8, vp9, h264 42001f\/pm1, /);
    // A publisher's offer (sendonly) is not a player's.
    const sendonly = edited('chromium-transceivers-av', (d) => d.media.forEach((m) => (m.direction = 'sendonly')));
    expect(refusal(() => planPlayback(readOffer(sendonly), AV_VP8)).code).toBe('INVALID_ARGUMENT');
    // Rejected lines (port 0) receive nothing either.
    const rejected = edited('chromium-transceivers-av', (d) => d.media.forEach((m) => (m.port = 0)));
    expect(refusal(() => planPlayback(readOffer(rejected), AV_VP8)).code).toBe('INVALID_ARGUMENT');
  });

  it('refuses offers it cannot answer: no BUNDLE for two lines, no rtcp-mux, no ICE credentials, no fingerprint, an unknown DTLS role', () => {
    const cases: Array<[string, (d: SessionDescription) => void, string]> = [
      ['no BUNDLE', (d) => delete d.groups, 'sdp: the offer must bundle the m-lines it receives on (a=group:BUNDLE with their mids)'],
      ['no rtcp-mux', (d) => d.media.forEach((m) => delete m.rtcpMux), 'sdp: m-line 0 (audio) must use rtcp-mux (a=rtcp-mux)'],
      ['no ICE', (d) => d.media.forEach((m) => delete m.iceUfrag), 'sdp: the offer has no ICE credentials (a=ice-ufrag and a=ice-pwd)'],
      ['no fingerprint', (d) => d.media.forEach((m) => delete m.fingerprint), 'sdp: the offer has no DTLS fingerprint (a=fingerprint)'],
      ['holdconn', (d) => d.media.forEach((m) => (m.setup = 'holdconn')), 'sdp: a=setup:holdconn cannot be answered (actpass, active or passive)'],
    ];
    for (const [what, change, message] of cases) {
      expect([what, refusal(() => planPlayback(readOffer(edited('chromium-websdk-legacy', change)), AV_VP8))]).toEqual([what, { code: 'INVALID_ARGUMENT', message }]);
    }
    // One line needs no BUNDLE.
    const single = edited('chromium-legacy-audio-only', (d) => delete d.groups);
    expect(planPlayback(readOffer(single), AV_VP8).pairs).toHaveLength(1);
    // A player that insists on being the DTLS client gets it.
    const active = edited('chromium-websdk-legacy', (d) => d.media.forEach((m) => (m.setup = 'active')));
    expect(planPlayback(readOffer(active), AV_VP8).playerDtls).toBe('active');
  });

  it('without a plan (a player that answers), the mountpoint takes Chromium\'s payload types, so WebSDK and SDK players share it', () => {
    expect(profileKey(mountProfile(AV_VP8))).toBe('0:opus/111,1:vp8/96');
    expect(profileKey(mountProfile([OPUS, H264('42e01f')]))).toBe('0:opus/111,1:h264/108');
    // No two tracks on one payload type.
    expect(mountProfile([{ ...OPUS, mid: 'a' }, { ...OPUS, mid: 'b' }]).map((t) => t.pt)).toEqual([111, 96]);
  });
});

describe('reconcile', () => {
  it('the WebSDK\'s offer with Janus\'s VP8+opus viewer offer: each side gets the other\'s transport, the player\'s m-lines and payload types, Janus\'s msid and ssrcs', () => {
    const offer = readOffer(fixture('chromium-websdk-legacy'));
    const janusSdp = fixture('janus-mountpoint-vp8-opus');
    const janus = parse(janusSdp);
    const { toJanus, toPlayer } = reconcile(offer, janusSdp, planPlayback(offer, AV_VP8));

    const player = parse(toPlayer);
    expect(player.groups).toEqual([{ type: 'BUNDLE', mids: '0 1' }]);
    const [pa, pv] = player.media;
    expect([String(pa?.mid), pa?.direction, String(pa?.payloads)]).toEqual(['0', 'sendonly', '111']);
    expect([String(pv?.mid), pv?.direction, pv?.payloads]).toEqual(['1', 'sendonly', '96 97']);
    expect(pa?.fmtp).toEqual([{ payload: 111, config: 'minptime=10;useinbandfec=1' }]);
    expect(pv?.fmtp).toEqual([{ payload: 97, config: 'apt=96' }]);
    expect(pv?.rtcpFb?.map((f) => `${f.type}${f.subtype === undefined ? '' : ` ${f.subtype}`}`)).toEqual(['ccm fir', 'nack', 'nack pli', 'goog-remb', 'transport-cc']);
    expect(pv?.ext).toEqual([
      { value: 2, uri: 'http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time' },
      { value: 4, uri: 'urn:ietf:params:rtp-hdrext:sdes:mid' },
    ]);
    // The browser attaches event.streams[0]: a=msid is there, with Janus's ssrcs and FID group.
    expect(pv?.msid).toEqual([{ id: 'fanout', appdata: 'fanout-video-1' }]);
    expect(pv?.ssrcGroups).toEqual(janus.media[1]?.ssrcGroups);
    expect(pv?.ssrcs).toEqual(janus.media[1]?.ssrcs);
    expect([pv?.iceUfrag, pv?.icePwd, pv?.fingerprint, pv?.setup]).toEqual([janus.media[1]?.iceUfrag, janus.media[1]?.icePwd, janus.fingerprint, 'active']);
    // Janus's candidates, once, on the BUNDLE tag.
    expect(pa?.candidates).toEqual(janus.media[0]?.candidates);
    expect(pa?.endOfCandidates).toBe('end-of-candidates');
    expect(pv?.candidates).toBeUndefined();

    const toJ = parse(toJanus);
    expect(toJ.groups).toEqual([{ type: 'BUNDLE', mids: '0 1' }]);
    const [ja, jv] = toJ.media;
    expect([ja?.direction, jv?.direction, jv?.payloads]).toEqual(['recvonly', 'recvonly', '96 97']);
    expect(jv?.fmtp).toEqual([{ payload: 97, config: 'apt=96' }]);
    const browser = parse(fixture('chromium-websdk-legacy')).media[0];
    expect([ja?.iceUfrag, ja?.icePwd, ja?.fingerprint, ja?.setup]).toEqual([browser?.iceUfrag, browser?.icePwd, browser?.fingerprint, 'passive']);
    // The player sent no candidates: Janus learns its address from its checks.
    expect(ja?.candidates).toBeUndefined();
  });

  it('H264: the answers keep the player\'s 108 with its own fmtp and rtx 109', () => {
    const offer = readOffer(fixture('chromium-websdk-legacy'));
    const tracks = [OPUS, H264('42e01f')];
    const { toJanus, toPlayer } = reconcile(offer, fixture('janus-mountpoint-h264-opus'), planPlayback(offer, tracks));
    const video = media(toPlayer)[1];
    expect(video?.payloads).toBe('108 109');
    expect(video?.rtp.map((r) => `${r.payload} ${r.codec}/${r.rate}`)).toEqual(['108 H264/90000', '109 rtx/90000']);
    expect(video?.fmtp).toEqual([
      { payload: 108, config: 'level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f' },
      { payload: 109, config: 'apt=108' },
    ]);
    expect(media(toJanus)[1]?.payloads).toBe('108 109');
  });

  it('video first: paired by kind, in each side\'s own order; sdes:mid is dropped from both answers (the mids differ)', () => {
    const offer = readOffer(fixture('chromium-video-first'));
    const { toJanus, toPlayer } = reconcile(offer, fixture('janus-mountpoint-vp8-opus'), planPlayback(offer, AV_VP8));
    expect(media(toPlayer).map((m) => [m.type, String(m.mid)])).toEqual([
      ['video', '0'],
      ['audio', '1'],
    ]);
    expect(media(toJanus).map((m) => [m.type, String(m.mid)])).toEqual([
      ['audio', '0'],
      ['video', '1'],
    ]);
    for (const m of [...media(toPlayer), ...media(toJanus)]) expect((m.ext ?? []).map((e) => e.uri)).not.toContain('urn:ietf:params:rtp-hdrext:sdes:mid');
    // abs-send-time has the same id (2) on both sides: kept.
    expect(media(toPlayer)[0]?.ext).toEqual([{ value: 2, uri: 'http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time' }]);
  });

  it('an extension the player numbers differently is dropped from both answers (Chromium refuses a moved id)', () => {
    const sdp = edited('chromium-websdk-legacy', (d) =>
      d.media[1]?.ext?.forEach((e) => {
        if (e.uri.endsWith('abs-send-time')) e.value = 12;
      }),
    );
    const offer = readOffer(sdp);
    const { toJanus, toPlayer } = reconcile(offer, fixture('janus-mountpoint-vp8-opus'), planPlayback(offer, AV_VP8));
    expect(media(toPlayer)[1]?.ext?.map((e) => e.value)).toEqual([4]);
    expect(media(toJanus)[1]?.ext?.map((e) => e.value)).toEqual([4]);
  });

  it('lines with no track are rejected (port 0, inactive) and left out of BUNDLE; a data channel line stays a data channel line', () => {
    const offer = readOffer(fixture('chromium-extra-mlines'));
    const { toPlayer } = reconcile(offer, fixture('janus-mountpoint-vp8-opus'), planPlayback(offer, AV_VP8));
    const lines = media(toPlayer);
    expect(lines.map((m) => [m.type, m.port, m.direction ?? '', String(m.mid)])).toEqual([
      ['audio', 9, 'sendonly', '0'],
      ['video', 9, 'sendonly', '1'],
      ['video', 0, 'inactive', '2'],
      ['application', 0, '', '3'],
    ]);
    expect(lines[3]).toMatchObject({ protocol: 'UDP/DTLS/SCTP', payloads: 'webrtc-datachannel' });
    expect(parse(toPlayer).groups).toEqual([{ type: 'BUNDLE', mids: '0 1' }]);
  });

  it('audio only on both sides, and a player that gathered its candidates first: they go to Janus with the end of gathering', () => {
    const audio = readOffer(fixture('chromium-legacy-audio-only'));
    const a = reconcile(audio, fixture('janus-mountpoint-audio-only'), planPlayback(audio, [OPUS]));
    expect(media(a.toPlayer).map((m) => m.type)).toEqual(['audio']);

    const gathered = readOffer(edited('chromium-gathered-av', (d) => (d.media[0]!.endOfCandidates = 'end-of-candidates')));
    const g = reconcile(gathered, fixture('janus-mountpoint-vp8-opus'), planPlayback(gathered, AV_VP8));
    const first = media(g.toJanus)[0];
    expect(first?.candidates?.map((c) => `${c.transport} ${c.ip} ${c.port}`)).toEqual(['udp 127.0.0.2 53884', 'tcp 127.0.0.2 9']);
    expect(first?.endOfCandidates).toBe('end-of-candidates');
  });

  it('a Janus offer that does not match the plan is an INTERNAL error, not a half-right answer', () => {
    const offer = readOffer(fixture('chromium-websdk-legacy'));
    // Planned for H264 at 108, but Janus offers VP8 at 96.
    const e = refusal(() => reconcile(offer, fixture('janus-mountpoint-vp8-opus'), planPlayback(offer, [OPUS, H264('42e01f')])));
    expect(e).toEqual({ code: 'INTERNAL', message: "sdp: Janus's offer sends vp8/96 rtx/97 on mid 1, not h264/108" });
  });
});
