/**
 * The limits through the worker (workerd, bridge stand-in), each set low through its variable:
 * a flood closes that session alone (4429), sessions per address per minute (429), frame size,
 * nesting depth, SDP size, streams per session, hostile SDP; bad values name the variable.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { OFFER_SDP, Scenario, type WcsClient, callWorker, callWorkerNoWait, openWcs } from '../testing.ts';

const ORIGIN = 'http://origin.localhost:8787/';

const clients: WcsClient[] = [];
afterEach(() => {
  for (const c of clients.splice(0)) c.close();
});

async function open(s: Scenario, env: ReturnType<Scenario['env']>, headers: Record<string, string> = {}): Promise<WcsClient> {
  const c = await openWcs(ORIGIN, env, headers);
  clients.push(c);
  await c.connect();
  return c;
}

const publish = (c: WcsClient, id: string, sdp = OFFER_SDP, name = 'cam1'): void =>
  c.send({ message: 'publishStream', data: [{ mediaSessionId: id, name, sdp, mediaProvider: 'WebRTC' }] });

async function mediaRequests(s: Scenario): Promise<string[]> {
  return (await s.requests()).map((r) => r.method).filter((m) => m !== 'nodes' && m !== 'ping');
}

describe('a flood of frames', () => {
  it('closes that session with 4429 after one fail frame; another session on the same node carries on', async () => {
    const s = new Scenario('limit-flood');
    const env = s.env({ WCS_MAX_MESSAGES_PER_SECOND: '20' });
    const noisy = await open(s, env);
    const quiet = await open(s, env);
    for (let i = 0; i < 60; i++) noisy.send({ message: 'ping', data: [] });
    expect(await noisy.waitClosed()).toEqual({ code: 4429, reason: 'too many messages' });
    const fails = noisy.received.filter((f) => f.message === 'fail');
    expect(fails.map((f) => f.data[0])).toEqual([{ apiMethod: 'frame', code: 'RESOURCE_EXHAUSTED', info: 'more than 20 messages per second; the session is closed' }]);
    // The connection frame and the pings within the burst were answered.
    expect(noisy.received.filter((f) => f.message === 'pong').length).toBeGreaterThanOrEqual(15);
    quiet.send({ message: 'ping', data: [] });
    await quiet.next('pong');
    expect(quiet.closed).toBeUndefined();
  });
});

describe('sessions per client address per minute', () => {
  it('refuses the session after the limit with 429 and Retry-After; other addresses are not affected', async () => {
    const s = new Scenario('limit-sessions');
    const env = s.env({ WCS_MAX_SESSIONS_PER_MINUTE: '3' });
    // Addresses of this run only: the limiter is per isolate and outlives a test.
    const me = `198.51.100.${Math.floor(Math.random() * 200) + 1}`;
    const other = `2001:db8:${Math.floor(Math.random() * 9000) + 1}::7`;
    for (let i = 0; i < 3; i++) await open(s, env, { 'CF-Connecting-IP': me });
    const refused = await callWorkerNoWait(ORIGIN, { headers: { Upgrade: 'websocket', 'CF-Connecting-IP': me } }, env);
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(await refused.json()).toMatchObject({ error: { code: 'RESOURCE_EXHAUSTED', message: expect.stringMatching(/^too many new sessions from this address: the limit is 3 per minute/) } });
    expect(refused.webSocket).toBeNull();
    await open(s, env, { 'CF-Connecting-IP': other });
  });
});

describe('frame and SDP limits from the variables', () => {
  it('WCS_MAX_FRAME_BYTES: a larger frame gets a fail naming the limit; the session lives on', async () => {
    const s = new Scenario('limit-frame');
    const c = await open(s, s.env({ WCS_MAX_FRAME_BYTES: '2048' }));
    c.send({ message: 'ping', data: ['x'.repeat(3000)] });
    expect(await c.nextData('fail')).toEqual({ apiMethod: 'frame', code: 'INVALID_ARGUMENT', info: 'the frame is 3030 bytes; the limit is 2048 bytes' });
    c.send({ message: 'ping', data: [] });
    await c.next('pong');
  });

  it('WCS_MAX_FRAME_DEPTH: deeper nesting is refused before parsing; a nested custom within it is echoed', async () => {
    const s = new Scenario('limit-depth');
    const c = await openWcs(ORIGIN, s.env());
    clients.push(c);
    const nest = (n: number): string => '['.repeat(n) + ']'.repeat(n);
    c.sendRaw(`{"message":"connection","data":[{"custom":${nest(100_000)}}]}`);
    expect(await c.nextData('fail')).toEqual({ apiMethod: 'frame', code: 'INVALID_ARGUMENT', info: 'the frame nests arrays/objects deeper than 32 levels' });
    // Brackets inside strings do not count.
    c.sendRaw(`{"message":"connection","data":[{"appKey":"${nest(50)}","custom":${nest(20)}}]}`);
    expect(await c.nextData('getUserData')).toMatchObject({ appKey: nest(50), custom: JSON.parse(nest(20)) });
  });

  it('WCS_MAX_SDP_BYTES: a larger SDP fails that stream naming the field and the limit; nothing reaches the bridge', async () => {
    const s = new Scenario('limit-sdp');
    const c = await open(s, s.env({ WCS_MAX_SDP_BYTES: '1024' }));
    publish(c, 'm1', `${OFFER_SDP}${'a=x-pad:0123456789\r\n'.repeat(60)}`);
    expect(await c.nextData('fail')).toMatchObject({
      apiMethod: 'StreamStatusEvent',
      id: 'm1',
      status: 'FAILED',
      code: 'INVALID_ARGUMENT',
      info: expect.stringMatching(/^publishStream: data\[0\]\.sdp: the SDP is \d+ bytes; the limit is 1024 bytes$/),
    });
    expect(await mediaRequests(s)).toEqual([]);
  });

  it('WCS_MAX_STREAMS_PER_SESSION: the stream over the limit FAILS', async () => {
    const s = new Scenario('limit-streams');
    const c = await open(s, s.env({ WCS_MAX_STREAMS_PER_SESSION: '2' }));
    for (const i of [1, 2, 3]) publish(c, `m${i}`, OFFER_SDP, `lim-${i}`);
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push(await c.nextData('notifyStreamStatusEvent'));
    expect(statuses.find((st) => st['mediaSessionId'] === 'm3')).toMatchObject({ status: 'FAILED', code: 'RESOURCE_EXHAUSTED', info: 'Too many streams on one session (the limit is 2)' });
  });

  it.each([
    ['an injected line', OFFER_SDP.replace('s=test offer', 's=test offer\r\n<script>'), 'line 4 is not "<letter>=<value>"'],
    ['an absurd port', `${OFFER_SDP}m=video 70000 UDP/TLS/RTP/SAVPF 96\r\n`, 'line 5: port 70000 is not a port (0-65535)'],
    ['a NUL byte', OFFER_SDP.replace('s=test offer', 's=\u0000'), 'line 3 contains a control character'],
    // Regression (fuzz): JSON's "\ud800" reached Janus, which dropped the request; the publish hung 10 s.
    ['a lone surrogate', OFFER_SDP.replace('s=test offer', 's=\ud800'), 'line 3 is not valid Unicode (a lone UTF-16 surrogate)'],
  ])('an SDP with %s fails that stream naming the line; nothing reaches the bridge', async (_label, sdp, problem) => {
    const s = new Scenario('limit-hostile-sdp');
    const c = await open(s, s.env());
    publish(c, 'm1', sdp);
    expect(await c.nextData('fail')).toMatchObject({ id: 'm1', status: 'FAILED', info: `publishStream: data[0].sdp: sdp is not a valid session description: ${problem}` });
    expect(await mediaRequests(s)).toEqual([]);
  });

  it.each([
    ['WCS_MAX_MESSAGES_PER_SECOND', 'lots', 'WCS_MAX_MESSAGES_PER_SECOND must be a whole number'],
    ['WCS_MAX_FRAME_BYTES', '4194304', 'WCS_MAX_FRAME_BYTES must be at most 1048576'],
    ['WCS_MAX_SDP_BYTES', '100', 'WCS_MAX_SDP_BYTES must be at least 1024'],
  ])('a bad %s is a configuration error naming it', async (name, value, message) => {
    const s = new Scenario('limit-bad-config');
    const resp = await callWorker('http://127.0.0.1:8787/health', {}, s.env({ [name]: value }));
    expect(resp.status).toBe(500);
    expect(await resp.json()).toMatchObject({ error: { code: 'FAILED_PRECONDITION', message: expect.stringContaining(message) } });
  });
});
