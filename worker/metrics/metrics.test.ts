/**
 * The worker's counters: what a session counts (unit), and how its reports reach the bridge
 * through the worker in workerd (its own link; the Balancer's link for a session without one).
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Method, Params, WorkerReport } from '../../protocol/index.ts';
import { Scenario, type WcsClient, eventually, openWcs } from '../testing.ts';
import { frames } from '../../protocol/wcs.ts';
import { SessionCounters, SessionReporter, type ReportLink } from './index.ts';

const clients: WcsClient[] = [];
afterEach(() => {
  for (const c of clients.splice(0)) c.close();
});

class FakeLink implements ReportLink {
  closed = false;
  readonly sent: WorkerReport[] = [];
  request<M extends Method>(method: M, params: Params<M>): Promise<never> {
    if (method === 'metrics') this.sent.push(params as WorkerReport);
    return Promise.reject(new Error('not answered in this test'));
  }
}

describe('SessionCounters', () => {
  it('counts frames both ways and refusals by code (fail frames and FAILED statuses with a code), as deltas', () => {
    const c = new SessionCounters();
    c.frameIn();
    c.frameIn();
    c.frameOut(frames.pong());
    c.frameOut(frames.fail({ apiMethod: 'frame', info: 'not JSON', code: 'INVALID_ARGUMENT' }));
    c.frameOut(frames.status({ mediaSessionId: 'm', name: 'n', published: false, status: 'FAILED', info: 'CDN stream not found', code: 'NOT_FOUND' }));
    c.frameOut(frames.status({ mediaSessionId: 'm', name: 'n', published: false, status: 'FAILED', info: 'Play from edge edge-1: ws://...' }));
    expect(c.take()).toEqual({ sessionsOpened: 1, sessionsClosed: 0, framesIn: 2, framesOut: 4, rejected: { INVALID_ARGUMENT: 1, NOT_FOUND: 1 } });
    expect(c.take()).toBeUndefined();
    c.end();
    expect(c.take()).toEqual({ sessionsOpened: 0, sessionsClosed: 1, framesIn: 0, framesOut: 0, rejected: {} });
    expect(c.take()).toBeUndefined();
  });
});

describe('SessionReporter', () => {
  it('reports the start when the link opens, news on flush, and the end before the link closes; never to the fallback', () => {
    const fallback: WorkerReport[] = [];
    const r = new SessionReporter((x) => fallback.push(x));
    r.counters.frameIn();
    const link = new FakeLink();
    r.linkOpened(link);
    r.flush();
    r.counters.frameIn();
    r.flush();
    r.finish();
    r.finish();
    expect(link.sent.map((x) => [x.sessionsOpened, x.sessionsClosed, x.framesIn])).toEqual([
      [1, 0, 1],
      [0, 0, 1],
      [0, 1, 0],
    ]);
    expect(fallback).toEqual([]);
  });

  it('a session whose link never opened (or is gone) hands its one report to the fallback at the end', () => {
    const fallback: WorkerReport[] = [];
    const r = new SessionReporter((x) => fallback.push(x));
    r.counters.frameIn();
    r.counters.frameOut(frames.fail({ apiMethod: 'frame', info: 'x', code: 'INVALID_ARGUMENT' }));
    r.flush();
    r.finish();
    expect(fallback).toEqual([{ sessionsOpened: 1, sessionsClosed: 1, framesIn: 1, framesOut: 1, rejected: { INVALID_ARGUMENT: 1 } }]);
  });
});

describe('counters through the worker', () => {
  it('a session reports over its own bridge link: its start at connection, then frames and refusals and its end at close', async () => {
    const s = new Scenario('metrics-session');
    const c = await openWcs('http://origin.localhost:8787/', s.env());
    clients.push(c);
    await c.connect();
    await eventually(async () => (await s.log()).reports.length >= 1, 3_000, 'the first report');
    c.sendRaw('not json');
    await c.next('fail');
    c.close();
    await eventually(async () => (await s.log()).reports.some((r) => r.sessionsClosed === 1), 3_000, 'the last report');
    const reports = (await s.log()).reports;
    const sum = (k: 'sessionsOpened' | 'sessionsClosed' | 'framesIn' | 'framesOut'): number => reports.reduce((n, r) => n + r[k], 0);
    expect(reports[0]?.sessionsOpened).toBe(1);
    expect(sum('sessionsOpened')).toBe(1);
    expect(sum('sessionsClosed')).toBe(1);
    expect(sum('framesIn')).toBe(2);
    expect(sum('framesOut')).toBe(2);
    expect(reports.reduce((n, r) => n + (r.rejected.INVALID_ARGUMENT ?? 0), 0)).toBe(1);
  });

  it('a session that never sends connection (so has no link) is reported through the Balancer when it closes', async () => {
    const s = new Scenario('metrics-no-link');
    const c = await openWcs('http://origin.localhost:8787/', s.env());
    clients.push(c);
    c.send({ message: 'publishStream', data: [{ mediaSessionId: 'm1', name: 'cam', sdp: 'v=0' }] });
    await c.next('fail');
    c.close();
    await eventually(async () => (await s.log()).reports.length === 1, 3_000, 'the report via the Balancer');
    expect((await s.log()).reports).toEqual([{ sessionsOpened: 1, sessionsClosed: 1, framesIn: 1, framesOut: 1, rejected: { FAILED_PRECONDITION: 1 } }]);
  });
});
