/**
 * The isolate's table of nodes through the worker: once it is warm, a viewer's join (an /lb
 * answer, a WCS session on the origin redirected to an edge, a WCS session on the edge, a WHEP
 * POST at the origin sent on with a 307) asks no Durable Object; the table is read again in the
 * background, about once per TABLE_REFRESH_MS however many viewers arrive; the choice is made in
 * the isolate, and a burst into one isolate is spread over the edges at once.
 */
import { describe, expect, it } from 'vitest';
import { OFFER_SDP, Scenario, callWorker, node, openWcs } from '../testing.ts';
import { doRequests } from '../do-requests.ts';
import { TABLE_REFRESH_MS } from './node-table.ts';

const ORIGIN = 'http://origin.localhost:8787';

async function lbNode(s: Scenario): Promise<string> {
  const resp = await callWorker(`${ORIGIN}/lb`, {}, s.env());
  expect(resp.status).toBe(200);
  const body: unknown = await resp.json();
  return String((body as { node: unknown }).node);
}

describe('the isolate\'s table of nodes', () => {
  it('joins make no Durable Object request once the table is warm; reads are background ones, one per refresh period at most', async () => {
    const s = new Scenario('table-joins');
    await s.configure({ mode: 'FEWESTCALLS', nodes: [node('origin', 'origin'), node('edge-1', 'edge'), node('edge-2', 'edge')] });
    await lbNode(s); // warms the table (one awaited read)
    const before = doRequests();
    const started = Date.now();
    const joins = 12;
    for (let i = 0; i < joins; i++) {
      switch (i % 4) {
        case 0:
          await lbNode(s);
          break;
        case 1: {
          // A WCS player at the origin, sent to an edge.
          const c = await openWcs(`${ORIGIN}/`, s.env());
          await c.connect();
          c.send({ message: 'playStream', data: [{ mediaSessionId: `p${i}`, name: 'cam1', published: false, hasVideo: true, hasAudio: true, status: 'PENDING', record: false, width: 0, height: 0, mediaProvider: 'WebRTC', sdp: OFFER_SDP, quality: null }] });
          expect(await c.nextData('redirect')).toMatchObject({ name: 'cam1' });
          c.close();
          break;
        }
        case 2: {
          // The WCS session at the edge (its host is looked up in the table).
          const c = await openWcs('http://edge-1.localhost:8787/', s.env());
          await c.connect();
          c.close();
          break;
        }
        case 3: {
          const resp = await callWorker(`${ORIGIN}/whep/cam1`, { method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: OFFER_SDP, redirect: 'manual' }, s.env());
          expect(resp.status).toBe(307);
          await resp.text();
          break;
        }
      }
    }
    const elapsed = Date.now() - started;
    const after = doRequests();
    expect(after['table-awaited'] - before['table-awaited']).toBe(0);
    expect(after['table-background'] - before['table-background']).toBeLessThanOrEqual(1 + Math.floor(elapsed / TABLE_REFRESH_MS));
    // Nor any other kind: the joins asked no Durable Object but the table's background reads.
    expect({ ...after, 'table-background': 0 }).toEqual({ ...before, 'table-background': 0 });
    // Nothing reached the stand-in bridge for these joins but the table's reads: no play was asked.
    expect(await s.requests('play')).toEqual([]);
  });

  it('FEWESTCALLS spreads a burst into one isolate at once: the table counts the players it sent', async () => {
    const s = new Scenario('table-burst');
    await s.configure({ mode: 'FEWESTCALLS', nodes: [node('origin', 'origin'), node('edge-1', 'edge'), node('edge-2', 'edge', { load: { publishers: 0, subscribers: 2 } })] });
    const picks = [];
    for (let i = 0; i < 6; i++) picks.push(await lbNode(s));
    // edge-1 takes the first two (it had 2 fewer), then they alternate.
    expect(picks.slice(0, 2)).toEqual(['edge-1', 'edge-1']);
    expect(picks.filter((p) => p === 'edge-1')).toHaveLength(4);
    expect(picks.filter((p) => p === 'edge-2')).toHaveLength(2);
  });

  it('ROUNDROBIN turns per isolate: consecutive players alternate over the edges', async () => {
    const s = new Scenario('table-rr');
    await s.configure({ mode: 'ROUNDROBIN', nodes: [node('origin', 'origin'), node('edge-1', 'edge'), node('edge-2', 'edge'), node('edge-3', 'edge')] });
    const picks = [];
    for (let i = 0; i < 6; i++) picks.push(await lbNode(s));
    expect(new Set(picks.slice(0, 3))).toEqual(new Set(['edge-1', 'edge-2', 'edge-3']));
    expect(picks.slice(3)).toEqual(picks.slice(0, 3));
  });
});
