/** GET /status.json: the dashboard's data through the worker, from the stand-in bridge. */
import { describe, expect, it } from 'vitest';
import type { StreamInfo } from '../../protocol/index.ts';
import { Scenario, callWorker, node } from '../testing.ts';

const STREAM: StreamInfo = {
  name: 'cam1',
  origin: 'origin',
  since: 1_700_000_000_000,
  publishing: true,
  bitrateIn: { audio: 32_000, video: 480_000 },
  cascadeReadyMs: 35,
  viewers: 3,
  nodes: [
    { node: 'origin', role: 'origin', state: 'ready', viewers: 0 },
    { node: 'edge-1', role: 'edge', state: 'ready', viewers: 2, bitrateOut: { audio: 64_000, video: 960_000 } },
    { node: 'edge-2', role: 'edge', state: 'ready', viewers: 1 },
  ],
};

describe('GET /status.json', () => {
  it('has every node with health and load, every live stream with its nodes, viewers and bitrates, and the viewer history', async () => {
    const s = new Scenario('status-ok');
    await s.configure({
      nodes: [node('origin', 'origin', { load: { publishers: 1, subscribers: 0 } }), node('edge-1', 'edge', { load: { publishers: 0, subscribers: 2 } }), node('edge-2', 'edge')],
      streams: [STREAM],
    });
    const resp = await callWorker('http://127.0.0.1:8787/status.json', {}, s.env());
    expect(resp.status).toBe(200);
    expect(resp.headers.get('cache-control')).toBe('no-store');
    const body = (await resp.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ status: 'ok', bridge: 'up', mode: 'FEWESTCALLS', loadBalancing: true, streams: [STREAM], historyPeriodMs: 2000 });
    expect(body['nodes']).toEqual([
      expect.objectContaining({ id: 'origin', up: true, load: { publishers: 1, subscribers: 0 } }),
      expect.objectContaining({ id: 'edge-1', up: true, load: { publishers: 0, subscribers: 2 } }),
      expect.objectContaining({ id: 'edge-2', up: true }),
    ]);
    expect(body['history']).toEqual([{ t: expect.any(Number), viewers: 3, streams: 1 }]);
  });

  it('with a node down is 503 "degraded" naming it, and still lists the streams', async () => {
    const s = new Scenario('status-degraded');
    await s.configure({ nodes: [node('origin', 'origin'), node('edge-1', 'edge', { up: false })], streams: [STREAM] });
    const resp = await callWorker('http://127.0.0.1:8787/status.json', {}, s.env());
    expect(resp.status).toBe(503);
    expect(await resp.json()).toMatchObject({ status: 'degraded', reason: 'down: edge-1', streams: [STREAM] });
  });

  it('with the bridge unreachable is 503 "down" with the reason and no streams', async () => {
    const s = new Scenario('status-down');
    const resp = await callWorker('http://127.0.0.1:8787/status.json', {}, { ...s.env(), BRIDGE_URL: 'http://127.0.0.1:9' });
    expect(resp.status).toBe(503);
    expect(resp.headers.get('retry-after')).toBe('5');
    const body = (await resp.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ status: 'down', bridge: 'down', streams: [], history: [] });
    expect(String(body['reason'])).toMatch(/^the bridge is unavailable: /);
  });
});
