/**
 * The worker's HTTP face: /health, node resolution for the WCS WebSocket (host, path prefix,
 * unknown hosts), static pages and configuration errors.
 */
import { describe, expect, it } from 'vitest';
import { Scenario, callWorker, json, node, openWcs } from './testing.ts';

describe('GET /health', () => {
  it('with the bridge up and every node up answers 200 listing every node', async () => {
    const s = new Scenario('health-up');
    const resp = await callWorker('http://127.0.0.1:8787/health', {}, s.env());
    expect(resp.status).toBe(200);
    const body = await json(resp);
    expect(body).toMatchObject({ status: 'ok', bridge: 'up', mode: 'FEWESTCALLS', loadBalancing: true });
    expect(body).toHaveProperty('nodes', [
      { id: 'origin', role: 'origin', host: 'origin.localhost:8787', up: true, since: expect.any(Number), load: { publishers: 0, subscribers: 0 } },
      expect.objectContaining({ id: 'edge-1', role: 'edge', up: true }),
      expect.objectContaining({ id: 'edge-2', role: 'edge', up: true }),
    ]);
  });

  it('with a node down answers 503 "degraded" naming it, still listing every node', async () => {
    const s = new Scenario('health-degraded');
    await s.configure({ nodes: [node('origin', 'origin'), node('edge-1', 'edge', { up: false }), node('edge-2', 'edge')] });
    const resp = await callWorker('http://127.0.0.1:8787/health', {}, s.env());
    expect(resp.status).toBe(503);
    expect(await resp.json()).toMatchObject({ status: 'degraded', bridge: 'up', reason: 'down: edge-1', nodes: [{ id: 'origin' }, { id: 'edge-1', up: false }, { id: 'edge-2' }] });
  });

  it('with the bridge unreachable answers 503 JSON with bridge "down" and the reason', async () => {
    const s = new Scenario('health-no-bridge');
    const resp = await callWorker('http://127.0.0.1:8787/health', {}, { ...s.env(), BRIDGE_URL: 'http://127.0.0.1:9' });
    expect(resp.status).toBe(503);
    expect(resp.headers.get('content-type')).toContain('application/json');
    expect(await resp.json()).toMatchObject({ status: 'down', bridge: 'down', code: 'UNAVAILABLE', reason: expect.stringContaining('http://127.0.0.1:9/api is unreachable'), nodes: [] });
  });

  it('is served on node hosts too', async () => {
    const s = new Scenario('health-node-host');
    expect((await callWorker('http://edge-2.localhost:8787/health', {}, s.env())).status).toBe(200);
  });

  it('with an invalid BRIDGE_URL answers 500 naming the variable', async () => {
    const s = new Scenario('health-bad-config');
    const resp = await callWorker('http://127.0.0.1:8787/health', {}, { ...s.env(), BRIDGE_URL: 'bridge.local' });
    expect(resp.status).toBe(500);
    expect(await resp.json()).toMatchObject({ error: { code: 'FAILED_PRECONDITION', message: expect.stringContaining('BRIDGE_URL must be a URL') } });
  });
});

describe('the WCS WebSocket is resolved to a node', () => {
  it('by Host, case-insensitively, at "/" and at "/ws"', async () => {
    const s = new Scenario('route-host');
    for (const url of ['http://EDGE-1.LocalHost:8787/', 'http://edge-1.localhost:8787/ws']) {
      const c = await openWcs(url, s.env());
      expect(await c.connect()).toMatchObject({ node: 'edge-1' });
      c.close();
    }
  });

  it('by the Host header when it differs from the URL', async () => {
    const s = new Scenario('route-host-header');
    const c = await openWcs('http://127.0.0.1:8787/', s.env(), { Host: 'edge-2.localhost:8787' });
    expect(await c.connect()).toMatchObject({ node: 'edge-2' });
    c.close();
  });

  it('by the /node/<id> prefix, with or without /ws', async () => {
    const s = new Scenario('route-path');
    for (const url of ['http://127.0.0.1:8787/node/origin/ws', 'http://127.0.0.1:8787/node/origin/', 'http://127.0.0.1:8787/node/origin']) {
      const c = await openWcs(url, s.env());
      expect(await c.connect()).toMatchObject({ node: 'origin' });
      c.close();
    }
  });

  it('an unknown host is a 404 JSON naming the host and the node hosts', async () => {
    const s = new Scenario('route-unknown-host');
    const resp = await callWorker('http://edge-9.localhost:8787/', { headers: { Upgrade: 'websocket' } }, s.env());
    expect(resp.status).toBe(404);
    expect(await resp.json()).toEqual({
      error: {
        code: 'NOT_FOUND',
        message: 'no CDN node has the host "edge-9.localhost:8787" (node hosts: origin.localhost:8787, edge-1.localhost:8787, edge-2.localhost:8787; or use the path /node/<id>/ws)',
        retryable: false,
      },
    });
  });

  it('an unknown /node/<id> is a 404 naming the id', async () => {
    const s = new Scenario('route-unknown-id');
    const resp = await callWorker('http://127.0.0.1:8787/node/edge-9/ws', { headers: { Upgrade: 'websocket' } }, s.env());
    expect(resp.status).toBe(404);
    expect(await resp.json()).toMatchObject({ error: { message: 'no CDN node has the id "edge-9" (node ids: origin, edge-1, edge-2)' } });
  });

  it("the worker's own host is a 404 saying it is not a node", async () => {
    const s = new Scenario('route-worker-host');
    const resp = await callWorker('http://127.0.0.1:8787/ws', { headers: { Upgrade: 'websocket' } }, s.env());
    expect(resp.status).toBe(404);
    expect(await resp.json()).toMatchObject({ error: { message: expect.stringMatching(/^"127\.0\.0\.1:8787" is the worker's own host, not a node's signalling host/) } });
  });

  it('/ws without Upgrade is a 426 saying to use a WebSocket', async () => {
    const s = new Scenario('route-426');
    const resp = await callWorker('http://origin.localhost:8787/ws', {}, s.env());
    expect(resp.status).toBe(426);
    expect(await resp.json()).toMatchObject({ error: { code: 'UPGRADE_REQUIRED', message: expect.stringContaining('connect with a WebSocket') } });
  });
});

describe('static pages and other routes', () => {
  it('GET / without Upgrade serves the index page', async () => {
    const s = new Scenario('static-index');
    const resp = await callWorker('http://127.0.0.1:8787/', {}, s.env());
    expect(resp.status).toBe(200);
    expect(resp.headers.get('content-type')).toContain('text/html');
    expect(await resp.text()).toContain('<h1>Fanout</h1>');
  });

  it('a POST to an unknown path is a 404 JSON', async () => {
    const s = new Scenario('static-post');
    const resp = await callWorker('http://127.0.0.1:8787/nothing', { method: 'POST' }, s.env());
    expect(resp.status).toBe(404);
    expect(await resp.json()).toEqual({ error: { code: 'NOT_FOUND', message: 'no route for POST /nothing', retryable: false } });
  });
});
