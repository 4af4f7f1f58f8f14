/**
 * The origin's load balancer through the worker: `GET /lb` answered by the Balancer Durable Object
 * from the stand-in bridge's node list, for every policy.
 */
import { abortAllDurableObjects } from 'cloudflare:test';
import { afterEach, describe, expect, it } from 'vitest';
import * as v from 'valibot';
import { NODE_REPORT_MS, NODE_STALE_MS } from '../../protocol/index.ts';
import { OFFER_SDP, Scenario, type WcsClient, callWorker, eventually, node, openWcs } from '../testing.ts';

const LB = 'http://origin.localhost:8787/lb';
const LbAnswer = v.object({ server: v.string(), ws: v.number(), wss: v.number(), url: v.string(), node: v.string(), policy: v.string() });

async function lb(s: Scenario, url = LB): Promise<v.InferOutput<typeof LbAnswer>> {
  const resp = await callWorker(url, {}, s.env());
  expect(resp.status).toBe(200);
  return v.parse(LbAnswer, await resp.json());
}
async function lbNodes(s: Scenario, count: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < count; i++) out.push((await lb(s)).node);
  return out;
}

const clients: WcsClient[] = [];
afterEach(() => {
  for (const c of clients.splice(0)) c.close();
});

describe('GET /lb answers the WCS load-balancer contract', () => {
  it('with {server, ws, wss} of the chosen edge, its full url, CORS and no caching', async () => {
    const s = new Scenario('lb-shape');
    await s.configure({ nodes: [node('origin', 'origin'), node('edge-1', 'edge', { load: { publishers: 0, subscribers: 3 } }), node('edge-2', 'edge')] });
    const resp = await callWorker(LB, {}, s.env());
    expect(resp.status).toBe(200);
    expect(resp.headers.get('access-control-allow-origin')).toBe('*');
    expect(resp.headers.get('cache-control')).toBe('no-store');
    expect(await resp.json()).toEqual({ server: 'edge-2.localhost', ws: 8787, wss: 8787, url: 'ws://edge-2.localhost:8787/', node: 'edge-2', policy: 'FEWESTCALLS' });
  });

  it('for production hosts without a port: ws 80, wss 443, and a wss url over https', async () => {
    const s = new Scenario('lb-prod');
    await s.configure({
      nodes: [node('origin', 'origin', { host: 'origin.cdn.example.com' }), node('edge-1', 'edge', { host: 'edge-1.cdn.example.com' })],
    });
    expect(await lb(s, 'https://origin.cdn.example.com/lb')).toEqual({
      server: 'edge-1.cdn.example.com',
      ws: 80,
      wss: 443,
      url: 'wss://edge-1.cdn.example.com/',
      node: 'edge-1',
      policy: 'FEWESTCALLS',
    });
  });

  it('echoes a valid ?stream= and refuses an invalid one with 400 naming the rule', async () => {
    const s = new Scenario('lb-stream');
    const ok = await callWorker(`${LB}?stream=cam1`, {}, s.env());
    expect(await ok.json()).toMatchObject({ stream: 'cam1' });
    const bad = await callWorker(`${LB}?stream=${encodeURIComponent('bad name')}`, {}, s.env());
    expect(bad.status).toBe(400);
    expect(bad.headers.get('access-control-allow-origin')).toBe('*');
    expect(await bad.json()).toEqual({ error: { code: 'INVALID_ARGUMENT', message: expect.stringMatching(/^stream: a stream name is 1-128 characters/), retryable: false } });
  });

  it('answers the CORS preflight with 204', async () => {
    const s = new Scenario('lb-preflight');
    const resp = await callWorker(LB, { method: 'OPTIONS', headers: { Origin: 'https://app.example', 'Access-Control-Request-Method': 'GET' } }, s.env());
    expect(resp.status).toBe(204);
    expect(resp.headers.get('access-control-allow-origin')).toBe('*');
    expect(resp.headers.get('access-control-allow-methods')).toContain('GET');
  });

  it('through /node/origin/lb on 127.0.0.1 gives a path-style url', async () => {
    const s = new Scenario('lb-path');
    expect((await lb(s, 'http://127.0.0.1:8787/node/origin/lb')).url).toBe('ws://127.0.0.1:8787/node/edge-1/ws');
  });

  it('on an edge host is a 404 pointing at the origin', async () => {
    const s = new Scenario('lb-on-edge');
    const resp = await callWorker('http://edge-1.localhost:8787/lb', {}, s.env());
    expect(resp.status).toBe(404);
    expect(await resp.json()).toMatchObject({ error: { code: 'NOT_FOUND', message: 'the load balancer is served by the origin (origin.localhost:8787/lb), not by edge-1' } });
  });

  it('on an unknown host is a 404 naming the host', async () => {
    const s = new Scenario('lb-unknown-host');
    const resp = await callWorker('http://nowhere.localhost:8787/lb', {}, s.env());
    expect(resp.status).toBe(404);
    expect(await resp.json()).toMatchObject({ error: { message: expect.stringContaining('no CDN node has the host "nowhere.localhost:8787"') } });
  });

  it('without load balancing sends players to the origin itself', async () => {
    const s = new Scenario('lb-off');
    await s.configure({ loadBalancing: false });
    expect(await lb(s)).toMatchObject({ node: 'origin', server: 'origin.localhost', policy: 'NONE' });
  });
});

describe('GET /lb with no edge to offer', () => {
  it('answers 503 with Retry-After and a JSON error naming the down edges', async () => {
    const s = new Scenario('lb-none');
    await s.configure({ nodes: [node('origin', 'origin'), node('edge-1', 'edge', { up: false }), node('edge-2', 'edge', { up: false })] });
    const resp = await callWorker(LB, {}, s.env());
    expect(resp.status).toBe(503);
    expect(resp.headers.get('retry-after')).toBe('5');
    expect(resp.headers.get('access-control-allow-origin')).toBe('*');
    expect(await resp.json()).toEqual({ error: { code: 'UNAVAILABLE', message: 'no healthy edge: edge-1 is down, edge-2 is down', retryable: true } });
  });

  it('answers 503 with Retry-After when the bridge is unreachable', async () => {
    const s = new Scenario('lb-no-bridge');
    const resp = await callWorker(LB, {}, { ...s.env(), BRIDGE_URL: 'http://127.0.0.1:9' });
    expect(resp.status).toBe(503);
    expect(resp.headers.get('retry-after')).toBe('5');
    expect(await resp.json()).toMatchObject({ error: { code: 'UNAVAILABLE', message: expect.stringContaining('http://127.0.0.1:9/api is unreachable') } });
  });
});

describe('the policies, as the Balancer applies them', () => {
  it('ROUNDROBIN walks the edges in turn', async () => {
    const s = new Scenario('lb-rr');
    await s.configure({ mode: 'ROUNDROBIN' });
    expect(await lbNodes(s, 5)).toEqual(['edge-1', 'edge-2', 'edge-1', 'edge-2', 'edge-1']);
  });

  it('ROUNDROBIN shares one position between /lb and WCS redirects', async () => {
    const s = new Scenario('lb-rr-shared');
    await s.configure({ mode: 'ROUNDROBIN' });
    expect((await lb(s)).node).toBe('edge-1');
    const c = await openWcs('http://origin.localhost:8787/', s.env());
    clients.push(c);
    await c.connect();
    c.send({ message: 'playStream', data: [{ mediaSessionId: 'p1', name: 'cam1', sdp: OFFER_SDP }] });
    expect(await c.nextData('redirect')).toMatchObject({ node: 'edge-2' });
    expect((await lb(s)).node).toBe('edge-1');
  });

  it('ROUNDROBIN\'s position is the isolate\'s: a restart of the Balancer object does not move it', async () => {
    const s = new Scenario('lb-rr-persist');
    await s.configure({ mode: 'ROUNDROBIN', nodes: [node('origin', 'origin'), node('edge-1', 'edge'), node('edge-2', 'edge'), node('edge-3', 'edge')] });
    expect(await lbNodes(s, 2)).toEqual(['edge-1', 'edge-2']);
    await abortAllDurableObjects();
    expect(await lbNodes(s, 2)).toEqual(['edge-3', 'edge-1']);
  });

  it('FEWESTCALLS picks the edge with the fewest subscribers', async () => {
    const s = new Scenario('lb-fewest');
    await s.configure({
      mode: 'FEWESTCALLS',
      nodes: [node('origin', 'origin'), node('edge-1', 'edge', { load: { publishers: 0, subscribers: 4 } }), node('edge-2', 'edge', { load: { publishers: 9, subscribers: 1 } })],
    });
    expect(await lbNodes(s, 3)).toEqual(['edge-2', 'edge-2', 'edge-2']);
  });

  it('LESS_LOADED_NODE picks the smallest publishers + subscribers', async () => {
    const s = new Scenario('lb-less-loaded');
    await s.configure({
      mode: 'LESS_LOADED_NODE',
      nodes: [node('origin', 'origin'), node('edge-1', 'edge', { load: { publishers: 0, subscribers: 4 } }), node('edge-2', 'edge', { load: { publishers: 9, subscribers: 1 } })],
    });
    expect(await lbNodes(s, 3)).toEqual(['edge-1', 'edge-1', 'edge-1']);
  });

  it('RANDOM reaches every healthy edge and never a down one', async () => {
    const s = new Scenario('lb-random');
    await s.configure({ mode: 'RANDOM', nodes: [node('origin', 'origin'), node('edge-1', 'edge'), node('edge-2', 'edge'), node('edge-3', 'edge', { up: false })] });
    const picks = await lbNodes(s, 40);
    expect(new Set(picks)).toEqual(new Set(['edge-1', 'edge-2']));
  });

  it('skips an edge the bridge reports down in a node event, and takes it back when it is up', async () => {
    const s = new Scenario('lb-node-event');
    await s.configure({ mode: 'ROUNDROBIN' });
    expect(await lbNodes(s, 2)).toEqual(['edge-1', 'edge-2']);
    await s.push({ event: 'node', node: node('edge-1', 'edge', { up: false, since: 5 }) });
    await eventually(async () => (await lbNodes(s, 3)).every((id) => id === 'edge-2'), 3_000, 'edge-1 skipped');
    await s.push({ event: 'node', node: node('edge-1', 'edge', { up: true, since: 6 }) });
    await eventually(async () => (await lbNodes(s, 2)).includes('edge-1'), 3_000, 'edge-1 back');
  });

  it('FEWESTCALLS follows load changes pushed in node events', async () => {
    const s = new Scenario('lb-load-event');
    await s.configure({ mode: 'FEWESTCALLS', nodes: [node('origin', 'origin'), node('edge-1', 'edge'), node('edge-2', 'edge', { load: { publishers: 0, subscribers: 2 } })] });
    expect((await lb(s)).node).toBe('edge-1');
    await s.push({ event: 'node', node: node('edge-1', 'edge', { load: { publishers: 0, subscribers: 7 } }) });
    await eventually(async () => (await lb(s)).node === 'edge-2', 3_000, 'edge-2 chosen');
  });
});

describe('POST /admin/reset', () => {
  const RESET = 'http://127.0.0.1:8787/admin/reset';

  it('is refused without the worker\'s BRIDGE_SECRET as bearer, naming what it needs', async () => {
    const s = new Scenario('admin-reset-refused');
    for (const headers of [{}, { Authorization: 'Bearer not-the-secret' }, { Authorization: 'Basic abc' }]) {
      const resp = await callWorker(RESET, { method: 'POST', headers }, s.env());
      expect(resp.status).toBe(401);
      expect(await resp.json()).toEqual({ error: { code: 'UNAUTHENTICATED', message: expect.stringContaining('BRIDGE_SECRET') as unknown, retryable: false } });
    }
  });

  it('?stream=NAME (repeatable) also resets those streams\' records; a bad name is a 400 naming the rule, and nothing is reset', async () => {
    const s = new Scenario('admin-reset-streams');
    const auth = { Authorization: `Bearer ${s.env().BRIDGE_SECRET ?? ''}` };
    const resp = await callWorker(`${RESET}?stream=cam1&stream=cam-2`, { method: 'POST', headers: auth }, s.env());
    expect(resp.status).toBe(200);
    expect(await resp.json()).toEqual({ reset: ['balancer', 'stream cam1', 'stream cam-2'] });
    const bad = await callWorker(`${RESET}?stream=${encodeURIComponent('no spaces')}`, { method: 'POST', headers: auth }, s.env());
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: { code: 'INVALID_ARGUMENT', message: expect.stringContaining('stream') as unknown } });
  });

  it('resets the Balancer (its agent links close, its stored lists go); /lb goes on from the isolate\'s table and /health reads the rebuilt object', async () => {
    const s = new Scenario('admin-reset');
    await s.configure({ mode: 'ROUNDROBIN' });
    expect((await lb(s)).node).toMatch(/^edge-/);
    const before = await s.log();
    const resp = await callWorker(RESET, { method: 'POST', headers: { Authorization: `Bearer ${s.env().BRIDGE_SECRET ?? ''}` } }, s.env());
    expect(resp.status).toBe(200);
    expect(await resp.json()).toEqual({ reset: ['balancer'] });
    await eventually(async () => (await s.log()).closed > before.closed, 3_000, 'the Balancer\'s link to the agent closed');
    expect((await lb(s)).node).toMatch(/^edge-/);
    const health = await callWorker('http://127.0.0.1:8787/health', {}, s.env());
    expect(health.status).toBe(200);
    expect((await s.log()).connections).toBeGreaterThan(before.connections);
  });
});

describe('node reports', () => {
  it('an agent that stops reporting (a hung agent, its link open) is down within NODE_STALE_MS, saying so; reporting again, it is up', async () => {
    const s = new Scenario('reports-stale');
    const Health = v.object({ bridge: v.optional(v.string()), reason: v.optional(v.string()) });
    type Seen = { status: number; body: v.InferOutput<typeof Health> };
    const health = async (): Promise<Seen> => {
      const r = await callWorker('http://127.0.0.1:8787/health', {}, s.env());
      return { status: r.status, body: v.parse(Health, await r.json()) };
    };
    expect((await health()).status).toBe(200);
    // Reports every NODE_REPORT_MS keep it up past NODE_STALE_MS.
    await new Promise((r) => setTimeout(r, NODE_STALE_MS + 500));
    expect((await health()).status).toBe(200);
    await s.configure({ reports: false });
    const silentAt = Date.now();
    let seen: Seen = { status: 0, body: {} };
    await eventually(async () => (seen = await health()).status === 503, NODE_STALE_MS + NODE_REPORT_MS + 1_000, 'down after its reports stopped');
    expect(Date.now() - silentAt).toBeLessThanOrEqual(NODE_STALE_MS + NODE_REPORT_MS + 500);
    expect(seen.body).toMatchObject({ bridge: 'down', reason: expect.stringContaining('sent no report for') as unknown });
    await s.configure({ reports: true });
    await eventually(async () => (await health()).status === 200, 5_000, 'up again once it reports');
  }, 20_000);
});
