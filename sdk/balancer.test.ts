import { describe, expect, it } from 'vitest';
import { nodeUrl, resolveServer, withToken, type FetchLike } from './balancer.ts';

describe('nodeUrl', () => {
  it('uses the full url when it has the current scheme', () => {
    expect(nodeUrl('ws://origin.localhost:8787/', { url: 'ws://edge-1.localhost:8787/', server: 'x', ws: 1 })).toBe('ws://edge-1.localhost:8787/');
  });
  it('builds <scheme>://server:port/ from the WCS fields, keeping wss for wss', () => {
    expect(nodeUrl('ws://o/', { server: 'edge-2.example.com', ws: 8080, wss: 8443 })).toBe('ws://edge-2.example.com:8080/');
    expect(nodeUrl('wss://o/', { server: 'edge-2.example.com', ws: 8080, wss: '8443', url: 'ws://edge-2.example.com:8080/' })).toBe(
      'wss://edge-2.example.com:8443/',
    );
  });
  it('is undefined for an address that names no node', () => {
    expect(nodeUrl('ws://o/', { server: '', ws: 1 })).toBeUndefined();
    expect(nodeUrl('ws://o/', { url: 'http://x/' })).toBeUndefined();
  });
});

describe('resolveServer', () => {
  const answer = (status: number, body: unknown): FetchLike => () => Promise.resolve({ ok: status < 300, status, json: () => Promise.resolve(body) });

  it('returns the node the load balancer names', async () => {
    expect(await resolveServer('ws://origin/', 'http://origin/lb', answer(200, { server: 'edge-1.localhost', ws: 8787, wss: 443 }))).toEqual({
      url: 'ws://edge-1.localhost:8787/',
    });
  });
  it('falls back to urlServer on an error status, naming it', async () => {
    expect(await resolveServer('ws://origin/', 'http://origin/lb', answer(503, {}))).toEqual({
      url: 'ws://origin/',
      fallback: 'the load balancer answered 503',
    });
  });
  it('falls back on an answer without server', async () => {
    const r = await resolveServer('ws://origin/', 'http://origin/lb', answer(200, { ws: 1 }));
    expect(r.url).toBe('ws://origin/');
    expect(r.fallback).toMatch(/not \{server, ws, wss\}/);
  });
  it('falls back after the timeout', async () => {
    const never: FetchLike = (_, init) =>
      new Promise((_r, reject) => init.signal.addEventListener('abort', () => reject(new Error('aborted'))));
    const t0 = Date.now();
    const r = await resolveServer('ws://origin/', 'http://origin/lb', never, 100);
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(r).toEqual({ url: 'ws://origin/', fallback: 'the load balancer failed: no answer within 100 ms' });
  });
});

describe('withToken', () => {
  it('adds ?token= (or &token=), encoded, before any fragment', () => {
    expect(withToken('http://o/lb', 'a.b')).toBe('http://o/lb?token=a.b');
    expect(withToken('http://o/lb?stream=cam1#x', 'a+b')).toBe('http://o/lb?stream=cam1&token=a%2Bb#x');
  });
  it('leaves the URL alone without a token or when it already has one', () => {
    expect(withToken('http://o/lb', undefined)).toBe('http://o/lb');
    expect(withToken('http://o/lb?token=mine', 'other')).toBe('http://o/lb?token=mine');
  });
});
