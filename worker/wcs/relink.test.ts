/**
 * A WcsSession re-binding its streams after a lost bridge link (./relink.ts), with a fake link whose
 * replies the test releases by hand and fake timers for the retry pacing and the window: the
 * orderings a real bridge rarely produces on cue (a stop or an answer while away, a bind still out
 * when the window passes, a new link lost before its bind). Through workerd: ./wcs-relink.test.ts.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { CdnError } from '../../protocol/index.ts';
import { BIND_TIMEOUT_MS, RELINK_RETRY_MS, relinkRetryDelay } from './relink.ts';
import { SDP, connect, edge, harness, play, publish, refOf } from './session-harness.ts';

/** A live publish on the harness's link: its ref. */
async function livePublish(h: ReturnType<typeof harness>, id: string, name: string): Promise<string> {
  h.send(publish(id, name));
  await h.flush();
  const call = h.link().call('publish');
  call.resolve({ sdp: SDP });
  await h.flush();
  return refOf(call);
}

const BIND_RESULT = (bound: string[], gone: { id: string; status: string; info: string; code?: string }[] = []) => ({ bound, gone });
const LOST_INFO = 'Failed by error: the connection to the bridge was lost';

describe('WcsSession re-binds its streams after a lost link (links that move)', () => {
  afterEach(() => {
    vi.useRealTimers();
    vi.restoreAllMocks();
  });

  it('a live publish and a server-offer play are re-bound by ref on a new link: the client sees no frame, and events on the new link reach them', async () => {
    const h = harness();
    h.send(connect);
    const pub = await livePublish(h, 'm1', 'cam1');
    h.send(play('p1', 'cam1'));
    await h.flush();
    const playCall = h.link().call('play');
    playCall.resolve({ sdp: SDP, type: 'offer' });
    await h.flush();
    const before = h.sent.length;
    h.link().lose();
    await h.flush();
    expect(h.links).toHaveLength(2);
    const bind = h.link().call('bind');
    expect(bind.params).toEqual({ ids: [pub, refOf(playCall)] });
    bind.resolve(BIND_RESULT([pub, refOf(playCall)]));
    await h.flush();
    expect(h.sent.length).toBe(before);
    expect(h.session.streamIds).toEqual(['m1', 'p1']);
    h.link().handlers.onEvent({ event: 'publisher', publishId: pub, stream: 'cam1', status: 'FAILED', info: 'Failed by ICE timeout' });
    expect(h.statuses().at(-1)).toEqual({ mediaSessionId: 'm1', name: 'cam1', published: true, status: 'FAILED', info: 'Failed by ICE timeout' });
    // The play's answer goes on the new link, as it would have on the old one.
    h.send({ message: 'setRemoteSDP', data: ['p1', SDP] });
    expect(h.link().call('answer').params).toEqual({ playId: refOf(playCall), sdp: SDP });
  });

  it('a bridge that tells a re-bound link again what is up (PUBLISHING) sends the client nothing new', async () => {
    const h = harness();
    h.send(connect);
    const pub = await livePublish(h, 'm1', 'cam1');
    h.link().handlers.onEvent({ event: 'publisher', publishId: pub, stream: 'cam1', status: 'PUBLISHING' });
    expect(h.statuses()).toMatchObject([{ status: 'PUBLISHING' }]);
    h.link().lose();
    await h.flush();
    h.link().call('bind').resolve(BIND_RESULT([pub]));
    await h.flush();
    h.link().handlers.onEvent({ event: 'publisher', publishId: pub, stream: 'cam1', status: 'PUBLISHING' });
    expect(h.statuses()).toMatchObject([{ status: 'PUBLISHING' }]);
  });

  it('a bind not answered in time gives its link up (no release) and binds on a new one; the client sees no frame', async () => {
    const h = harness();
    h.send(connect);
    const pub = await livePublish(h, 'm1', 'cam1');
    const before = h.sent.length;
    h.link().lose();
    await h.flush();
    const silent = h.link();
    const bind = silent.call('bind');
    expect(bind.timeoutMs).toBe(BIND_TIMEOUT_MS);
    // What the real client does when the bind's own timeout passes.
    bind.reject(new CdnError('TIMEOUT', `the bridge did not answer "bind" within ${BIND_TIMEOUT_MS} ms`));
    await h.flush();
    expect(silent.abandoned).toMatch(/bind not answered/);
    await vi.waitFor(() => expect(h.links.length).toBe(3), { timeout: 2000 });
    h.link().call('bind').resolve(BIND_RESULT([pub]));
    await h.flush();
    expect(h.sent.length).toBe(before);
    expect(h.session.streamIds).toEqual(['m1']);
  });

  it('a request whose reply was lost with the link fails at once; the live one is re-bound; the failed one is released on the new link once bound', async () => {
    const h = harness();
    h.send(connect);
    const live = await livePublish(h, 'live', 'cam1');
    h.send(publish('pending', 'cam2'));
    await h.flush();
    const pending = refOf(h.link().call('publish'));
    h.link().lose();
    await h.flush();
    // A retryable failure names the session's node.
    expect(h.statuses()).toEqual([{ mediaSessionId: 'pending', name: 'cam2', published: true, status: 'FAILED', info: `${LOST_INFO} (node "origin")`, code: 'UNAVAILABLE' }]);
    const bind = h.link().call('bind');
    expect(bind.params).toEqual({ ids: [live, pending] });
    bind.resolve(BIND_RESULT([live, pending]));
    await h.flush();
    expect(h.link().call('unpublish').params).toEqual({ publishId: pending });
    expect(h.statuses()).toHaveLength(1);
    expect(h.session.streamIds).toEqual(['live']);
  });

  it('ids the bridge reports gone end with its status, info and code (UNAVAILABLE for one it lost); an id it does not name fails naming the bridge', async () => {
    const h = harness();
    h.send(connect);
    const a = await livePublish(h, 'a', 'cam1');
    const b = await livePublish(h, 'b', 'cam2');
    const c = await livePublish(h, 'c', 'cam3');
    const d = await livePublish(h, 'd', 'cam4');
    h.link().lose();
    await h.flush();
    h.link().call('bind').resolve(BIND_RESULT([], [
      { id: a, status: 'UNPUBLISHED', info: 'Unpublished while the link was away' },
      { id: b, status: 'FAILED', info: 'Failed by ICE timeout' },
      { id: d, status: 'FAILED', info: 'the bridge has no publish or play with this id', code: 'UNAVAILABLE' },
    ]));
    await h.flush();
    expect(h.statuses()).toEqual([
      { mediaSessionId: 'a', name: 'cam1', published: true, status: 'UNPUBLISHED', info: 'Unpublished while the link was away' },
      { mediaSessionId: 'b', name: 'cam2', published: true, status: 'FAILED', info: 'Failed by ICE timeout' },
      { mediaSessionId: 'c', name: 'cam3', published: true, status: 'FAILED', info: `${LOST_INFO}: the bridge did not re-bind it (node "origin")`, code: 'UNAVAILABLE' },
      { mediaSessionId: 'd', name: 'cam4', published: true, status: 'FAILED', info: 'the bridge has no publish or play with this id (node "origin")', code: 'UNAVAILABLE' },
    ]);
    expect(c).toMatch(/^pub_/);
    expect(h.session.streamIds).toEqual([]);
  });

  it('waits between half and one and a half RELINK_RETRY_MS between attempts, spread, never the same period twice in a row for long', () => {
    const waits = Array.from({ length: 1_000 }, () => relinkRetryDelay());
    expect(Math.min(...waits)).toBeGreaterThanOrEqual(RELINK_RETRY_MS / 2);
    expect(Math.max(...waits)).toBeLessThanOrEqual(RELINK_RETRY_MS * 1.5);
    expect(relinkRetryDelay(() => 0)).toBe(RELINK_RETRY_MS / 2);
    // Spread over the whole range, not a fixed period.
    expect(new Set(waits.map((w) => Math.floor(w / 25))).size).toBeGreaterThanOrEqual(9);
  });

  it('re-opens a refused link no faster than every RELINK_RETRY_MS / 2, and fails the streams naming the bridge when the window passes', async () => {
    vi.useFakeTimers();
    // The shortest wait every time: the most attempts the pacing allows.
    vi.spyOn(Math, 'random').mockReturnValue(0);
    const h = harness({ relinkWindowMs: 5_000 });
    h.send(connect);
    await livePublish(h, 'm1', 'cam1');
    h.refusing(new CdnError('UNAVAILABLE', 'the bridge at http://127.0.0.1:1/api is unreachable: connection refused'));
    const opensBefore = h.opens();
    h.link().lose();
    await vi.advanceTimersByTimeAsync(4_900);
    // At once, then every 125 ms: 1 + 39.
    expect(h.opens() - opensBefore).toBe(1 + Math.floor(4_900 / (RELINK_RETRY_MS / 2)));
    expect(h.statuses()).toEqual([]);
    await vi.advanceTimersByTimeAsync(200);
    expect(h.statuses()).toEqual([
      {
        mediaSessionId: 'm1',
        name: 'cam1',
        published: true,
        status: 'FAILED',
        info: `${LOST_INFO} (not re-established within 5 s: the bridge at http://127.0.0.1:1/api is unreachable: connection refused) (node "origin")`,
        code: 'UNAVAILABLE',
      },
    ]);
    expect(h.sent.filter((f) => f.message === 'fail').map((f) => f.data[0])).toEqual([
      { apiMethod: 'bridge', code: 'UNAVAILABLE', info: 'The connection to the bridge was lost: the streams of this session ended; new requests reconnect' },
    ]);
    const opensAtEnd = h.opens();
    await vi.advanceTimersByTimeAsync(5_000);
    expect(h.opens()).toBe(opensAtEnd);
  });

  it('a publish while the link is being re-established fails at once, retryable, naming the bridge', async () => {
    vi.useFakeTimers();
    const h = harness();
    h.send(connect);
    const live = await livePublish(h, 'm1', 'cam1');
    h.refusing(new CdnError('UNAVAILABLE', 'the bridge at http://127.0.0.1:1/api is unreachable: connection refused'));
    h.link().lose();
    await vi.advanceTimersByTimeAsync(100);
    h.send(publish('m2', 'cam2'));
    await h.flush();
    expect(h.statuses()).toEqual([
      {
        mediaSessionId: 'm2',
        name: 'cam2',
        published: true,
        status: 'FAILED',
        info: 'Failed by error: the bridge is unavailable: the bridge at http://127.0.0.1:1/api is unreachable: connection refused; the link is being re-established (node "origin")',
        code: 'UNAVAILABLE',
      },
    ]);
    // The bridge comes back: the live one is re-bound, and the next publish goes out as usual.
    h.refusing(undefined);
    await vi.advanceTimersByTimeAsync(500);
    h.link().call('bind').resolve(BIND_RESULT([live]));
    await vi.advanceTimersByTimeAsync(10);
    h.send(publish('m3', 'cam3'));
    await h.flush();
    expect(h.link().calls.map((c) => c.method)).toEqual(['publish']);
    expect(h.statuses()).toHaveLength(1);
  });

  it('stopStream while re-binding answers STOPPED at once, and the play is stopped on the new link once it is bound', async () => {
    const h = harness({ node: edge });
    h.hold();
    h.send(connect);
    h.release();
    await h.flush();
    h.send(play('p1', 'cam1', SDP));
    await h.flush();
    const call = h.link().call('play');
    call.resolve({ sdp: SDP, type: 'answer' });
    await h.flush();
    h.link().lose();
    await h.flush();
    h.send({ message: 'stopStream', data: [{ mediaSessionId: 'p1' }] });
    expect(h.statuses()).toEqual([{ mediaSessionId: 'p1', name: 'cam1', published: false, status: 'STOPPED' }]);
    h.release();
    await h.flush();
    const bind = h.link().call('bind');
    expect(h.link().calls).toEqual([]);
    bind.resolve(BIND_RESULT([refOf(call)]));
    await h.flush();
    expect(h.link().call('stop').params).toEqual({ playId: refOf(call) });
    expect(h.statuses()).toHaveLength(1);
  });

  it("a client's answer while re-binding waits for the new link, and goes on it once the play is bound", async () => {
    const h = harness({ node: edge });
    h.send(connect);
    h.send(play('p1', 'cam1'));
    await h.flush();
    const call = h.link().call('play');
    call.resolve({ sdp: SDP, type: 'offer' });
    await h.flush();
    h.hold();
    h.link().lose();
    await h.flush();
    h.send({ message: 'setRemoteSDP', data: ['p1', SDP] });
    h.release();
    await h.flush();
    const bind = h.link().call('bind');
    expect(h.link().calls).toEqual([]);
    bind.resolve(BIND_RESULT([refOf(call)]));
    await h.flush();
    expect(h.link().call('answer').params).toEqual({ playId: refOf(call), sdp: SDP });
    expect(h.statuses()).toEqual([]);
  });

  it('a bind still unanswered when the window passes: that link is closed (the bridge releases what it bound) and the streams fail', async () => {
    vi.useFakeTimers();
    const h = harness({ relinkWindowMs: 1_000 });
    h.send(connect);
    await livePublish(h, 'm1', 'cam1');
    h.link().lose();
    await vi.advanceTimersByTimeAsync(10);
    const binding = h.link();
    expect(binding.calls.map((c) => c.method)).toEqual(['bind']);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(binding.closed).toBe(true);
    expect(h.statuses()).toEqual([expect.objectContaining({ mediaSessionId: 'm1', status: 'FAILED', code: 'UNAVAILABLE' })]);
    // The next publish opens a fresh link.
    h.send(publish('m2', 'cam2'));
    await h.flush();
    expect(h.link()).not.toBe(binding);
    expect(h.link().calls.map((c) => c.method)).toEqual(['publish']);
  });

  it('a bridge that refuses bind itself (not retryable) fails the streams at once', async () => {
    const h = harness();
    h.send(connect);
    await livePublish(h, 'm1', 'cam1');
    h.link().lose();
    await h.flush();
    h.link().call('bind').reject(new CdnError('INVALID_ARGUMENT', 'unknown method "bind"'));
    await h.flush();
    expect(h.statuses()).toEqual([expect.objectContaining({ mediaSessionId: 'm1', status: 'FAILED', info: `${LOST_INFO} (unknown method "bind") (node "origin")` })]);
  });

  it('a re-opened link lost again before its bind answered is retried, and the bind goes on the next one', async () => {
    vi.useFakeTimers();
    const h = harness();
    h.send(connect);
    const ref = await livePublish(h, 'm1', 'cam1');
    h.link().lose();
    await vi.advanceTimersByTimeAsync(10);
    h.link().lose();
    await vi.advanceTimersByTimeAsync(RELINK_RETRY_MS * 1.5 + 10);
    expect(h.links).toHaveLength(3);
    h.link().call('bind').resolve(BIND_RESULT([ref]));
    await vi.advanceTimersByTimeAsync(10);
    expect(h.statuses()).toEqual([]);
    expect(h.session.streamIds).toEqual(['m1']);
  });

  it('the window starts again at each link that opens or is lost before its bind: a bridge restarted again and again, each lost before its bind, does not fail the streams', async () => {
    vi.useFakeTimers();
    const h = harness({ relinkWindowMs: 1_000 });
    h.send(connect);
    const ref = await livePublish(h, 'm1', 'cam1');
    h.link().lose();
    // Four bridges in a row, each reached and lost 800 ms later before it answered bind: 3.2 s in all.
    for (let i = 0; i < 4; i++) {
      await vi.advanceTimersByTimeAsync(800);
      expect(h.statuses()).toEqual([]);
      h.link().lose();
    }
    await vi.advanceTimersByTimeAsync(600);
    h.link().call('bind').resolve(BIND_RESULT([ref]));
    await vi.advanceTimersByTimeAsync(10);
    expect(h.statuses()).toEqual([]);
    expect(h.session.streamIds).toEqual(['m1']);
  });

  it('a bridge restarted every 1.5 s and reachable for only 150 ms of each cycle is reached within every window: the waits do not lock onto the dead part of the cycle', async () => {
    vi.useFakeTimers();
    // A fixed sequence from a small generator: the same run every time, spread as Math.random's.
    let seed = 7;
    vi.spyOn(Math, 'random').mockImplementation(() => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed / 2 ** 31;
    });
    // The default window (BRIDGE_RELINK_WINDOW_MS, 20 s): about 13 cycles.
    const h = harness({ relinkWindowMs: 20_000 });
    h.send(connect);
    const ref = await livePublish(h, 'm1', 'cam1');
    const down = new CdnError('UNAVAILABLE', 'the bridge at http://127.0.0.1:1/api is unreachable: Network connection lost.');
    h.refusing(down);
    h.link().lose();
    // 60 cycles (90 s, four and a half windows): refused for 1,350 ms, then up for 150 ms and killed, as a
    // launcher restarting a bridge killed right after it listens. A link opened while it was up is lost.
    let reached = 0;
    for (let cycle = 0; cycle < 60; cycle++) {
      await vi.advanceTimersByTimeAsync(1_350);
      const links = h.links.length;
      h.refusing(undefined);
      await vi.advanceTimersByTimeAsync(150);
      h.refusing(down);
      if (h.links.length > links) {
        reached++;
        h.link().lose();
      }
      expect(h.statuses(), `cycle ${cycle}`).toEqual([]);
    }
    expect(reached).toBeGreaterThanOrEqual(30);
    h.refusing(undefined);
    await vi.advanceTimersByTimeAsync(400);
    h.link().call('bind').resolve(BIND_RESULT([ref]));
    await vi.advanceTimersByTimeAsync(10);
    expect(h.statuses()).toEqual([]);
    expect(h.session.streamIds).toEqual(['m1']);
  });

  it('closing the session while re-binding stops the attempts and closes the new link', async () => {
    vi.useFakeTimers();
    const h = harness();
    h.send(connect);
    await livePublish(h, 'm1', 'cam1');
    h.refusing(new CdnError('UNAVAILABLE', 'refused'));
    h.link().lose();
    await vi.advanceTimersByTimeAsync(300);
    h.session.handleClose();
    const opens = h.opens();
    await vi.advanceTimersByTimeAsync(5_000);
    expect(h.opens()).toBe(opens);
    expect(h.sent.filter((f) => f.message === 'notifyStreamStatusEvent' || f.message === 'fail')).toEqual([]);
  });
});
