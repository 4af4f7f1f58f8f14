/**
 * The WCS WebSocket API through the worker (workerd), against the scripted bridge stand-in:
 * frame translation both ways, what reaches the bridge, and teardown.
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  OFFER_SDP,
  ANSWER_SDP,
  STAND_IN_ANSWER_SDP,
  STAND_IN_OFFER_SDP,
  Scenario,
  type WcsClient,
  eventually,
  node,
  openWcs,
} from '../testing.ts';

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

/** The publishId / playId a request named (the worker's own). */
function idOf(params: unknown): string {
  const id = typeof params === 'object' && params !== null ? (Reflect.get(params, 'publishId') ?? Reflect.get(params, 'playId')) : undefined;
  if (typeof id !== 'string') throw new Error(`no id in ${JSON.stringify(params)}`);
  return id;
}

const publish = (c: WcsClient, mediaSessionId: string, name: string, sdp = OFFER_SDP): void =>
  c.send({ message: 'publishStream', data: [{ mediaSessionId, name, published: true, hasVideo: true, hasAudio: true, status: 'PENDING', record: false, mediaProvider: 'WebRTC', sdp, custom: {}, constraints: { audio: true, video: true } }] });
const play = (c: WcsClient, mediaSessionId: string, name: string, sdp?: string): void =>
  c.send({ message: 'playStream', data: [{ mediaSessionId, name, published: false, hasVideo: true, hasAudio: true, status: 'PENDING', record: false, width: 0, height: 0, mediaProvider: 'WebRTC', ...(sdp === undefined ? {} : { sdp }), quality: null }] });

describe('connection', () => {
  it('is answered with getUserData carrying the session id, the node and the echoed appKey', async () => {
    const s = new Scenario('wcs-connect');
    const c = await open(s, ORIGIN);
    const user = await c.connect();
    expect(user).toMatchObject({ appKey: 'defaultApp', clientVersion: '2.0', mediaProviders: ['WebRTC'], node: 'origin', role: 'origin' });
    expect(user['sessionId']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('on an edge names the edge', async () => {
    const s = new Scenario('wcs-connect-edge');
    const c = await open(s, EDGE1);
    expect(await c.connect()).toMatchObject({ node: 'edge-1', role: 'edge' });
  });

  it('over the path prefix /node/<id>/ws on 127.0.0.1 reaches that node', async () => {
    const s = new Scenario('wcs-connect-path');
    const c = await open(s, 'http://127.0.0.1:8787/node/edge-2/ws');
    expect(await c.connect()).toMatchObject({ node: 'edge-2', role: 'edge' });
  });
});

describe('publishStream', () => {
  it('on the origin is sent to the bridge, answered with setRemoteSDP, then PUBLISHING', async () => {
    const s = new Scenario('wcs-publish');
    const c = await open(s, ORIGIN);
    await c.connect();
    publish(c, 'm1', 'cam1');
    expect((await c.next('setRemoteSDP')).data).toEqual(['m1', STAND_IN_ANSWER_SDP]);
    expect(await c.nextData('notifyStreamStatusEvent')).toEqual({ mediaSessionId: 'm1', name: 'cam1', published: true, status: 'PUBLISHING' });
    expect(await s.requests('publish')).toEqual([{ id: expect.any(Number), method: 'publish', params: { publishId: expect.stringMatching(/^pub_/), node: 'origin', stream: 'cam1', sdp: OFFER_SDP } }]);
  });

  it('of a name already published fails with "Stream name is already in use", the bridge\'s words as its reason', async () => {
    const s = new Scenario('wcs-publish-taken');
    const c = await open(s, ORIGIN);
    await c.connect();
    publish(c, 'm1', 'taken-cam');
    expect(await c.nextData('notifyStreamStatusEvent')).toEqual({
      mediaSessionId: 'm1',
      name: 'taken-cam',
      published: true,
      status: 'FAILED',
      info: 'Stream name is already in use',
      code: 'ALREADY_EXISTS',
      reason: 'stream "taken-cam" is already published',
    });
  });

  it('on an edge is placed on the origin: a redirect naming it, then FAILED saying where (the WebSDK\'s view); nothing reaches the bridge', async () => {
    const s = new Scenario('wcs-publish-edge');
    const c = await open(s, EDGE1);
    await c.connect();
    publish(c, 'm1', 'cam1');
    expect(await c.nextData('redirect')).toEqual({ mediaSessionId: 'm1', name: 'cam1', node: 'origin', url: 'ws://origin.localhost:8787/', server: 'origin.localhost', ws: 8787, wss: 8787 });
    expect(await c.nextData('notifyStreamStatusEvent')).toEqual({
      mediaSessionId: 'm1',
      name: 'cam1',
      published: true,
      status: 'FAILED',
      info: 'Publish on origin origin: ws://origin.localhost:8787/',
    });
    expect(await s.requests('publish')).toEqual([]);
  });

  it('with two origins, a name is published once across the CDN: the stream record refuses it on the other origin, naming the holder; unpublished, it is free again', async () => {
    const s = new Scenario('wcs-two-origins');
    await s.configure({ nodes: [node('origin', 'origin'), node('origin-2', 'origin'), node('edge-1', 'edge')] });
    const name = `two-${Date.now().toString(36)}`;
    const onOrigin = await open(s, ORIGIN);
    await onOrigin.connect();
    publish(onOrigin, 'm1', name);
    await onOrigin.next('setRemoteSDP');
    const onOrigin2 = await open(s, 'http://origin-2.localhost:8787/');
    await onOrigin2.connect();
    publish(onOrigin2, 'm2', name);
    expect(await onOrigin2.nextData('notifyStreamStatusEvent')).toEqual({
      mediaSessionId: 'm2',
      name,
      published: true,
      status: 'FAILED',
      info: 'Stream name is already in use',
      code: 'ALREADY_EXISTS',
      reason: `stream "${name}" is already published (on origin)`,
    });
    expect((await s.requests('publish')).map((r) => Reflect.get(Object(r.params), 'node'))).toEqual(['origin']);
    // Unpublished on origin (its release goes to the record as the stream ends): origin-2 may have it.
    onOrigin.send({ message: 'unPublishStream', data: [{ mediaSessionId: 'm1', name }] });
    expect(await onOrigin.nextData('notifyStreamStatusEvent')).toMatchObject({ status: 'UNPUBLISHED' });
    publish(onOrigin2, 'm3', name);
    await onOrigin2.next('setRemoteSDP');
    expect((await s.requests('publish')).map((r) => Reflect.get(Object(r.params), 'node'))).toEqual(['origin', 'origin-2']);
  });

  it('with two origins, a publish asked at one that is down is placed on the other, however loaded: a redirect naming it', async () => {
    const s = new Scenario('wcs-origin-down');
    await s.configure({ nodes: [node('origin', 'origin', { up: false }), node('origin-2', 'origin', { load: { publishers: 9, subscribers: 9 } }), node('edge-1', 'edge')] });
    const c = await open(s, ORIGIN);
    await c.connect();
    publish(c, 'm1', 'cam1');
    expect(await c.nextData('redirect')).toMatchObject({ mediaSessionId: 'm1', name: 'cam1', node: 'origin-2', url: 'ws://origin-2.localhost:8787/' });
    expect(await c.nextData('notifyStreamStatusEvent')).toMatchObject({ status: 'FAILED', info: 'Publish on origin origin-2: ws://origin-2.localhost:8787/' });
    expect(await s.requests('publish')).toEqual([]);
  });

  it('that the bridge later reports FAILED ends FAILED with the bridge info', async () => {
    const s = new Scenario('wcs-publish-fails-later');
    const c = await open(s, ORIGIN);
    await c.connect();
    publish(c, 'm1', 'failing-cam');
    await c.next('setRemoteSDP');
    expect(await c.nextData('notifyStreamStatusEvent')).toMatchObject({ mediaSessionId: 'm1', name: 'failing-cam', status: 'FAILED', info: 'Failed by ICE timeout' });
  });

  it('whose PUBLISHING event overtakes the bridge reply still gets setRemoteSDP first, then PUBLISHING', async () => {
    const s = new Scenario('wcs-publish-early');
    const c = await open(s, ORIGIN);
    await c.connect();
    publish(c, 'm1', 'early-cam');
    await c.nextData('notifyStreamStatusEvent');
    expect(c.received.map((f) => f.message)).toEqual(['getUserData', 'setRemoteSDP', 'notifyStreamStatusEvent']);
  });

  it('that the bridge does not answer in time fails with TIMEOUT instead of hanging', async () => {
    const s = new Scenario('wcs-publish-timeout');
    const c = await open(s, ORIGIN, s.env({ BRIDGE_REQUEST_TIMEOUT_MS: '200' }));
    await c.connect();
    publish(c, 'm1', 'hang-cam');
    expect(await c.nextData('notifyStreamStatusEvent')).toMatchObject({ status: 'FAILED', code: 'TIMEOUT', info: 'Failed by error: the bridge did not answer "publish" within 200 ms (node "origin")' });
  });

  it('whose bridge result breaks the schema fails with INTERNAL', async () => {
    const s = new Scenario('wcs-publish-bad-result');
    const c = await open(s, ORIGIN);
    await c.connect();
    publish(c, 'm1', 'badresult-cam');
    expect(await c.nextData('notifyStreamStatusEvent')).toMatchObject({ status: 'FAILED', code: 'INTERNAL' });
  });
});

describe('unPublishStream', () => {
  it('unpublishes on the bridge and answers UNPUBLISHED', async () => {
    const s = new Scenario('wcs-unpublish');
    const c = await open(s, ORIGIN);
    await c.connect();
    publish(c, 'm1', 'cam1');
    await c.nextData('notifyStreamStatusEvent');
    c.send({ message: 'unPublishStream', data: [{ mediaSessionId: 'm1', name: 'cam1', published: true }] });
    expect(await c.nextData('notifyStreamStatusEvent')).toEqual({ mediaSessionId: 'm1', name: 'cam1', published: true, status: 'UNPUBLISHED' });
    const [published] = await s.requests('publish');
    expect(await s.requests('unpublish')).toEqual([expect.objectContaining({ params: { publishId: idOf(published?.params) } })]);
    expect((await s.log()).open).toEqual([]);
  });

  it('sent while the bridge still works on the publish ends it by its id: UNPUBLISHED, and nothing is left on the bridge', async () => {
    const s = new Scenario('wcs-unpublish-inflight');
    const c = await open(s, ORIGIN);
    await c.connect();
    publish(c, 'm1', 'hang-cam');
    await eventually(async () => (await s.requests('publish')).length === 1, 3_000, 'publish sent');
    const publishId = idOf((await s.requests('publish'))[0]?.params);
    c.send({ message: 'unPublishStream', data: [{ mediaSessionId: 'm1', name: 'hang-cam' }] });
    expect(await c.nextData('notifyStreamStatusEvent')).toEqual({ mediaSessionId: 'm1', name: 'hang-cam', published: true, status: 'UNPUBLISHED' });
    expect((await s.requests('unpublish')).map((r) => r.params)).toEqual([{ publishId }]);
    expect((await s.log()).open).toEqual([]);
    // The failed publish that follows is not reported: the client already has its answer.
    c.send({ message: 'ping', data: [] });
    await c.next('pong');
    expect(c.received.map((f) => f.message)).not.toContain('setRemoteSDP');
    expect(c.pending().filter((f) => f.message === 'notifyStreamStatusEvent')).toEqual([]);
  });
});

describe('playStream', () => {
  it('on an edge with the player offer (the WebSDK flow) returns the answer, then PLAYING', async () => {
    const s = new Scenario('wcs-play-offer');
    const c = await open(s, EDGE1);
    await c.connect();
    play(c, 'p1', 'cam1', OFFER_SDP);
    expect((await c.next('setRemoteSDP')).data).toEqual(['p1', STAND_IN_ANSWER_SDP]);
    expect(await c.nextData('notifyStreamStatusEvent')).toEqual({ mediaSessionId: 'p1', name: 'cam1', published: false, status: 'PLAYING' });
    expect((await s.requests('play'))[0]?.params).toEqual({ playId: expect.stringMatching(/^play_/), node: 'edge-1', stream: 'cam1', sdp: OFFER_SDP });
  });

  it('on an edge without an offer gets the server offer, and the client answer goes to the bridge', async () => {
    const s = new Scenario('wcs-play-server-offer');
    const c = await open(s, EDGE1);
    await c.connect();
    play(c, 'p1', 'cam1');
    expect((await c.next('setRemoteSDP')).data).toEqual(['p1', STAND_IN_OFFER_SDP]);
    expect((await s.requests('play'))[0]?.params).toEqual({ playId: expect.stringMatching(/^play_/), node: 'edge-1', stream: 'cam1' });
    c.send({ message: 'setRemoteSDP', data: ['p1', ANSWER_SDP] });
    expect(await c.nextData('notifyStreamStatusEvent')).toMatchObject({ mediaSessionId: 'p1', status: 'PLAYING' });
    expect((await s.requests('answer'))[0]?.params).toEqual({ playId: idOf((await s.requests('play'))[0]?.params), sdp: ANSWER_SDP });
  });

  it('of a stream nobody publishes fails with "CDN stream not found"', async () => {
    const s = new Scenario('wcs-play-missing');
    const c = await open(s, EDGE1);
    await c.connect();
    play(c, 'p1', 'missing-cam', OFFER_SDP);
    expect(await c.nextData('notifyStreamStatusEvent')).toEqual({ mediaSessionId: 'p1', name: 'missing-cam', published: false, status: 'FAILED', info: 'CDN stream not found', code: 'NOT_FOUND' });
  });

  it('answered by the bridge with the wrong SDP type fails, and the bridge player is stopped', async () => {
    const s = new Scenario('wcs-play-wrong-type');
    const c = await open(s, EDGE1);
    await c.connect();
    play(c, 'p1', 'wrongtype-cam', OFFER_SDP);
    expect(await c.nextData('notifyStreamStatusEvent')).toMatchObject({ status: 'FAILED', code: 'INTERNAL' });
    await eventually(async () => (await s.requests('stop')).length === 1, 3_000, 'stop sent');
  });

  it('then stopStream stops it on the bridge and answers STOPPED', async () => {
    const s = new Scenario('wcs-stop');
    const c = await open(s, EDGE1);
    await c.connect();
    play(c, 'p1', 'cam1', OFFER_SDP);
    await c.nextData('notifyStreamStatusEvent');
    c.send({ message: 'stopStream', data: [{ mediaSessionId: 'p1', name: 'cam1', published: false }] });
    expect(await c.nextData('notifyStreamStatusEvent')).toEqual({ mediaSessionId: 'p1', name: 'cam1', published: false, status: 'STOPPED' });
    expect((await s.log()).open).toEqual([]);
  });

  it('with a bridge STOPPED event (publisher gone) reports STOPPED with its info', async () => {
    const s = new Scenario('wcs-play-stopped-event');
    const c = await open(s, EDGE1);
    await c.connect();
    play(c, 'p1', 'cam1', OFFER_SDP);
    await c.nextData('notifyStreamStatusEvent');
    const playId = (await s.log()).open[0] ?? '';
    await s.push({ event: 'player', playId, stream: 'cam1', status: 'STOPPED', info: 'Stopped by publisher stop' });
    expect(await c.nextData('notifyStreamStatusEvent')).toEqual({ mediaSessionId: 'p1', name: 'cam1', published: false, status: 'STOPPED', info: 'Stopped by publisher stop' });
  });
});

describe('playStream on the origin', () => {
  it('with load balancing sends a redirect to an edge, then FAILED naming it; nothing is played', async () => {
    const s = new Scenario('wcs-redirect');
    await s.configure({ mode: 'ROUNDROBIN' });
    const c = await open(s, ORIGIN);
    await c.connect();
    play(c, 'p1', 'cam1', OFFER_SDP);
    expect(await c.nextData('redirect')).toEqual({ mediaSessionId: 'p1', name: 'cam1', node: 'edge-1', url: 'ws://edge-1.localhost:8787/', server: 'edge-1.localhost', ws: 8787, wss: 8787 });
    expect(await c.nextData('notifyStreamStatusEvent')).toEqual({ mediaSessionId: 'p1', name: 'cam1', published: false, status: 'FAILED', info: 'Play from edge edge-1: ws://edge-1.localhost:8787/' });
    expect(await s.requests('play')).toEqual([]);
  });

  it('reached by path prefix redirects in the same style', async () => {
    const s = new Scenario('wcs-redirect-path');
    await s.configure({ mode: 'ROUNDROBIN' });
    const c = await open(s, 'http://127.0.0.1:8787/node/origin/ws');
    await c.connect();
    play(c, 'p1', 'cam1', OFFER_SDP);
    expect(await c.nextData('redirect')).toMatchObject({ node: 'edge-1', url: 'ws://127.0.0.1:8787/node/edge-1/ws', server: 'edge-1.localhost' });
  });

  it('with load balancing and every edge down fails saying no edge can play it', async () => {
    const s = new Scenario('wcs-redirect-none');
    await s.configure({ nodes: [node('origin', 'origin'), node('edge-1', 'edge', { up: false })] });
    const c = await open(s, ORIGIN);
    await c.connect();
    play(c, 'p1', 'cam1', OFFER_SDP);
    expect(await c.nextData('notifyStreamStatusEvent')).toMatchObject({ status: 'FAILED', code: 'UNAVAILABLE', info: 'No edge can play "cam1": no healthy edge: edge-1 is down' });
    expect(c.received.map((f) => f.message)).not.toContain('redirect');
  });

  it('without load balancing plays on the origin itself', async () => {
    const s = new Scenario('wcs-no-lb');
    await s.configure({ loadBalancing: false });
    const c = await open(s, ORIGIN);
    await c.connect();
    play(c, 'p1', 'cam1', OFFER_SDP);
    expect((await c.next('setRemoteSDP')).data).toEqual(['p1', STAND_IN_ANSWER_SDP]);
    expect((await s.requests('play'))[0]?.params).toMatchObject({ node: 'origin', stream: 'cam1' });
  });
});

describe('session teardown', () => {
  it('closing the client closes its bridge link, which releases its streams', async () => {
    const s = new Scenario('wcs-teardown');
    const c = await open(s, ORIGIN);
    await c.connect();
    publish(c, 'm1', 'cam1');
    await c.nextData('notifyStreamStatusEvent');
    expect((await s.log()).open).toHaveLength(1);
    c.close();
    await eventually(async () => {
      const log = await s.log();
      return log.closed === 1 && log.open.length === 0 && log.released.length === 1;
    }, 3_000, 'bridge link closed and stream released');
  });

  it('a bridge restart (1012) re-binds the live stream on a new link without a frame to the client, and the next publish uses that link', async () => {
    const s = new Scenario('wcs-bridge-restart');
    const c = await open(s, ORIGIN);
    await c.connect();
    publish(c, 'm1', 'cam1');
    await c.nextData('notifyStreamStatusEvent');
    const [ref] = (await s.log()).open;
    await s.drop();
    await eventually(async () => (await s.requests('bind')).length === 1 && (await s.log()).open.includes(ref ?? ''), 3_000, 're-bound');
    expect((await s.requests('bind')).map((r) => r.params)).toEqual([{ ids: [ref] }]);
    publish(c, 'm2', 'cam2');
    expect(await c.nextData('notifyStreamStatusEvent')).toMatchObject({ mediaSessionId: 'm2', status: 'PUBLISHING' });
    expect(c.received.map((f) => f.message)).toEqual(['getUserData', 'setRemoteSDP', 'notifyStreamStatusEvent', 'setRemoteSDP', 'notifyStreamStatusEvent']);
    expect((await s.log()).released).toEqual([]);
  });
});

describe('bridge configuration errors reach the client as FAILED with an info', () => {
  it('a worker without BRIDGE_SECRET fails the publish saying where to set it', async () => {
    const s = new Scenario('wcs-no-secret');
    const c = await open(s, ORIGIN, s.env({ BRIDGE_SECRET: '' }));
    await c.connect();
    publish(c, 'm1', 'cam1');
    const status = await c.nextData('notifyStreamStatusEvent');
    expect(status).toMatchObject({ status: 'FAILED', code: 'FAILED_PRECONDITION' });
    expect(status['info']).toContain('BRIDGE_SECRET is not set for the worker');
  });

  it("a worker with the wrong secret fails the publish with BRIDGE_UNAUTHENTICATED (the operator's, not the client's)", async () => {
    const s = new Scenario('wcs-wrong-secret');
    const c = await open(s, ORIGIN, s.env({ BRIDGE_SECRET: 'wrong-secret-wrong-secret' }));
    await c.connect();
    publish(c, 'm1', 'cam1');
    expect(await c.nextData('notifyStreamStatusEvent')).toMatchObject({ status: 'FAILED', code: 'BRIDGE_UNAUTHENTICATED' });
  });

  it('an unreachable bridge still establishes the session, then fails the publish quickly naming the bridge', async () => {
    const s = new Scenario('wcs-unreachable');
    const env = { ...s.env(), BRIDGE_URL: 'http://127.0.0.1:9' };
    const c = await open(s, ORIGIN, env);
    await c.connect();
    const started = Date.now();
    publish(c, 'm1', 'cam1');
    const status = await c.nextData('notifyStreamStatusEvent');
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(status).toMatchObject({ status: 'FAILED', code: 'UNAVAILABLE' });
    expect(status['info']).toContain('the bridge at http://127.0.0.1:9/api is unreachable');
  });
});

describe('keep-alive', () => {
  it('the server pings, and answers a client ping with pong', async () => {
    const s = new Scenario('wcs-ping');
    const c = await open(s, ORIGIN, s.env({ WCS_PING_INTERVAL_MS: '100' }));
    expect(await c.next('ping')).toEqual({ message: 'ping', data: [] });
    c.send({ message: 'ping', data: [null] });
    expect(await c.next('pong')).toEqual({ message: 'pong', data: [] });
  });

  it('a session that never answers is closed with 4408 after the timeout, and its bridge link with it', async () => {
    const s = new Scenario('wcs-ping-timeout');
    const c = await open(s, ORIGIN, s.env({ WCS_PING_INTERVAL_MS: '100', WCS_PING_TIMEOUT_MS: '400' }));
    await c.connect();
    publish(c, 'm1', 'cam1');
    await c.nextData('notifyStreamStatusEvent');
    const closed = await c.waitClosed(3_000);
    expect(closed.code).toBe(4408);
    expect(closed.reason).toMatch(/^no answer to pings for \d+ s$/);
    await eventually(async () => (await s.log()).released.length === 1, 3_000, 'stream released');
  });

  it('a session that answers pings with pong stays open past the timeout', async () => {
    const s = new Scenario('wcs-ping-alive');
    const c = await open(s, ORIGIN, s.env({ WCS_PING_INTERVAL_MS: '100', WCS_PING_TIMEOUT_MS: '500' }));
    const until = Date.now() + 1_200;
    while (Date.now() < until) {
      await c.next('ping');
      c.send({ message: 'pong', data: [null] });
    }
    expect(c.closed).toBeUndefined();
  });
});
