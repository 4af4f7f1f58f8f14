/**
 * WHIP and WHEP over HTTP, inside workerd, against the bridge stand-in: every status code the
 * endpoints answer, the headers clients rely on, and what reaches the bridge.
 */
import { describe, expect, it } from 'vitest';
import { RETRY_AFTER_SECONDS } from '../../protocol/index.ts';
import { signToken } from '../auth/index.ts';
import { Scenario, STAND_IN_ANSWER_SDP, callWorker, eventually, node } from '../testing.ts';

const OFFER = [
  'v=0',
  'o=- 7 7 IN IP4 127.0.0.1',
  's=-',
  't=0 0',
  'a=group:BUNDLE 0',
  'm=video 9 UDP/TLS/RTP/SAVPF 96',
  'c=IN IP4 0.0.0.0',
  'a=mid:0',
  'a=ice-ufrag:Uf1x',
  'a=ice-pwd:pwdpwdpwdpwdpwdpwdpwdpwd',
  'a=sendonly',
  'a=rtpmap:96 VP8/90000',
  '',
].join('\r\n');

const CANDIDATE = 'candidate:1 1 udp 2122260223 127.0.0.2 50000 typ host';
const FRAG = ['a=ice-ufrag:Uf1x', 'a=ice-pwd:pwdpwdpwdpwdpwdpwdpwdpwd', 'm=video 9 UDP/TLS/RTP/SAVPF 96', 'a=mid:0', `a=${CANDIDATE}`, 'a=end-of-candidates', ''].join('\r\n');

const ORIGIN = 'http://origin.localhost:8787';
const EDGE1 = 'http://edge-1.localhost:8787';

const sdpPost = (body = OFFER, headers: Record<string, string> = {}): RequestInit<IncomingRequestCfProperties> => ({
  method: 'POST',
  headers: { 'Content-Type': 'application/sdp', ...headers },
  body,
});
const fragPatch = (body = FRAG, headers: Record<string, string> = {}): RequestInit<IncomingRequestCfProperties> => ({
  method: 'PATCH',
  headers: { 'Content-Type': 'application/trickle-ice-sdpfrag', ...headers },
  body,
});

/** A body as text (workerd warns when .text() reads application/sdp). */
async function textOf(resp: Response): Promise<string> {
  return new TextDecoder().decode(await resp.arrayBuffer());
}

async function errorOf(resp: Response): Promise<{ code: string; message: string }> {
  const body: unknown = await resp.json();
  if (typeof body !== 'object' || body === null || !('error' in body)) throw new Error(`not an error body: ${JSON.stringify(body)}`);
  const e = body.error;
  if (typeof e !== 'object' || e === null || !('code' in e) || !('message' in e) || typeof e.code !== 'string' || typeof e.message !== 'string') throw new Error('bad error');
  return { code: e.code, message: e.message };
}

/** Publishes `stream` over WHIP on the origin and returns the session URL. */
async function whip(s: Scenario, stream: string, env = s.env()): Promise<{ location: string; etag: string }> {
  const resp = await callWorker(`${ORIGIN}/whip/${stream}`, sdpPost(), env);
  expect(resp.status, await textOf(resp.clone())).toBe(201);
  return { location: resp.headers.get('location') ?? '', etag: resp.headers.get('etag') ?? '' };
}

describe('WHIP POST /whip/{stream}', () => {
  it('on the origin answers 201 with the answer, Location, ETag and CORS, and publishes as a bridge resource', async () => {
    const s = new Scenario('whip-201');
    const resp = await callWorker(`${ORIGIN}/whip/cam1`, sdpPost(), s.env());
    expect(resp.status).toBe(201);
    expect(await textOf(resp)).toBe(STAND_IN_ANSWER_SDP);
    expect(resp.headers.get('content-type')).toBe('application/sdp');
    expect(resp.headers.get('location')).toMatch(/^http:\/\/origin\.localhost:8787\/whip\/cam1\/pub_[A-Za-z0-9_-]{16}$/);
    const id = resp.headers.get('location')?.split('/').pop() ?? '';
    expect(resp.headers.get('etag')).toBe(`"${id}"`);
    expect(resp.headers.get('accept-patch')).toBe('application/trickle-ice-sdpfrag');
    expect(resp.headers.get('access-control-allow-origin')).toBe('*');
    expect(resp.headers.get('access-control-expose-headers')).toContain('Location');
    expect(resp.headers.get('link')).toBeNull();
    expect(await s.requests('publish')).toEqual([{ id: expect.any(Number), method: 'publish', params: { publishId: id, node: 'origin', stream: 'cam1', sdp: OFFER, resource: true } }]);
  });

  it('through /node/origin keeps the path style in Location', async () => {
    const s = new Scenario('whip-path');
    const resp = await callWorker('http://127.0.0.1:8787/node/origin/whip/cam1', sdpPost(), s.env());
    expect(resp.status).toBe(201);
    expect(resp.headers.get('location')).toMatch(/^http:\/\/127\.0\.0\.1:8787\/node\/origin\/whip\/cam1\/pub_[A-Za-z0-9_-]{16}$/);
  });

  it('announces ICE_SERVERS as Link rel="ice-server" headers, TURN with its credentials', async () => {
    const s = new Scenario('whip-link');
    const ICE_SERVERS = JSON.stringify([{ urls: 'stun:stun.example.net:3478' }, { urls: ['turn:turn.example.net:3478?transport=udp'], username: 'u1', credential: 'p1' }]);
    const resp = await callWorker(`${ORIGIN}/whip/cam1`, sdpPost(), s.env({ ICE_SERVERS }));
    expect(resp.status).toBe(201);
    expect(resp.headers.get('link')).toBe(
      '<stun:stun.example.net:3478>; rel="ice-server", <turn:turn.example.net:3478?transport=udp>; rel="ice-server"; username="u1"; credential="p1"; credential-type="password"',
    );
  });

  it('with an invalid ICE_SERVERS answers 500 naming the variable', async () => {
    const s = new Scenario('whip-bad-ice');
    const resp = await callWorker(`${ORIGIN}/whip/cam1`, sdpPost(), s.env({ ICE_SERVERS: '[{"urls": "http://x"}]' }));
    expect(resp.status).toBe(500);
    expect((await errorOf(resp)).message).toContain('ICE_SERVERS: each url is a stun:');
    expect(resp.headers.get('access-control-allow-origin')).toBe('*');
  });

  it('on an edge is a 307 to the origin\'s endpoint', async () => {
    const s = new Scenario('whip-edge');
    const resp = await callWorker(`${EDGE1}/whip/cam1`, sdpPost(), s.env());
    expect(resp.status).toBe(307);
    expect(resp.headers.get('location')).toBe(`${ORIGIN}/whip/cam1`);
    expect(await s.requests('publish')).toEqual([]);
  });

  it('with another Content-Type is 415 with Accept-Post', async () => {
    const s = new Scenario('whip-415');
    const resp = await callWorker(`${ORIGIN}/whip/cam1`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' }, s.env());
    expect(resp.status).toBe(415);
    expect(resp.headers.get('accept-post')).toBe('application/sdp');
    expect(await errorOf(resp)).toEqual({ code: 'UNSUPPORTED_MEDIA_TYPE', message: 'Content-Type must be application/sdp, not "application/json"' });
  });

  it('with a body that is no SDP, or an empty one, is 400 saying why', async () => {
    const s = new Scenario('whip-400');
    const empty = await callWorker(`${ORIGIN}/whip/cam1`, sdpPost(''), s.env());
    expect(empty.status).toBe(400);
    expect((await errorOf(empty)).message).toContain('it is empty');
    const junk = await callWorker(`${ORIGIN}/whip/cam1`, sdpPost('hello'), s.env());
    expect(junk.status).toBe(400);
    expect((await errorOf(junk)).message).toContain('starting with "v=0"');
    const injected = await callWorker(`${ORIGIN}/whip/cam1`, sdpPost('v=0\r\nnot a line\r\n'), s.env());
    expect(injected.status).toBe(400);
    expect((await errorOf(injected)).message).toContain('line 2 is not "<letter>=<value>"');
    expect(await s.requests('publish')).toEqual([]);
  });

  it('an offer Janus refuses (INVALID_ARGUMENT from the bridge) is 400', async () => {
    const s = new Scenario('whip-janus-400');
    const resp = await callWorker(`${ORIGIN}/whip/badsdp1`, sdpPost(), s.env());
    expect(resp.status).toBe(400);
    expect(await errorOf(resp)).toEqual({ code: 'INVALID_ARGUMENT', message: 'sdp: Janus error 465: the offer could not be parsed' });
  });

  it('a bad stream name is 400 naming the rule', async () => {
    const s = new Scenario('whip-name');
    const resp = await callWorker(`${ORIGIN}/whip/.hidden`, sdpPost(), s.env());
    expect(resp.status).toBe(400);
    expect((await errorOf(resp)).message).toMatch(/^stream: a stream name is 1-128 characters/);
  });

  it('a stream already published is 409', async () => {
    const s = new Scenario('whip-409');
    const resp = await callWorker(`${ORIGIN}/whip/taken1`, sdpPost(), s.env());
    expect(resp.status).toBe(409);
    expect((await errorOf(resp)).code).toBe('ALREADY_EXISTS');
  });

  it('an unavailable origin is 503 with Retry-After', async () => {
    const s = new Scenario('whip-503');
    const resp = await callWorker(`${ORIGIN}/whip/unavailable1`, sdpPost(), s.env());
    expect(resp.status).toBe(503);
    expect(resp.headers.get('retry-after')).toBe('5');
  });

  it('with the bridge unreachable is 503 with Retry-After', async () => {
    const s = new Scenario('whip-no-bridge');
    const resp = await callWorker(`${ORIGIN}/whip/cam1`, sdpPost(), { ...s.env(), BRIDGE_URL: 'http://127.0.0.1:9' });
    expect(resp.status).toBe(503);
    expect(resp.headers.get('retry-after')).toBe('5');
    expect((await errorOf(resp)).message).toContain('the bridge is unavailable');
  });

  it('an unknown /node/<id> or host is 404 naming it', async () => {
    const s = new Scenario('whip-404');
    const byPath = await callWorker('http://127.0.0.1:8787/node/edge-9/whip/cam1', sdpPost(), s.env());
    expect(byPath.status).toBe(404);
    expect((await errorOf(byPath)).message).toContain('no CDN node has the id "edge-9"');
    const byHost = await callWorker('http://edge-9.localhost:8787/whip/cam1', sdpPost(), s.env());
    expect(byHost.status).toBe(404);
    expect((await errorOf(byHost)).message).toContain('no CDN node has the host "edge-9.localhost:8787"');
  });

  it('other methods are 405 with Allow', async () => {
    const s = new Scenario('whip-405');
    const get = await callWorker(`${ORIGIN}/whip/cam1`, {}, s.env());
    expect(get.status).toBe(405);
    expect((await errorOf(get.clone())).code).toBe('METHOD_NOT_ALLOWED');
    expect(get.headers.get('allow')).toBe('POST, OPTIONS');
    const put = await callWorker(`${ORIGIN}/whip/cam1/pub_AAAAAAAAAAAAAAAA`, { method: 'PUT', body: 'x' }, s.env());
    expect(put.status).toBe(405);
    expect(put.headers.get('allow')).toBe('PATCH, DELETE, OPTIONS');
    expect((await errorOf(put)).message).toContain('PUT is not allowed here');
  });
});

describe('OPTIONS', () => {
  it('on the endpoint is 204 with CORS (PATCH included, so clients trickle) and Accept-Post', async () => {
    const s = new Scenario('whip-options');
    const resp = await callWorker(`${ORIGIN}/whip/cam1`, { method: 'OPTIONS', headers: { Origin: 'http://page.example', 'Access-Control-Request-Method': 'POST' } }, s.env());
    expect(resp.status).toBe(204);
    expect(resp.headers.get('accept-post')).toBe('application/sdp');
    expect(resp.headers.get('access-control-allow-origin')).toBe('*');
    expect(resp.headers.get('access-control-allow-methods')?.split(/,\s*/)).toEqual(['POST', 'PATCH', 'DELETE', 'OPTIONS']);
    const allowHeaders = resp.headers.get('access-control-allow-headers') ?? '';
    for (const h of ['Authorization', 'Content-Type', 'If-Match']) expect(allowHeaders).toContain(h);
    const expose = resp.headers.get('access-control-expose-headers') ?? '';
    for (const h of ['Location', 'ETag', 'Link', 'Accept-Post']) expect(expose).toContain(h);
  });

  it('on a session is 204 with Accept-Patch', async () => {
    const s = new Scenario('whep-options');
    const resp = await callWorker(`${EDGE1}/whep/cam1/play_AAAAAAAAAAAAAAAA`, { method: 'OPTIONS' }, s.env());
    expect(resp.status).toBe(204);
    expect(resp.headers.get('accept-patch')).toBe('application/trickle-ice-sdpfrag');
    expect(resp.headers.get('allow')).toBe('PATCH, DELETE, OPTIONS');
  });
});

describe('PATCH (trickle) and DELETE on a WHIP session', () => {
  it('candidates are 204 and reach the bridge as a resource trickle, on a link other than the POST\'s', async () => {
    const s = new Scenario('whip-trickle');
    const { location, etag } = await whip(s, 'cam1');
    const id = location.split('/').pop();
    const resp = await callWorker(location, fragPatch(FRAG, { 'If-Match': etag }), s.env());
    expect(resp.status).toBe(204);
    // Without If-Match too (clients that do not send it), and a candidate sent once per mid only once.
    const twice = FRAG.replace('a=end-of-candidates\r\n', `m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:1\r\na=${CANDIDATE}\r\n`);
    expect((await callWorker(location, fragPatch(twice), s.env())).status).toBe(204);
    expect((await s.requests('trickle')).map((r) => r.params)).toEqual([
      { id, candidates: [{ candidate: CANDIDATE, sdpMid: '0', sdpMLineIndex: 0 }], ended: true, ufrag: 'Uf1x', resource: true },
      { id, candidates: [{ candidate: CANDIDATE, sdpMid: '0', sdpMLineIndex: 0 }], ended: false, ufrag: 'Uf1x', resource: true },
    ]);
    const log = await s.log();
    expect(log.connections).toBeGreaterThanOrEqual(3);
    expect(log.released).not.toContain(id);
  });

  it('with another Content-Type is 415 with Accept-Patch', async () => {
    const s = new Scenario('whip-patch-415');
    const { location } = await whip(s, 'cam1');
    const resp = await callWorker(location, { method: 'PATCH', headers: { 'Content-Type': 'application/sdp' }, body: FRAG }, s.env());
    expect(resp.status).toBe(415);
    expect(resp.headers.get('accept-patch')).toBe('application/trickle-ice-sdpfrag');
  });

  it('a body that is no sdpfrag is 400', async () => {
    const s = new Scenario('whip-patch-400');
    const { location } = await whip(s, 'cam1');
    const resp = await callWorker(location, fragPatch('a=candidate:broken\r\n'), s.env());
    expect(resp.status).toBe(400);
    expect((await errorOf(resp)).message).toContain('the body is not a trickle-ice-sdpfrag');
  });

  it('an ICE restart (If-Match: *) is 422: this server does not do them', async () => {
    const s = new Scenario('whip-422');
    const { location } = await whip(s, 'cam1');
    const restart = FRAG.replace('Uf1x', 'New2').replace('pwdpwd', 'newnew');
    const resp = await callWorker(location, fragPatch(restart, { 'If-Match': '*' }), s.env());
    expect(resp.status).toBe(422);
    expect((await errorOf(resp.clone())).code).toBe('UNPROCESSABLE');
    expect((await errorOf(resp)).message).toContain('ICE restarts are not supported');
  });

  it('new ICE credentials without If-Match are 428', async () => {
    const s = new Scenario('whip-428');
    const { location } = await whip(s, 'cam1');
    const resp = await callWorker(location, fragPatch(FRAG.replace('Uf1x', 'New2')), s.env());
    expect(resp.status).toBe(428);
    expect((await errorOf(resp.clone())).code).toBe('PRECONDITION_REQUIRED');
    expect((await errorOf(resp)).message).toContain('needs "If-Match: *"');
  });

  it('a stale If-Match is 412 and names the current ETag', async () => {
    const s = new Scenario('whip-412');
    const { location, etag } = await whip(s, 'cam1');
    const resp = await callWorker(location, fragPatch(FRAG, { 'If-Match': '"pub_AAAAAAAAAAAAAAAA"' }), s.env());
    expect(resp.status).toBe(412);
    expect((await errorOf(resp.clone())).code).toBe('PRECONDITION_FAILED');
    expect(resp.headers.get('etag')).toBe(etag);
    expect(await s.requests('trickle')).toEqual([]);
  });

  it('on an unknown session PATCH and DELETE are 404, also for an If-Match: * restart', async () => {
    const s = new Scenario('whip-session-404');
    // Well formed, so the bridge is asked (and knows no such session).
    const UNKNOWN = 'pub_unknownSession404';
    expect((await callWorker(`${ORIGIN}/whip/cam1/${UNKNOWN}`, fragPatch(), s.env())).status).toBe(404);
    expect((await callWorker(`${ORIGIN}/whip/cam1/${UNKNOWN}`, fragPatch(FRAG, { 'If-Match': '*' }), s.env())).status).toBe(404);
    const del = await callWorker(`${ORIGIN}/whip/cam1/${UNKNOWN}`, { method: 'DELETE' }, s.env());
    expect(del.status).toBe(404);
    expect((await errorOf(del)).message).toBe(`no WHIP session "${UNKNOWN}" (it ended, or never existed)`);
  });

  it('DELETE unpublishes the resource (200), and a second DELETE is 404', async () => {
    const s = new Scenario('whip-delete');
    const { location } = await whip(s, 'cam1');
    const id = location.split('/').pop();
    const resp = await callWorker(location, { method: 'DELETE' }, s.env());
    expect(resp.status).toBe(200);
    expect(resp.headers.get('access-control-allow-origin')).toBe('*');
    expect((await s.requests('unpublish')).map((r) => r.params)).toEqual([{ publishId: id, resource: true }]);
    expect((await callWorker(location, { method: 'DELETE' }, s.env())).status).toBe(404);
  });
});

describe('WHEP POST /whep/{stream}', () => {
  it('on the origin with load balancing is a 307 to the chosen edge, keeping the query', async () => {
    const s = new Scenario('whep-307');
    const resp = await callWorker(`${ORIGIN}/whep/cam1?token=abc`, sdpPost(), s.env());
    expect(resp.status).toBe(307);
    expect(resp.headers.get('location')).toMatch(/^http:\/\/edge-[12]\.localhost:8787\/whep\/cam1\?token=abc$/);
    expect(resp.headers.get('access-control-allow-origin')).toBe('*');
    expect(await s.requests('play')).toEqual([]);
  });

  it('through /node/origin redirects in the path style', async () => {
    const s = new Scenario('whep-307-path');
    await s.configure({ nodes: [node('origin', 'origin'), node('edge-1', 'edge', { up: false }), node('edge-2', 'edge')] });
    const resp = await callWorker('http://127.0.0.1:8787/node/origin/whep/cam1', sdpPost(), s.env());
    expect(resp.status).toBe(307);
    expect(resp.headers.get('location')).toBe('http://127.0.0.1:8787/node/edge-2/whep/cam1');
  });

  it('with no healthy edge is 503 with Retry-After', async () => {
    const s = new Scenario('whep-503');
    await s.configure({ nodes: [node('origin', 'origin'), node('edge-1', 'edge', { up: false })] });
    const resp = await callWorker(`${ORIGIN}/whep/cam1`, sdpPost(), s.env());
    expect(resp.status).toBe(503);
    expect(resp.headers.get('retry-after')).toBe('5');
  });

  it('on the origin without load balancing plays there (201)', async () => {
    const s = new Scenario('whep-no-lb');
    await s.configure({ loadBalancing: false });
    const resp = await callWorker(`${ORIGIN}/whep/cam1`, sdpPost(), s.env());
    expect(resp.status).toBe(201);
    const id = resp.headers.get('location')?.split('/').pop();
    expect((await s.requests('play')).map((r) => r.params)).toEqual([{ playId: id, node: 'origin', stream: 'cam1', sdp: OFFER, resource: true }]);
  });

  it('on an edge answers the client\'s offer: 201, Location, ETag', async () => {
    const s = new Scenario('whep-201');
    const resp = await callWorker(`${EDGE1}/whep/cam1`, sdpPost(), s.env());
    expect(resp.status).toBe(201);
    expect(await textOf(resp)).toBe(STAND_IN_ANSWER_SDP);
    expect(resp.headers.get('content-type')).toBe('application/sdp');
    const location = resp.headers.get('location') ?? '';
    expect(location).toMatch(/^http:\/\/edge-1\.localhost:8787\/whep\/cam1\/play_[A-Za-z0-9_-]{16}$/);
    expect(resp.headers.get('etag')).toBe(`"${location.split('/').pop()}"`);
    expect((await s.requests('play')).map((r) => r.params)).toEqual([{ playId: location.split('/').pop(), node: 'edge-1', stream: 'cam1', sdp: OFFER, resource: true }]);
  });

  it('a stream that is not live is 409 with Retry-After', async () => {
    const s = new Scenario('whep-409');
    const resp = await callWorker(`${EDGE1}/whep/missing1`, sdpPost(), s.env());
    expect(resp.status).toBe(409);
    expect(resp.headers.get('retry-after')).toBe('5');
    expect((await errorOf(resp.clone())).code).toBe('NOT_LIVE');
    expect((await errorOf(resp)).message).toContain('stream "missing1" is not live');
  });

  it('wrong Content-Type is 415 and a bad offer 400, before any redirect or play', async () => {
    const s = new Scenario('whep-415');
    expect((await callWorker(`${ORIGIN}/whep/cam1`, { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: OFFER }, s.env())).status).toBe(415);
    expect((await callWorker(`${EDGE1}/whep/cam1`, sdpPost('v=0\r\n\x01\r\n'), s.env())).status).toBe(400);
    expect(await s.requests('play')).toEqual([]);
  });

  it('PATCH trickles and DELETE stops the play resource', async () => {
    const s = new Scenario('whep-session');
    const resp = await callWorker(`${EDGE1}/whep/cam1`, sdpPost(), s.env());
    const location = resp.headers.get('location') ?? '';
    const id = location.split('/').pop();
    expect((await callWorker(location, fragPatch(), s.env())).status).toBe(204);
    expect((await callWorker(location, { method: 'DELETE' }, s.env())).status).toBe(200);
    expect((await s.requests('trickle')).map((r) => r.params)).toEqual([{ id, candidates: [{ candidate: CANDIDATE, sdpMid: '0', sdpMLineIndex: 0 }], ended: true, ufrag: 'Uf1x', resource: true }]);
    expect((await s.requests('stop')).map((r) => r.params)).toEqual([{ playId: id, resource: true }]);
  });
});

describe('tokens (FANOUT_TOKEN_KEYS set)', () => {
  const KEY = 'k'.repeat(40);
  const exp = (): number => Math.floor(Date.now() / 1000) + 600;

  it('with two origins: one that is down sends it (307) to the other; a publish token naming an origin sends it there, one naming an edge is a 403', async () => {
    const s = new Scenario('whip-two-origins');
    await s.configure({ nodes: [node('origin', 'origin', { up: false }), node('origin-2', 'origin'), node('edge-1', 'edge')] });
    const down = await callWorker(`${ORIGIN}/whip/cam1`, sdpPost(), s.env());
    expect(down.status).toBe(307);
    expect(down.headers.get('location')).toBe('http://origin-2.localhost:8787/whip/cam1');

    const p = new Scenario('whip-token-origin');
    await p.configure({ nodes: [node('origin', 'origin'), node('origin-2', 'origin'), node('edge-1', 'edge')] });
    const env = p.env({ FANOUT_TOKEN_KEYS: KEY });
    const toOrigin2 = await signToken(KEY, { v: 1, act: 'publish', prefix: '', node: 'origin-2', exp: exp() });
    const pinned = await callWorker(`${ORIGIN}/whip/cam1`, sdpPost(OFFER, { Authorization: `Bearer ${toOrigin2}` }), env);
    expect(pinned.status).toBe(307);
    expect(pinned.headers.get('location')).toBe('http://origin-2.localhost:8787/whip/cam1');
    const toEdge = await signToken(KEY, { v: 1, act: 'publish', prefix: '', node: 'edge-1', exp: exp() });
    const refused = await callWorker(`${EDGE1}/whip/cam1`, sdpPost(OFFER, { Authorization: `Bearer ${toEdge}` }), env);
    expect(refused.status).toBe(403);
    expect((await errorOf(refused)).message).toContain('the token is for node edge-1, which is not an origin');
    expect(await p.requests('publish')).toEqual([]);
  });

  it('a WHIP POST without a token is 401; with a publish token for the stream it is 201', async () => {
    const s = new Scenario('whip-token');
    const env = s.env({ FANOUT_TOKEN_KEYS: KEY });
    const none = await callWorker(`${ORIGIN}/whip/cam1`, sdpPost(), env);
    expect(none.status).toBe(401);
    // The token comes first: a stranger learns nothing about what the body should be.
    expect((await callWorker(`${ORIGIN}/whip/cam1`, sdpPost('junk'), env)).status).toBe(401);
    expect(none.headers.get('www-authenticate')).toContain('Bearer');
    expect(none.headers.get('access-control-allow-origin')).toBe('*');
    const token = await signToken(KEY, { v: 1, act: 'publish', stream: 'cam1', exp: exp() });
    const other = await callWorker(`${ORIGIN}/whip/cam2`, sdpPost(OFFER, { Authorization: `Bearer ${token}` }), env);
    expect(other.status).toBe(403);
    const mine = await callWorker(`${ORIGIN}/whip/cam1`, sdpPost(OFFER, { Authorization: `Bearer ${token}` }), env);
    expect(mine.status).toBe(201);
    // The session's PATCH and DELETE need it too.
    const location = mine.headers.get('location') ?? '';
    expect((await callWorker(location, { method: 'DELETE' }, env)).status).toBe(401);
    expect((await callWorker(location, { method: 'DELETE', headers: { Authorization: `Bearer ${token}` } }, env)).status).toBe(200);
  });

  it('a play token naming an edge pins the origin\'s 307 to it', async () => {
    const s = new Scenario('whep-token-pin');
    const env = s.env({ FANOUT_TOKEN_KEYS: KEY });
    const token = await signToken(KEY, { v: 1, act: 'play', prefix: '', node: 'edge-2', exp: exp() });
    const resp = await callWorker(`${ORIGIN}/whep/cam1`, sdpPost(OFFER, { Authorization: `Bearer ${token}` }), env);
    expect(resp.status).toBe(307);
    expect(resp.headers.get('location')).toBe('http://edge-2.localhost:8787/whep/cam1');
    const elsewhere = await callWorker(`${EDGE1}/whep/cam1`, sdpPost(OFFER, { Authorization: `Bearer ${token}` }), env);
    expect(elsewhere.status).toBe(403);
  });
});

describe('while the bridge is away (a restart)', () => {
  /** 503, Retry-After, and the one error body naming the bridge. */
  async function expectAway(resp: Response): Promise<void> {
    expect(resp.status).toBe(503);
    expect(resp.headers.get('retry-after')).toBe(String(RETRY_AFTER_SECONDS));
    const e = await errorOf(resp);
    expect(e.code).toBe('UNAVAILABLE');
    expect(e.message).toMatch(/^the bridge is unavailable: .*the bridge at http:\/\/\S+\/api/);
  }

  it('refusing connections: WHIP and WHEP POST, PATCH and DELETE are 503 with Retry-After naming the bridge; once it is back the same URLs work', async () => {
    const s = new Scenario('whip-away-refused');
    const pub = await whip(s, 'cam1');
    const play = await callWorker(`${EDGE1}/whep/cam1`, sdpPost(), s.env());
    expect(play.status).toBe(201);
    const playUrl = play.headers.get('location') ?? '';
    await s.refuse(60_000);
    await expectAway(await callWorker(`${ORIGIN}/whip/cam2`, sdpPost(), s.env()));
    await expectAway(await callWorker(`${EDGE1}/whep/cam1`, sdpPost(), s.env()));
    for (const url of [pub.location, playUrl]) {
      await expectAway(await callWorker(url, fragPatch(), s.env()));
      await expectAway(await callWorker(url, { method: 'DELETE' }, s.env()));
    }
    await s.refuse(0);
    expect((await callWorker(pub.location, fragPatch(), s.env())).status).toBe(204);
    expect((await callWorker(pub.location, { method: 'DELETE' }, s.env())).status).toBe(200);
    expect((await callWorker(playUrl, { method: 'DELETE' }, s.env())).status).toBe(200);
    expect((await s.requests('unpublish')).map((r) => r.params)).toEqual([{ publishId: pub.location.split('/').pop(), resource: true }]);
    expect((await s.requests('stop')).map((r) => r.params)).toEqual([{ playId: playUrl.split('/').pop(), resource: true }]);
  });

  it('killed (every link dropped, then connections refused): 503 with Retry-After; once it is back PATCH and DELETE on the session work', async () => {
    const s = new Scenario('whip-away-killed');
    const { location } = await whip(s, 'cam1');
    await s.kill(60_000);
    await expectAway(await callWorker(`${ORIGIN}/whip/cam2`, sdpPost(), s.env()));
    await expectAway(await callWorker(location, fragPatch(), s.env()));
    await expectAway(await callWorker(location, { method: 'DELETE' }, s.env()));
    await s.refuse(0);
    await eventually(async () => (await callWorker(location, fragPatch(), s.env())).status === 204, 3_000, 'PATCH answered again');
    expect((await callWorker(location, { method: 'DELETE' }, s.env())).status).toBe(200);
    expect((await s.requests('unpublish')).map((r) => r.params)).toEqual([{ publishId: location.split('/').pop(), resource: true }]);
  });
});
