/**
 * Malformed and hostile inputs for the fuzz suite, from a seeded generator so that a failing run
 * can be replayed (the seed is in .fanout/fuzz-results.json). Pure: no I/O.
 *
 * Every input here is BAD: the worker must answer it with an error (a `fail` frame or a FAILED
 * status; over HTTP a 4xx). Valid frames are never produced by accident: each mutation breaks a field the
 * worker checks, and well-formed stream requests are only sent on sessions without a usable token.
 */
import { HANDLED_MESSAGES, UNSUPPORTED_MESSAGES } from '../../protocol/index.ts';

/** mulberry32: small, fast, good enough to pick fuzz cases. */
export class Rng {
  #s: number;
  constructor(seed: number) {
    this.#s = seed >>> 0;
  }
  next(): number {
    this.#s = (this.#s + 0x6d2b79f5) >>> 0;
    let t = this.#s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  pick<T>(items: readonly T[]): T {
    const item = items[Math.floor(this.next() * items.length)];
    if (item === undefined) throw new Error('pick from an empty list');
    return item;
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = Math.floor(this.next() * 256);
    return out;
  }
  /** A string of `n` characters from a mix of ASCII, control characters, and non-BMP text. */
  text(n: number): string {
    const pools = ['abcdefghijklmnopqrstuvwxyz0123456789', '{}[]":,\\/.-_~ ', '\u0000\u0001\u0007\b\t\n\r\u001b\u007f', 'éü漢字ßøΩ', '😀🎥📡', '\ud800\udfff\ufeff\u202e'];
    let s = '';
    while (s.length < n) s += this.pick([...this.pick(pools)]);
    return s.slice(0, n);
  }
}

export interface WsInput {
  /** What kind of bad input this is (the results count per kind). */
  kind: string;
  /** A text frame, or a binary one. */
  data: string | Uint8Array;
  /** An error frame is due (a `fail`, or FAILED for the stream it would start). */
  expect: 'error';
}

/** The WCS messages the CDN refuses by name, and the ones it handles (protocol/wcs.ts). */
export const UNSUPPORTED = Object.keys(UNSUPPORTED_MESSAGES);
const HANDLED = [...HANDLED_MESSAGES];
const PROTO_NAMES = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf', '__defineGetter__'];
const BAD_NAMES = ['', ' ', '../../etc/passwd', 'a b', 'x'.repeat(129), '.hidden', '-dash', 'ünïcode', 'name\u0000x', '<script>alert(1)</script>', 'a/b', '%2e%2e', 'name\r\nInjected: 1', '\u202ereversed', 'ca$h', 'a;rm -rf /'];
const BAD_IDS = ['', 'x'.repeat(129), 'y'.repeat(10_000)];

/** A few JSON values of every type, including awkward ones. */
function jsonValue(r: Rng, depth = 0): unknown {
  const k = r.int(0, depth > 3 ? 5 : 8);
  switch (k) {
    case 0:
      return null;
    case 1:
      return r.chance(0.5);
    case 2:
      return r.pick([0, -1, 1.5, 1e308, -1e308, 2 ** 53 + 1, -0]);
    case 3:
      return r.text(r.int(0, 40));
    case 4:
      return r.pick(['', 'v=0', 'WebRTC', 'true', 'null', '[]', '{}']);
    case 5:
      return r.int(-1000, 1000);
    case 6:
      return Array.from({ length: r.int(0, 4) }, () => jsonValue(r, depth + 1));
    case 7: {
      const o: Record<string, unknown> = {};
      for (let i = r.int(0, 4); i > 0; i--) o[r.pick([...PROTO_NAMES, r.text(r.int(1, 8)), 'name', 'sdp', 'mediaSessionId'])] = jsonValue(r, depth + 1);
      return o;
    }
    default:
      return r.text(r.int(100, 2000));
  }
}

/** A value that is NOT a string (for fields that must be strings). */
function notString(r: Rng): unknown {
  return r.pick<unknown>([0, 1.5, true, false, [], {}, ['a'], { a: 1 }, [[[]]], -1, 1e300]);
}

/** SDPs the worker's own check refuses (./worker/wcs/sdp.ts) or its schema does. */
export function workerRefusedSdp(r: Rng, base: string): string {
  const lines = base.split('\r\n').filter((l) => l !== '');
  const at = r.int(1, lines.length - 1);
  const variants: Array<() => string> = [
    () => [...lines.slice(0, at), r.pick(['INJECTED', 'a b c', '=x', 'A=upper', ' a=leading-space', '<script>', 'GET / HTTP/1.1']), ...lines.slice(at)].join('\r\n'),
    () => [...lines.slice(0, at), `a=x${r.pick(['\u0000', '\u0007', '\u001b[2J', '\r', '\u007f'])}y`, ...lines.slice(at)].join('\r\n'),
    () => [...lines.slice(0, at), '', ...lines.slice(at)].join('\r\n'),
    () => lines.map((l) => (l.startsWith('m=') ? l.replace(/^(m=\S+) \d+/, `$1 ${r.pick(['65536', '99999', '4294967296', '-1', 'abc', '1e9'])}`) : l)).join('\r\n'),
    () => lines.map((l) => (l.startsWith('a=candidate:') ? l.replace(/ (\d+) typ /, ` ${r.pick(['65536', '123456', '99999999'])} typ `) : l)).join('\r\n'),
    () => `${base}${'m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:x\r\n'.repeat(65)}`,
    () => `v=0\r\n${'a=x-pad:' + 'A'.repeat(70 * 1024)}\r\n`,
    () => r.pick(['', 'v=1\r\n', 'hello', ' v=0', '\ufeffv=0\r\n', 'V=0\r\n']),
  ];
  return r.pick(variants)();
}

/** SDPs the worker lets through but that are hostile to a media server (mutated real offers). */
export function janusHostileSdp(r: Rng, base: string): string {
  const lines = base.split('\r\n').filter((l) => l !== '');
  const head = lines.slice(0, 4);
  const body = lines.slice(4);
  const variants: Array<() => string[]> = [
    () => lines.filter(() => r.chance(0.6)).filter((l, i) => i > 0 || l.startsWith('v=')),
    () => [...head, ...body.filter((l) => !l.startsWith('a=ice-ufrag') && !l.startsWith('a=ice-pwd'))],
    () => [...head, ...body.filter((l) => !l.startsWith('a=fingerprint'))],
    () => lines.map((l) => (l.startsWith('a=fingerprint') ? `a=fingerprint:sha-256 ${'ZZ:'.repeat(31)}ZZ` : l)),
    () => lines.map((l) => (l.startsWith('m=') ? l.replace(/ (\d+)$/, ` ${r.pick(['0', '127', '255', '96 96 96 96', '999'])}`) : l)),
    () => lines.map((l) => (l.startsWith('a=rtpmap:') ? l.replace(/\d+ \S+/, `${r.int(0, 200)} ${r.pick(['X/0', 'VP8/0', 'opus/-1/2', 'H264/90000/9/9'])}`) : l)),
    () => lines.map((l) => (l.startsWith('a=candidate:') ? l.replace(/\S+ (\d+) typ/, `${r.pick(['0.0.0.0', '255.255.255.255', '10.0.0.1', 'no.such.host.invalid', '::1'])} ${r.int(0, 65535)} typ`) : l)),
    () => [...lines, ...Array.from({ length: r.int(1, 40) }, () => `a=${r.pick(['ssrc', 'rtcp-fb', 'extmap', 'fmtp', 'msid', 'rid', 'simulcast', 'group', 'mid'])}:${r.text(r.int(0, 60)).replace(/[\u0000-\u001f\u007f]/g, 'x')}`)],
    () => [...head, ...Array.from({ length: r.int(20, 60) }, (_, i) => [`m=${r.pick(['audio', 'video', 'application', 'text'])} 9 UDP/TLS/RTP/SAVPF ${96 + (i % 30)}`, `a=mid:${i}`, 'a=sendonly']).flat(), ...body],
    () => lines.map((l) => (l.startsWith('a=mid:') ? `a=mid:${'m'.repeat(r.int(100, 5000))}` : l)),
    () => lines.map((l) => (l.startsWith('a=sendonly') || l.startsWith('a=recvonly') ? r.pick(['a=inactive', 'a=sendrecv', 'a=recvonly', 'a=sendonly']) : l)),
    () => lines.map((l) => (l.startsWith('a=group:BUNDLE') ? `a=group:BUNDLE ${Array.from({ length: r.int(1, 50) }, () => r.int(0, 99)).join(' ')}` : l)),
    () => ['v=0', 'o=- 0 0 IN IP4 0.0.0.0', 's=-', 't=0 0'],
    () => ['v=0'],
    // No origin line (the bridge's answer once copied it from the offer and crashed without one).
    () => lines.filter((l) => !l.startsWith('o=')),
    () => [...lines.slice(0, r.int(1, lines.length))],
    () => lines.map((l) => (l.startsWith('c=') ? r.pick(['c=IN IP6 ::', 'c=IN IP4 999.999.999.999', 'c=XX YY ZZ', 'c=IN IP4 224.0.0.1/255']) : l)),
  ];
  return `${r.pick(variants)().join('\r\n')}\r\n`;
}

const streamFrame = (message: 'publishStream' | 'playStream', fields: Record<string, unknown>): Record<string, unknown> => ({
  message,
  data: [{ mediaSessionId: 'id', name: 'fuzz-x', published: message === 'publishStream', hasVideo: true, hasAudio: true, status: 'PENDING', record: false, mediaProvider: 'WebRTC', ...fields }],
});

/**
 * One bad WebSocket input for an ESTABLISHED session that has no usable token (so that even a
 * well-formed stream request is refused). `sdp` is a real offer to mutate.
 */
export function badWsInput(r: Rng, sdp: string, seq: number): WsInput {
  const id = `fz-${seq.toString(36)}-${r.int(0, 1e9).toString(36)}`;
  const name = `fuzz-${seq.toString(36)}`;
  const json = (kind: string, value: unknown): WsInput => ({ kind, data: JSON.stringify(value), expect: 'error' });
  const roll = r.int(0, 99);
  if (roll < 7) {
    // Not JSON at all.
    const t = r.pick([() => `{${r.text(r.int(0, 200))}`, () => r.text(r.int(1, 300)).replace(/^[\s"[{\d-tfn]/, '#'), () => '', () => '{"message": "connection", ', () => "{'message':'ping'}", () => 'NaN', () => '[1,2,]']);
    return { kind: 'not-json', data: t(), expect: 'error' };
  }
  if (roll < 12) {
    let v = jsonValue(r);
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) v = [v];
    return json('not-an-envelope', v);
  }
  if (roll < 16) return json('bad-message-type', { message: r.pick<unknown>([null, 1, true, [], {}, ['publishStream']]), data: [] });
  if (roll < 21) return json('bad-data-type', { message: r.pick(HANDLED), data: r.pick<unknown>([1, 'x', true, { mediaSessionId: id }, -1]) });
  if (roll < 27) {
    const message = r.pick([() => r.text(r.int(1, 30)), () => r.pick(PROTO_NAMES), () => 'x'.repeat(r.int(1_000, 200_000)), () => '', () => 'PublishStream', () => 'publishstream ']);
    return json('unknown-message', { message: message(), data: [] });
  }
  if (roll < 30) return json('unsupported-message', { message: r.pick(UNSUPPORTED), data: [jsonValue(r)] });
  if (roll < 45) {
    // A stream request with one checked field broken.
    const message = r.pick(['publishStream', 'playStream'] as const);
    const field = r.pick(['mediaSessionId', 'name', 'sdp', 'mediaProvider', 'published', 'missing', 'data']);
    switch (field) {
      case 'mediaSessionId':
        return json('bad-field', streamFrame(message, { mediaSessionId: r.chance(0.5) ? notString(r) : r.pick(BAD_IDS), sdp }));
      case 'name':
        return json('bad-stream-name', streamFrame(message, { mediaSessionId: id, name: r.chance(0.7) ? r.pick(BAD_NAMES) : notString(r), sdp }));
      case 'sdp':
        return json('bad-field', streamFrame(message, { mediaSessionId: id, name, sdp: r.chance(0.5) ? notString(r) : r.pick(['', 'x', 'v=1', 'o=- 0 0']) }));
      case 'mediaProvider':
        return json('bad-field', streamFrame(message, { mediaSessionId: id, name, sdp, mediaProvider: r.pick<unknown>(['Flash', 'RTMP', 'webrtc', 1, {}, []]) }));
      case 'published':
        return json('bad-field', streamFrame(message, { mediaSessionId: id, name, sdp, published: r.pick<unknown>(['yes', 1, 0, 'true', [], {}]) }));
      case 'missing': {
        const f = streamFrame(message, { mediaSessionId: id, name, sdp });
        const d = (f['data'] as Array<Record<string, unknown>>)[0] ?? {};
        delete d[r.pick(message === 'publishStream' ? ['mediaSessionId', 'name', 'sdp'] : ['mediaSessionId', 'name'])];
        return json('missing-field', f);
      }
      default:
        return json('bad-data', { message, data: r.pick<unknown>([[], [null], [1], ['x'], [[]], [true]]) });
    }
  }
  if (roll < 55) {
    // Hostile SDP the worker itself refuses.
    const message = r.pick(['publishStream', 'playStream'] as const);
    return json('hostile-sdp', streamFrame(message, { mediaSessionId: id, name, sdp: workerRefusedSdp(r, sdp) }));
  }
  if (roll < 66) {
    // Well-formed, but this session may not publish or play: "Restricted access" (or, publishing on an edge, "only on the origin").
    const message = r.pick(['publishStream', 'playStream'] as const);
    return json('no-rights', streamFrame(message, { mediaSessionId: id, name, sdp, ...(r.chance(0.3) ? { ['__proto__']: { admin: true }, constructor: { prototype: {} } } : {}) }));
  }
  if (roll < 72) return json('stop-unknown', { message: r.pick(['unPublishStream', 'stopStream']), data: [{ mediaSessionId: id, name }] });
  if (roll < 76) return json('answer-unknown', { message: 'setRemoteSDP', data: [id, sdp] });
  if (roll < 79) return json('connection-again', { message: 'connection', data: [{ appKey: r.text(r.int(0, 50)), authToken: r.chance(0.5) ? r.text(r.int(0, 500)) : undefined, custom: jsonValue(r) }] });
  if (roll < 82) {
    const mutate = r.pick([() => ({ message: 'connection', data: [{ mediaProviders: 'WebRTC' }] }), () => ({ message: 'connection', data: [{ keepAlive: 'yes' }] }), () => ({ message: 'connection', data: [{ authToken: notString(r) }] }), () => ({ message: 'connection', data: [[{ appKey: 'defaultApp', mediaProviders: ['WebRTC'] }]] }), () => ({ message: 'ping', data: 'x' }), () => ({ message: 'pong', data: 5 }), () => ({ message: 'setRemoteSDP', data: [id] }), () => ({ message: 'setRemoteSDP', data: [notString(r), sdp] })]);
    return json('bad-field', mutate());
  }
  if (roll < 87) {
    const depth = r.pick([33, 40, 100, 1_000, 10_000, 100_000]);
    const open = r.pick(['[', '{"a":']);
    const nest = open === '[' ? `${'['.repeat(depth)}${']'.repeat(depth)}` : `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
    return { kind: 'deep-nesting', data: `{"message":"${r.pick(HANDLED)}","data":[{"custom":${nest}}]}`, expect: 'error' };
  }
  if (roll < 90) {
    const size = r.int(256 * 1024 + 1, 1000 * 1024);
    return { kind: 'oversize', data: JSON.stringify({ message: 'publishStream', data: [{ mediaSessionId: id, name, sdp: `v=0\r\n${'a'.repeat(size)}` }] }), expect: 'error' };
  }
  return { kind: 'binary', data: r.bytes(r.int(0, r.chance(0.1) ? 200_000 : 2048)), expect: 'error' };
}

/** A frame of `bytes` (megabytes): answered by a fail naming the frame limit, or closed by the runtime past its own. */
export function hugeWsInput(bytes: number): WsInput {
  return { kind: 'megabytes', data: JSON.stringify({ message: 'ping', data: ['x'.repeat(bytes)] }), expect: 'error' };
}

export interface HttpInput {
  kind: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string;
  /** Statuses that are a correct answer to this input. */
  ok: readonly number[];
}

export interface HttpTokens {
  expired: string;
  forged: string;
  publishOnly: string;
  otherStream: string;
  originPinned: string;
  /** A publish token for streams starting with "fzh-" (gets past the token check of WHIP). */
  whipPublish: string;
}

/** One bad WHIP/WHEP request (RFC 9725 and its WHEP sibling, as worker/whip serves them). */
function badWhipInput(r: Rng, tokens: HttpTokens, sdp: string): HttpInput {
  const sdpType = { 'Content-Type': 'application/sdp' };
  const bearer = (t: string): Record<string, string> => ({ ...sdpType, Authorization: `Bearer ${t}` });
  const name = `fzh-${r.int(0, 1e9).toString(36)}`;
  const roll = r.int(0, 9);
  switch (roll) {
    case 0:
      return { kind: 'whip-no-token', method: 'POST', path: `/${r.pick(['whip', 'node/origin/whip'])}/${name}`, headers: sdpType, body: sdp, ok: [401] };
    case 1:
      return { kind: 'whip-bad-token', method: 'POST', path: `/whip/${name}`, headers: bearer(r.pick([tokens.expired, tokens.forged, 'x', r.text(30).replace(/[^\x21-\x7e]/g, 'x')])), body: sdp, ok: [401] };
    case 2:
      return { kind: 'whip-wrong-action', method: 'POST', path: `/whip/${name}`, headers: bearer(tokens.otherStream), body: sdp, ok: [403] };
    case 3:
      return { kind: 'whep-wrong-action', method: 'POST', path: '/whep/fuzz-good', headers: bearer(tokens.publishOnly), body: sdp, ok: [403] };
    case 4:
      return { kind: 'whip-bad-stream', method: 'POST', path: `/${r.pick(['whip', 'whep'])}/${encodeURIComponent(r.pick(BAD_NAMES.filter((n) => n !== '' && n !== ' ')))}`, headers: bearer(tokens.whipPublish), body: sdp, ok: [400, 404] };
    case 5:
      return { kind: 'whip-bad-content-type', method: 'POST', path: `/${r.pick(['whip', 'whep'])}/${name}`, headers: { ...bearer(tokens.whipPublish), 'Content-Type': r.pick(['text/plain', 'application/json', 'application/sdp-evil', 'multipart/form-data; boundary=x']) }, body: sdp, ok: [415] };
    case 6:
      return { kind: 'whip-bad-method', method: r.pick(['GET', 'PUT', 'PATCH', 'DELETE']), path: `/${r.pick(['whip', 'whep'])}/${name}`, headers: {}, ok: [404, 405] };
    case 7:
      return { kind: 'whip-unknown-session', method: r.pick(['PATCH', 'DELETE']), path: `/${r.pick(['whip', 'whep'])}/${name}/${r.pick([`pub_${r.int(0, 1e9).toString(36)}AAAAAAAAAAAA`, 'x', '..', 'play_' + 'A'.repeat(200)])}`, headers: { 'Content-Type': 'application/trickle-ice-sdpfrag' }, body: 'a=ice-ufrag:x\r\na=ice-pwd:y\r\n', ok: [400, 401, 404, 415] };
    default:
      // Past the token check, with an offer the worker itself refuses.
      return { kind: 'whip-hostile-sdp', method: 'POST', path: `/whip/${name}`, headers: bearer(tokens.whipPublish), body: r.chance(0.8) ? workerRefusedSdp(r, sdp) : r.text(r.int(0, 300)), ok: [400, 413] };
  }
}

/** One bad HTTP request (tokens come from the caller: they need the key). */
export function badHttpInput(r: Rng, tokens: HttpTokens, sdp: string): HttpInput {
  if (r.chance(0.3)) return badWhipInput(r, tokens, sdp);
  const base = { headers: {} as Record<string, string> };
  const roll = r.int(0, 99);
  // (Lone surrogates cannot be percent-encoded: they become U+FFFD first.)
  const wellFormed = (s: string): string => s.replace(/[\ud800-\udfff]/g, '\ufffd');
  const q = (s: string): string => encodeURIComponent(wellFormed(s));
  if (roll < 12) return { kind: 'lb-no-token', method: 'GET', path: r.pick(['/lb', '/lb?stream=cam1', '/node/origin/lb', '/lb?token=']), ...base, ok: [401] };
  if (roll < 22) return { kind: 'lb-expired-token', method: 'GET', path: `/lb?token=${tokens.expired}`, ...base, ok: [401] };
  if (roll < 32) {
    const forged = r.pick([tokens.forged, r.text(r.int(1, 100)), `${tokens.publishOnly}x`, tokens.publishOnly.replace(/\.(\w)/, (_, c: string) => `.${c === 'A' ? 'B' : 'A'}`), 'a.b', '.', 'A'.repeat(5000)]);
    return { kind: 'lb-forged-token', method: 'GET', path: `/lb?token=${q(forged)}`, ...base, ok: [401] };
  }
  if (roll < 38) return { kind: 'lb-bearer-garbage', method: 'GET', path: '/lb', headers: { Authorization: r.pick(['Bearer', 'Bearer ', `Basic ${r.text(20)}`.replace(/[^\x20-\x7e]/g, 'x'), `Bearer ${'x'.repeat(r.int(10, 6000))}`, `Bearer ${tokens.forged}`]) }, ok: [401] };
  if (roll < 46) return { kind: 'lb-wrong-action', method: 'GET', path: `/lb?token=${tokens.publishOnly}`, ...base, ok: [403] };
  if (roll < 52) return { kind: 'lb-wrong-stream', method: 'GET', path: `/lb?stream=not-${r.int(0, 1e6)}&token=${tokens.otherStream}`, ...base, ok: [403] };
  if (roll < 55) return { kind: 'lb-wrong-node', method: 'GET', path: `/lb?token=${tokens.originPinned}`, ...base, ok: [403] };
  if (roll < 65) {
    const stream = r.pick([...BAD_NAMES.filter((n) => n !== ''), r.text(r.int(1, 300))]);
    return { kind: 'lb-bad-stream', method: 'GET', path: `/lb?stream=${q(stream)}&token=${tokens.expired}`, ...base, ok: [400] };
  }
  if (roll < 72) return { kind: 'bad-method', method: r.pick(['POST', 'PUT', 'DELETE', 'PATCH']), path: r.pick(['/lb', '/health', '/', '/ws', '/node/origin/lb', '/node/edge-1/ws']), ...base, ok: [404, 405] };
  if (roll < 80) {
    const path = r.pick([() => `/${r.text(r.int(1, 60))}`, () => '/../../etc/passwd', () => '/%2e%2e/%2e%2e/etc/passwd', () => `/${'a'.repeat(r.int(2000, 7000))}`, () => '/%00', () => '/node/../health/x', () => '/.env', () => '/.dev.vars', () => '/wrangler.toml', () => '/worker/index.ts']);
    return { kind: 'unknown-path', method: 'GET', path: encodeURI(wellFormed(path())).replace(/%25/g, '%'), ...base, ok: [400, 404, 414] };
  }
  if (roll < 86) return { kind: 'ws-without-upgrade', method: 'GET', path: r.pick(['/ws', '/node/origin/ws', '/node/edge-1/', '/node/nope/ws']), ...base, ok: [404, 426] };
  // (/lb checks the token before the host: 401; /ws without Upgrade is 426 before the host is looked at.) Syntactically invalid Host headers (a port over
  // 65535, spaces) are left out: Cloudflare's edge refuses them before any Worker runs, and
  // wrangler dev's runtime answers them with its own 500 before the worker sees them.
  if (roll < 92) return { kind: 'unknown-host', method: 'GET', path: r.pick(['/lb', '/ws']), headers: { Host: r.pick(['evil.example.com', 'origin.localhost.evil.com', `${r.text(10).replace(/[^a-z]/g, 'a')}.invalid`, 'edge-1.localhost.evil.com']), ...(r.chance(0.5) ? { Upgrade: 'websocket', Connection: 'Upgrade', 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Version': '13' } : {}) }, ok: [400, 401, 404, 426] };
  // (The token is checked before the node: an unauthenticated client learns nothing of the topology.)
  if (roll < 96) return { kind: 'node-unknown', method: 'GET', path: r.pick(['/node/edge-9/lb', '/node/EDGE-1/lb', `/node/${'x'.repeat(300)}/lb`, '/node/edge-1/lb', `/node/${q(r.text(8))}/lb`]), headers: {}, ok: [401, 404] };
  return { kind: 'health-junk', method: r.pick(['GET', 'HEAD']), path: `/health?${q(r.text(r.int(1, 200)))}=${q(r.text(r.int(0, 50)))}`, ...base, ok: [200] };
}
