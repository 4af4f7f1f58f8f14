/**
 * WcsSession alone, with a fake bridge link whose replies the test releases by hand: the orderings
 * a real bridge rarely produces on cue (stop before the reply, link lost mid-request, close during
 * the handshake, the clock-driven ping). Re-binding after a lost link: ./relink.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { CdnError, type BridgeEvent } from '../../protocol/index.ts';
import { SDP, connect, edge, harness, origin, play, publish, refOf } from './session-harness.ts';
import { CLOSE_CODES, WcsSession, type EdgeRedirect } from './session.ts';

describe('WcsSession names the bridge ids', () => {
  it('publish and play requests carry a fresh id of the session, one per stream', async () => {
    const h = harness({ node: edge });
    h.send(connect);
    h.send(play('p1', 'cam1', SDP));
    h.send(play('p2', 'cam1', SDP));
    await h.flush();
    const [a, b] = [h.link().call('play'), h.link().call('play')];
    expect(refOf(a)).toMatch(/^play_[A-Za-z0-9_-]{16}$/);
    expect(refOf(b)).toMatch(/^play_[A-Za-z0-9_-]{16}$/);
    expect(refOf(a)).not.toBe(refOf(b));
    expect(a.params).toEqual({ playId: refOf(a), node: 'edge-1', stream: 'cam1', sdp: SDP });
  });

  it('an event that beats its reply finds its stream by id: setRemoteSDP first, then PUBLISHING', async () => {
    const h = harness();
    h.send(connect);
    h.send(publish('m1'));
    await h.flush();
    const call = h.link().call('publish');
    h.link().handlers.onEvent({ event: 'publisher', publishId: refOf(call), stream: 'cam1', status: 'PUBLISHING' });
    expect(h.sent.map((f) => f.message)).toEqual(['getUserData']);
    call.resolve({ sdp: SDP });
    await h.flush();
    expect(h.sent.map((f) => f.message)).toEqual(['getUserData', 'setRemoteSDP', 'notifyStreamStatusEvent']);
    expect(h.statuses()).toEqual([{ mediaSessionId: 'm1', name: 'cam1', published: true, status: 'PUBLISHING' }]);
  });

  it('a FAILED event before the reply fails the stream at once, and the late reply is ignored', async () => {
    const h = harness();
    h.send(connect);
    h.send(publish('m1'));
    await h.flush();
    const call = h.link().call('publish');
    h.link().handlers.onEvent({ event: 'publisher', publishId: refOf(call), stream: 'cam1', status: 'FAILED', info: 'Failed by ICE timeout' });
    call.resolve({ sdp: SDP });
    await h.flush();
    expect(h.statuses()).toEqual([{ mediaSessionId: 'm1', name: 'cam1', published: true, status: 'FAILED', info: 'Failed by ICE timeout' }]);
    expect(h.sent.map((f) => f.message)).not.toContain('setRemoteSDP');
    expect(h.session.streamIds).toEqual([]);
  });

  it('events for ids the session never named are ignored', async () => {
    const h = harness();
    h.send(connect);
    h.send(publish('m1'));
    await h.flush();
    for (let i = 0; i < 500; i++) h.link().handlers.onEvent({ event: 'publisher', publishId: `pub_unknown${i}`, stream: 'cam1', status: 'FAILED' } satisfies BridgeEvent);
    h.link().call('publish').resolve({ sdp: SDP });
    await h.flush();
    expect(h.sent.map((f) => f.message)).toEqual(['getUserData', 'setRemoteSDP']);
    expect(h.session.streamIds).toEqual(['m1']);
  });
});

describe('WcsSession stop before the bridge replied', () => {
  it('unPublishStream during a pending publish unpublishes it by id at once, reports UNPUBLISHED, and ignores the failed publish', async () => {
    const h = harness();
    h.send(connect);
    h.send(publish('m1'));
    await h.flush();
    const pending = h.link().call('publish');
    h.send({ message: 'unPublishStream', data: [{ mediaSessionId: 'm1' }] });
    const unpublish = h.link().call('unpublish');
    expect(unpublish.params).toEqual({ publishId: refOf(pending) });
    unpublish.resolve({});
    pending.reject(new CdnError('FAILED_PRECONDITION', `publish "${refOf(pending)}" was ended before it started`));
    await h.flush();
    expect(h.statuses()).toEqual([{ mediaSessionId: 'm1', name: 'cam1', published: true, status: 'UNPUBLISHED' }]);
    expect(h.sent.map((f) => f.message)).not.toContain('setRemoteSDP');
  });

  it('stopStream during a pending play stops it by id and reports STOPPED; a reply that still comes is ignored', async () => {
    const h = harness({ node: edge });
    h.send(connect);
    h.send(play('p1', 'cam1', SDP));
    await h.flush();
    const pending = h.link().call('play');
    h.send({ message: 'stopStream', data: [{ mediaSessionId: 'p1' }] });
    const stop = h.link().call('stop');
    expect(stop.params).toEqual({ playId: refOf(pending) });
    pending.resolve({ sdp: SDP, type: 'answer' });
    stop.resolve({});
    await h.flush();
    expect(h.statuses()).toEqual([{ mediaSessionId: 'p1', name: 'cam1', published: false, status: 'STOPPED' }]);
    expect(h.sent.map((f) => f.message)).not.toContain('setRemoteSDP');
  });

  it('a stop before anything was asked (the link still opening) answers at once, and the bridge is never asked', async () => {
    const h = harness();
    h.hold();
    h.send(connect);
    h.send(publish('m1'));
    h.send({ message: 'unPublishStream', data: [{ mediaSessionId: 'm1' }] });
    expect(h.statuses()).toEqual([{ mediaSessionId: 'm1', name: 'cam1', published: true, status: 'UNPUBLISHED' }]);
    await h.flush();
    h.release();
    await h.flush();
    expect(h.link().closed).toBe(false);
    expect(h.link().calls).toEqual([]);
  });

  it('stopStream during a redirect reports STOPPED instead of the redirect', async () => {
    let choose: (r: EdgeRedirect) => void = () => undefined;
    const h = harness({ loadBalancing: true }, () => new Promise((r) => (choose = r)));
    h.send(connect);
    h.send(play('p1'));
    h.send({ message: 'stopStream', data: [{ mediaSessionId: 'p1' }] });
    choose({ ok: true, node: edge, url: 'ws://edge-1.localhost:8787/', server: 'edge-1.localhost', ws: 8787, wss: 8787 });
    await h.flush();
    expect(h.statuses()).toEqual([{ mediaSessionId: 'p1', name: 'cam1', published: false, status: 'STOPPED' }]);
    expect(h.sent.map((f) => f.message)).not.toContain('redirect');
  });
});

describe('WcsSession and its bridge link', () => {
  it('a lost link with nothing live on it says nothing and opens no link until the next request; the session stays open', async () => {
    const h = harness();
    h.send(connect);
    await h.flush();
    const before = h.sent.length;
    h.link().lose();
    await h.flush();
    expect(h.sent.length).toBe(before);
    expect(h.links).toHaveLength(1);
    expect(h.closes).toEqual([]);
    expect(h.session.closed).toBe(false);
  });

  it('the next publish after a lost link opens a new one', async () => {
    const h = harness();
    h.send(connect);
    await h.flush();
    h.link().lose();
    h.send(publish('m1'));
    await h.flush();
    expect(h.links).toHaveLength(2);
    expect(h.link().calls.map((c) => c.method)).toEqual(['publish']);
  });

  it('closing the session while the link handshake is in flight closes the link when it opens', async () => {
    const h = harness();
    h.hold();
    h.send(connect);
    h.session.handleClose();
    h.release();
    await h.flush();
    expect(h.link().closed).toBe(true);
  });

  it('closing the session closes the link, which rejects the pending request, and nothing more is sent', async () => {
    const h = harness();
    h.send(connect);
    h.send(publish('m1'));
    await h.flush();
    const before = h.sent.length;
    h.session.handleClose();
    h.session.handleClose();
    await h.flush();
    expect(h.link().closed).toBe(true);
    expect(h.sent.length).toBe(before);
    h.send({ message: 'ping', data: [] });
    expect(h.sent.length).toBe(before);
  });

  it('a chooseEdge that throws fails that player with INTERNAL and the reason', async () => {
    const h = harness({ loadBalancing: true }, () => Promise.reject(new Error('balancer exploded')));
    h.send(connect);
    h.send(play('p1'));
    await h.flush();
    expect(h.statuses()).toEqual([{ mediaSessionId: 'p1', name: 'cam1', published: false, status: 'FAILED', info: 'No edge can play "cam1": balancer exploded', code: 'INTERNAL' }]);
  });

  it('a client that cannot be written to does not break the session', () => {
    const session = new WcsSession(
      {
        send: () => {
          throw new Error('socket gone');
        },
        close: () => undefined,
        openBridge: () => Promise.reject(new CdnError('UNAVAILABLE', 'no')),
        chooseEdge: () => Promise.reject(new Error('no')),
        placePublish: () => Promise.resolve({ ok: true, here: true }),
        now: () => 0,
      },
      { sessionId: 's', node: origin, loadBalancing: false, pingTimeoutMs: 1_000 },
    );
    expect(() => session.handleText('{bad')).not.toThrow();
    expect(() => session.tick()).not.toThrow();
  });
});

describe('WcsSession keep-alive', () => {
  it('tick pings while the client is heard from, and closes with 4408 once it is silent past the timeout', () => {
    const h = harness({ pingTimeoutMs: 30_000 });
    h.session.tick();
    expect(h.sent.at(-1)).toEqual({ message: 'ping', data: [] });
    h.advance(20_000);
    h.send({ message: 'pong', data: [null] });
    h.advance(20_000);
    h.session.tick();
    expect(h.closes).toEqual([]);
    h.advance(10_001);
    h.session.tick();
    expect(h.closes).toEqual([{ code: CLOSE_CODES.PING_TIMEOUT, reason: 'no answer to pings for 30 s' }]);
    expect(h.session.closed).toBe(true);
  });
});
