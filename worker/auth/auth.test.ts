/**
 * Tokens through the worker (workerd, against the bridge stand-in), with FANOUT_TOKEN_KEYS set:
 * the WCS WebSocket (authToken / custom.token, every kind of refusal as FAILED "Restricted access"
 * with nothing reaching the bridge, the origin's redirect and a token's node), GET /lb (?token= and
 * Bearer, 401/403), the HTTP verifier WHIP/WHEP will call, and the open mode's warning.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Logger } from '../../protocol/index.ts';
import { OFFER_SDP, Scenario, type WcsClient, callWorker, openWcs } from '../testing.ts';
import { authFor, check, denialResponse, openWarning, signToken, type TokenClaims } from './index.ts';

const KEY = 'test-token-key-0123456789-abcdefghijkl';
const NEXT_KEY = 'test-token-key-next-9876543210-zyxwvu';
const OTHER_KEY = 'not-a-configured-key-0000000000000000';
const ORIGIN = 'http://origin.localhost:8787/';
const EDGE1 = 'http://edge-1.localhost:8787/';
const LB = 'http://origin.localhost:8787/lb';

const inAnHour = (): number => Math.floor(Date.now() / 1000) + 3600;
const token = (over: Partial<TokenClaims> = {}, key = KEY): Promise<string> => signToken(key, { v: 1, act: 'publish', stream: 'cam1', exp: inAnHour(), ...over });

const clients: WcsClient[] = [];
afterEach(() => {
  for (const c of clients.splice(0)) c.close();
});

function envOf(s: Scenario, keys = KEY): ReturnType<Scenario['env']> {
  return s.env({ FANOUT_TOKEN_KEYS: keys });
}

async function session(s: Scenario, url: string, connection: Record<string, unknown>, keys = KEY): Promise<WcsClient> {
  const c = await openWcs(url, envOf(s, keys));
  clients.push(c);
  c.send({ message: 'connection', data: [{ appKey: 'defaultApp', clientVersion: '2.0', mediaProviders: ['WebRTC'], ...connection }] });
  await c.nextData('getUserData');
  return c;
}

const publish = (c: WcsClient, name = 'cam1', id = 'm1'): void => c.send({ message: 'publishStream', data: [{ mediaSessionId: id, name, sdp: OFFER_SDP, mediaProvider: 'WebRTC' }] });
const play = (c: WcsClient, name = 'cam1', id = 'p1'): void => c.send({ message: 'playStream', data: [{ mediaSessionId: id, name, sdp: OFFER_SDP, mediaProvider: 'WebRTC' }] });

/** Requests that did something at the bridge (the balancer's node list and keep-alives do not count). */
async function mediaRequests(s: Scenario): Promise<string[]> {
  return (await s.requests()).map((r) => r.method).filter((m) => m !== 'nodes' && m !== 'ping');
}

describe('the WCS WebSocket with token keys configured', () => {
  it('publishStream with a publish token in authToken is served', async () => {
    const s = new Scenario('auth-publish');
    const c = await session(s, ORIGIN, { authToken: await token() });
    publish(c);
    expect(await c.nextData('notifyStreamStatusEvent')).toMatchObject({ mediaSessionId: 'm1', status: 'PUBLISHING' });
    expect(await mediaRequests(s)).toEqual(['publish']);
  });

  it('takes the token from custom.token when authToken is absent', async () => {
    const s = new Scenario('auth-custom');
    const c = await session(s, ORIGIN, { custom: { token: await token() } });
    publish(c);
    expect(await c.nextData('notifyStreamStatusEvent')).toMatchObject({ status: 'PUBLISHING' });
  });

  it('accepts tokens signed by either key during a rotation', async () => {
    const s = new Scenario('auth-rotation');
    const c1 = await session(s, ORIGIN, { authToken: await token({ stream: 'rot-a' }, KEY) }, `${KEY},${NEXT_KEY}`);
    publish(c1, 'rot-a');
    expect(await c1.nextData('notifyStreamStatusEvent')).toMatchObject({ status: 'PUBLISHING' });
    const c2 = await session(s, ORIGIN, { authToken: await token({ stream: 'rot-b' }, NEXT_KEY) }, `${KEY},${NEXT_KEY}`);
    publish(c2, 'rot-b');
    expect(await c2.nextData('notifyStreamStatusEvent')).toMatchObject({ status: 'PUBLISHING' });
  });

  it.each([
    ['no token', async () => ({}), 'UNAUTHENTICATED', 'no token'],
    ['an expired token', async () => ({ authToken: await token({ exp: Math.floor(Date.now() / 1000) - 1 }) }), 'UNAUTHENTICATED', 'the token has expired'],
    ['a token signed with another key', async () => ({ authToken: await token({}, OTHER_KEY) }), 'UNAUTHENTICATED', 'the token signature is not valid'],
    ['garbage', async () => ({ authToken: 'x'.repeat(300) }), 'UNAUTHENTICATED', 'the token is not <claims>.<signature> in base64url'],
    ['a token for another stream', async () => ({ authToken: await token({ stream: 'cam2' }) }), 'PERMISSION_DENIED', 'the token is for stream "cam2"'],
    ['a play token', async () => ({ authToken: await token({ act: 'play' }) }), 'PERMISSION_DENIED', 'the token does not allow publish'],
    ['a token for another node', async () => ({ authToken: await token({ node: 'edge-1' }) }), 'PERMISSION_DENIED', 'the token is for node edge-1, which is not an origin'],
  ])('publishStream with %s FAILS with "Restricted access", and nothing reaches the bridge', async (_label, connection, code, reason) => {
    const s = new Scenario('auth-refused');
    const c = await session(s, ORIGIN, await connection());
    publish(c);
    expect(await c.nextData('notifyStreamStatusEvent')).toEqual({ mediaSessionId: 'm1', name: 'cam1', published: true, status: 'FAILED', info: 'Restricted access', code, reason });
    expect(await mediaRequests(s)).toEqual([]);
    if (code === 'UNAUTHENTICATED') {
      // Without a valid token the session never even opens a bridge link (the one there is the balancer's).
      expect((await s.log()).connections).toBeLessThanOrEqual(1);
    }
    // The session stays usable.
    c.send({ message: 'ping', data: [] });
    await c.next('pong');
  });

  it('playStream on an edge needs a play token for that stream (and that node, when it names one)', async () => {
    const s = new Scenario('auth-play-edge');
    const ok = await session(s, EDGE1, { authToken: await token({ act: 'play', node: 'edge-1' }) });
    play(ok);
    expect((await ok.next('setRemoteSDP')).data[0]).toBe('p1');
    const elsewhere = await session(s, EDGE1, { authToken: await token({ act: 'play', node: 'edge-2' }) });
    play(elsewhere, 'cam1', 'p2');
    expect(await elsewhere.nextData('notifyStreamStatusEvent')).toMatchObject({ mediaSessionId: 'p2', status: 'FAILED', info: 'Restricted access', code: 'PERMISSION_DENIED' });
    expect(await mediaRequests(s)).toEqual(['play']);
  });

  it('a play token with publish and play rights serves both on one session', async () => {
    const s = new Scenario('auth-both');
    const c = await session(s, ORIGIN, { authToken: await token({ act: ['publish', 'play'], stream: 'both' }) }, KEY);
    publish(c, 'both');
    expect(await c.nextData('notifyStreamStatusEvent')).toMatchObject({ status: 'PUBLISHING' });
  });

  it('on the origin with load balancing, a player without a token gets "Restricted access" and no redirect', async () => {
    const s = new Scenario('auth-redirect-refused');
    const c = await session(s, ORIGIN, {});
    play(c);
    expect(await c.nextData('notifyStreamStatusEvent')).toMatchObject({ status: 'FAILED', info: 'Restricted access', code: 'UNAUTHENTICATED' });
    expect(c.received.map((f) => f.message)).not.toContain('redirect');
  });

  it('on the origin with load balancing, a play token that names an edge sends the player to that edge', async () => {
    const s = new Scenario('auth-redirect-pinned');
    for (const i of [1, 2, 3]) {
      const c = await session(s, ORIGIN, { authToken: await token({ act: 'play', node: 'edge-2' }) });
      play(c, 'cam1', `p${i}`);
      expect(await c.nextData('redirect')).toMatchObject({ node: 'edge-2', url: 'ws://edge-2.localhost:8787/' });
    }
    const toOrigin = await session(s, ORIGIN, { authToken: await token({ act: 'play', node: 'origin' }) });
    play(toOrigin);
    expect(await toOrigin.nextData('notifyStreamStatusEvent')).toMatchObject({ status: 'FAILED', code: 'PERMISSION_DENIED', info: 'No edge can play "cam1": the token is for node origin, which is not an edge' });
  });
});

describe('GET /lb with token keys configured', () => {
  const lb = async (s: Scenario, query: string, headers: Record<string, string> = {}): Promise<Response> => callWorker(`${LB}${query}`, { headers }, envOf(s));

  it('answers 200 for a play token in ?token= or in Authorization: Bearer', async () => {
    const s = new Scenario('auth-lb-ok');
    const t = await token({ act: 'play' });
    const byQuery = await lb(s, `?stream=cam1&token=${t}`);
    expect(byQuery.status).toBe(200);
    expect(await byQuery.json()).toMatchObject({ server: expect.stringMatching(/^edge-\d\.localhost$/), stream: 'cam1' });
    expect((await lb(s, '', { Authorization: `Bearer ${t}` })).status).toBe(200);
  });

  it.each([
    ['no token', '', 401, 'Bearer realm="fanout"'],
    ['a forged token', 'token=eyJ2IjoxfQ.' + 'A'.repeat(43), 401, 'Bearer realm="fanout", error="invalid_token"'],
  ])('answers %s with 401, WWW-Authenticate and CORS', async (_label, query, status, challenge) => {
    const s = new Scenario('auth-lb-401');
    const resp = await lb(s, `?${query}`);
    expect(resp.status).toBe(status);
    expect(resp.headers.get('www-authenticate')).toBe(challenge);
    expect(resp.headers.get('access-control-allow-origin')).toBe('*');
    expect(await resp.json()).toMatchObject({ error: { code: 'UNAUTHENTICATED', message: expect.stringMatching(/^Restricted access: /) } });
  });

  it('answers an expired token with 401, a publish token or another stream with 403', async () => {
    const s = new Scenario('auth-lb-403');
    expect((await lb(s, `?token=${await token({ act: 'play', exp: Math.floor(Date.now() / 1000) - 5 })}`)).status).toBe(401);
    const publishOnly = await lb(s, `?token=${await token()}`);
    expect(publishOnly.status).toBe(403);
    expect(await publishOnly.json()).toMatchObject({ error: { code: 'PERMISSION_DENIED', message: 'Restricted access: the token does not allow play' } });
    expect((await lb(s, `?stream=cam2&token=${await token({ act: 'play' })}`)).status).toBe(403);
  });

  it('with a token that names an edge answers that edge (policy TOKEN); one that names the origin gets 403', async () => {
    const s = new Scenario('auth-lb-pinned');
    const resp = await lb(s, `?token=${await token({ act: 'play', node: 'edge-2' })}`);
    expect(await resp.json()).toMatchObject({ node: 'edge-2', server: 'edge-2.localhost', policy: 'TOKEN' });
    expect((await lb(s, `?token=${await token({ act: 'play', node: 'origin' })}`)).status).toBe(403);
  });
});

describe('check (the gate WHIP/WHEP and /lb call) and its HTTP answer', () => {
  it('lets everything through without keys', async () => {
    expect(await check(authFor([]), undefined, { action: 'publish', stream: 'cam1' })).toEqual({ ok: true, pinnedNode: undefined });
  });

  it('with keys: a good token passes with the node it pins; none is a 401, another stream a 403, each from the error table', async () => {
    const auth = authFor([KEY]);
    const want = { action: 'play', stream: 'cam1' } as const;
    expect(await check(auth, await token({ act: 'play', node: 'edge-2' }), want)).toEqual({ ok: true, pinnedNode: 'edge-2' });
    const none = await check(auth, undefined, want);
    expect(none).toEqual({ ok: false, denial: { code: 'UNAUTHENTICATED', reason: 'no token' } });
    const other = await check(auth, await token({ act: 'play', stream: 'cam9' }), want);
    expect(other).toEqual({ ok: false, denial: { code: 'PERMISSION_DENIED', reason: 'the token is for stream "cam9"' } });
    if (none.ok || other.ok) throw new Error('expected denials');
    const unauthenticated = denialResponse(none.denial);
    expect(unauthenticated.status).toBe(401);
    expect(unauthenticated.headers.get('www-authenticate')).toBe('Bearer realm="fanout"');
    const forbidden = denialResponse(other.denial);
    expect(forbidden.status).toBe(403);
    expect(forbidden.headers.get('www-authenticate')).toBe('Bearer realm="fanout", error="insufficient_scope"');
    expect(await forbidden.json()).toEqual({ error: { code: 'PERMISSION_DENIED', message: 'Restricted access: the token is for stream "cam9"', retryable: false } });
  });
});

describe('without token keys', () => {
  it('everything is open, and the isolate says so loudly once', () => {
    const lines: string[] = [];
    const log: Logger = { debug() {}, info() {}, warn: (m: string) => void lines.push(m), error() {}, child: () => log };
    openWarning.given = false;
    expect(authFor([], log).required).toBe(false);
    expect(authFor([], log).required).toBe(false);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/FANOUT_TOKEN_KEYS is not set: ANYONE can publish and play/);
  });

  it('a key shorter than 32 characters is a configuration error naming the variable, not the key', async () => {
    const s = new Scenario('auth-short-key');
    const resp = await callWorker('http://127.0.0.1:8787/health', {}, s.env({ FANOUT_TOKEN_KEYS: 'short-secret-key' }));
    expect(resp.status).toBe(500);
    const text = await resp.text();
    expect(text).toContain('FANOUT_TOKEN_KEYS: every key must be at least 32 characters');
    expect(text).not.toContain('short-secret-key');
  });
});
