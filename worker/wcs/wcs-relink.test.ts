/**
 * Links that move, through the worker (workerd) against the bridge stand-in: a WCS session whose
 * bridge link is lost abnormally (the stand-in killed, then refusing connections for a while)
 * re-opens it and re-binds its streams; the client sees nothing unless a stream ended meanwhile,
 * the window passes, or it asks for something new while the bridge is away.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { OFFER_SDP, Scenario, type WcsClient, eventually, openWcs } from '../testing.ts';

const ORIGIN = 'http://origin.localhost:8787/';
const EDGE1 = 'http://edge-1.localhost:8787/';

const clients: WcsClient[] = [];
async function open(s: Scenario, url: string, env = s.env()): Promise<WcsClient> {
  const c = await openWcs(url, env);
  clients.push(c);
  return c;
}
afterEach(() => {
  for (const c of clients.splice(0)) c.close();
});

const publish = (c: WcsClient, mediaSessionId: string, name: string): void =>
  c.send({ message: 'publishStream', data: [{ mediaSessionId, name, published: true, hasVideo: true, hasAudio: true, status: 'PENDING', mediaProvider: 'WebRTC', sdp: OFFER_SDP }] });
const play = (c: WcsClient, mediaSessionId: string, name: string): void =>
  c.send({ message: 'playStream', data: [{ mediaSessionId, name, published: false, hasVideo: true, hasAudio: true, status: 'PENDING', mediaProvider: 'WebRTC', sdp: OFFER_SDP }] });

/** A connected client with one live stream, and the stream's bridge id. */
async function live(s: Scenario, url: string, kind: 'publish' | 'play', env = s.env()): Promise<{ c: WcsClient; ref: string }> {
  const c = await open(s, url, env);
  await c.connect();
  const before = new Set((await s.log()).open);
  if (kind === 'publish') publish(c, 'm1', 'cam1');
  else play(c, 'p1', 'cam1');
  expect(await c.nextData('notifyStreamStatusEvent')).toMatchObject({ status: kind === 'publish' ? 'PUBLISHING' : 'PLAYING' });
  const ref = (await s.log()).open.find((id) => !before.has(id));
  if (ref === undefined) throw new Error('no new id on the stand-in');
  return { c, ref };
}

/** Status and session-level frames the client got (what a re-bind must not produce). */
function notices(c: WcsClient): string[] {
  return c.received.filter((f) => f.message === 'fail' || f.message === 'notifyStreamStatusEvent').map((f) => JSON.stringify(f.data[0]));
}

describe('a WCS session whose bridge link is lost abnormally', () => {
  it('re-opens it once the bridge accepts again and re-binds its stream: no status frame, not released, and its events still reach the client', async () => {
    const s = new Scenario('relink-rebind');
    const { c, ref } = await live(s, ORIGIN, 'publish');
    const seen = notices(c);
    await s.kill(600);
    await eventually(async () => (await s.log()).orphaned.includes(ref), 3_000, 'orphaned on the stand-in');
    await eventually(async () => (await s.log()).open.includes(ref), 5_000, 're-bound');
    const log = await s.log();
    expect(log.refused).toBeGreaterThan(0);
    expect(log.released).toEqual([]);
    expect((await s.requests('bind')).map((r) => r.params)).toEqual([{ ids: [ref] }]);
    expect(notices(c)).toEqual(seen);
    expect(c.closed).toBeUndefined();
    await s.push({ event: 'publisher', publishId: ref, stream: 'cam1', status: 'FAILED', info: 'Failed by ICE timeout' });
    expect(await c.nextData('notifyStreamStatusEvent')).toEqual({ mediaSessionId: 'm1', name: 'cam1', published: true, status: 'FAILED', info: 'Failed by ICE timeout' });
  });

  it('ends the streams that ended while the bridge was away with the status and info the bridge gives', async () => {
    const s = new Scenario('relink-gone');
    const pub = await live(s, ORIGIN, 'publish');
    const player = await live(s, EDGE1, 'play');
    await s.kill(800);
    await s.end(pub.ref, 'UNPUBLISHED', 'Unpublished while the bridge was away');
    await s.end(player.ref, 'STOPPED', 'Stopped by publisher stop');
    expect(await pub.c.nextData('notifyStreamStatusEvent', 5_000)).toEqual({ mediaSessionId: 'm1', name: 'cam1', published: true, status: 'UNPUBLISHED', info: 'Unpublished while the bridge was away' });
    expect(await player.c.nextData('notifyStreamStatusEvent', 5_000)).toEqual({ mediaSessionId: 'p1', name: 'cam1', published: false, status: 'STOPPED', info: 'Stopped by publisher stop' });
  });

  it('fails its streams naming the bridge when the relink window passes, and tells the session', async () => {
    const s = new Scenario('relink-expired');
    const { c, ref } = await live(s, ORIGIN, 'publish', s.env({ BRIDGE_RELINK_WINDOW_MS: '500' }));
    const started = Date.now();
    await s.kill(5_000);
    const status = await c.nextData('notifyStreamStatusEvent', 3_000);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(status).toMatchObject({ mediaSessionId: 'm1', status: 'FAILED', code: 'UNAVAILABLE' });
    expect(status['info']).toMatch(/^Failed by error: the connection to the bridge was lost \(not re-established within 0\.5 s: .*the bridge at http:\/\/\S+\/api/);
    expect(await c.nextData('fail')).toMatchObject({ apiMethod: 'bridge', code: 'UNAVAILABLE' });
    expect((await s.log()).orphaned).toEqual([ref]);
    expect(c.closed).toBeUndefined();
  });

  it('answers a publish made while the bridge is away with a quick FAILED naming the bridge; the live stream is re-bound once it is back', async () => {
    const s = new Scenario('relink-new-request');
    const { c, ref } = await live(s, ORIGIN, 'publish');
    await s.kill(1_500);
    await eventually(async () => (await s.log()).refused > 0, 3_000, 'a refused reconnect');
    const started = Date.now();
    publish(c, 'm2', 'cam2');
    const status = await c.nextData('notifyStreamStatusEvent');
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(status).toMatchObject({ mediaSessionId: 'm2', status: 'FAILED', code: 'UNAVAILABLE' });
    expect(status['info']).toMatch(/^Failed by error: the bridge is unavailable: .*; the link is being re-established \(node "origin"\)$/);
    await eventually(async () => (await s.requests('bind')).length === 1 && (await s.log()).open.includes(ref), 5_000, 're-bound');
    expect(notices(c).filter((n) => n.includes('"m1"') && !n.includes('PUBLISHING'))).toEqual([]);
    publish(c, 'm3', 'cam3');
    expect(await c.nextData('notifyStreamStatusEvent')).toMatchObject({ mediaSessionId: 'm3', status: 'PUBLISHING' });
  });

  it('stopStream while the bridge is away answers STOPPED at once, and the play is stopped on the bridge once re-bound', async () => {
    const s = new Scenario('relink-stop');
    const { c, ref } = await live(s, EDGE1, 'play');
    await s.kill(800);
    c.send({ message: 'stopStream', data: [{ mediaSessionId: 'p1', name: 'cam1', published: false }] });
    expect(await c.nextData('notifyStreamStatusEvent', 500)).toEqual({ mediaSessionId: 'p1', name: 'cam1', published: false, status: 'STOPPED' });
    await eventually(async () => (await s.requests('stop')).length === 1, 5_000, 'stop sent after the bind');
    expect((await s.requests('stop')).map((r) => r.params)).toEqual([{ playId: ref }]);
    const log = await s.log();
    expect(log.open).toEqual([]);
    expect(log.orphaned).toEqual([]);
  });
});
