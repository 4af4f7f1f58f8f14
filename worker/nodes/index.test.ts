import { describe, expect, it } from 'vitest';
import type { NodeInfo } from '../../protocol/index.ts';
import { findNodeByHost, nodeAddress, notANodeMessage, parseHost, resolveTarget, signallingUrl } from './index.ts';

function n(id: string, role: 'origin' | 'edge', host: string): NodeInfo {
  return { id, role, host, up: true, since: 0, load: { publishers: 0, subscribers: 0 } };
}

const local = [n('origin', 'origin', 'origin.localhost:8787'), n('edge-1', 'edge', 'edge-1.localhost:8787'), n('edge-2', 'edge', 'edge-2.localhost:8787')];
const prod = [n('origin', 'origin', 'origin.cdn.example.com'), n('edge-1', 'edge', 'edge-1.cdn.example.com')];
const workerHosts = ['localhost', '127.0.0.1', '[::1]'];

describe('parseHost', () => {
  it('lower-cases and splits name and port', () => {
    expect(parseHost('Edge-1.LocalHost:8787')).toEqual({ host: 'edge-1.localhost:8787', hostname: 'edge-1.localhost', port: 8787 });
  });
  it('treats :80 and :443 as no port, and drops a trailing dot', () => {
    expect(parseHost('edge-1.cdn.example.com:443')?.host).toBe('edge-1.cdn.example.com');
    expect(parseHost('edge-1.cdn.example.com.:80')?.host).toBe('edge-1.cdn.example.com');
  });
  it('accepts bracketed IPv6', () => {
    expect(parseHost('[::1]:8787')).toEqual({ host: '[::1]:8787', hostname: '[::1]', port: 8787 });
  });
  it('rejects what is not a host', () => {
    expect(parseHost('')).toBeUndefined();
    expect(parseHost('a b')).toBeUndefined();
    expect(parseHost('host:99999')).toBeUndefined();
    expect(parseHost('evil/path')).toBeUndefined();
  });
});

describe('findNodeByHost', () => {
  it('matches the local host with its port, case-insensitively', () => {
    expect(findNodeByHost(local, 'EDGE-1.localhost:8787')?.id).toBe('edge-1');
  });
  it('matches a production host with no port, and with :443', () => {
    expect(findNodeByHost(prod, 'edge-1.cdn.example.com')?.id).toBe('edge-1');
    expect(findNodeByHost(prod, 'edge-1.cdn.example.com:443')?.id).toBe('edge-1');
  });
  it('falls back to the name alone when the port differs and one node has that name', () => {
    expect(findNodeByHost(local, 'edge-2.localhost:9999')?.id).toBe('edge-2');
  });
  it('does not guess between nodes that share a name on different ports', () => {
    const shared = [n('a', 'origin', '10.0.0.1:8001'), n('b', 'edge', '10.0.0.1:8002')];
    expect(findNodeByHost(shared, '10.0.0.1:8002')?.id).toBe('b');
    expect(findNodeByHost(shared, '10.0.0.1:9000')).toBeUndefined();
  });
  it('finds nothing for an unknown host', () => {
    expect(findNodeByHost(local, 'edge-9.localhost:8787')).toBeUndefined();
  });
});

describe('resolveTarget', () => {
  it('resolves a node host to that node, via the host', () => {
    expect(resolveTarget({ host: 'origin.localhost:8787', nodes: local, workerHosts })).toMatchObject({ kind: 'node', via: 'host', node: { id: 'origin' } });
  });
  it('prefers the /node/<id> path prefix over the host', () => {
    expect(resolveTarget({ host: '127.0.0.1:8787', pathNode: 'edge-2', nodes: local, workerHosts })).toMatchObject({ kind: 'node', via: 'path', node: { id: 'edge-2' } });
  });
  it('reports an unknown path node by id', () => {
    expect(resolveTarget({ host: '127.0.0.1:8787', pathNode: 'edge-7', nodes: local, workerHosts })).toEqual({ kind: 'unknown-node', id: 'edge-7' });
  });
  it('treats localhost, 127.0.0.1 and [::1] on any port as the worker itself', () => {
    for (const host of ['127.0.0.1:8787', 'localhost:8787', 'LOCALHOST', '[::1]:8787']) {
      expect(resolveTarget({ host, nodes: local, workerHosts })).toEqual({ kind: 'worker' });
    }
  });
  it('gives a node that uses a worker host name priority over the worker', () => {
    const single = [n('origin', 'origin', '127.0.0.1:8787')];
    expect(resolveTarget({ host: '127.0.0.1:8787', nodes: single, workerHosts })).toMatchObject({ kind: 'node', node: { id: 'origin' } });
  });
  it('reports any other host as unknown, keeping it as given', () => {
    expect(resolveTarget({ host: 'Nowhere.localhost:8787', nodes: local, workerHosts })).toEqual({ kind: 'unknown-host', host: 'Nowhere.localhost:8787' });
  });
});

describe('nodeAddress (the WCS load-balancer {server, ws, wss})', () => {
  it('with a port in the host: that port for both ws and wss', () => {
    expect(nodeAddress('edge-1.localhost:8787')).toEqual({ server: 'edge-1.localhost', ws: 8787, wss: 8787 });
  });
  it('without a port: ws 80 and wss 443', () => {
    expect(nodeAddress('edge-1.cdn.example.com')).toEqual({ server: 'edge-1.cdn.example.com', ws: 80, wss: 443 });
  });
});

describe('signallingUrl', () => {
  const edge = local[1] ?? n('edge-1', 'edge', 'edge-1.localhost:8787');
  it('addresses a node by its host at "/" for host-style clients', () => {
    expect(signallingUrl(edge, { secure: false, via: 'host', requestHost: 'origin.localhost:8787' })).toBe('ws://edge-1.localhost:8787/');
  });
  it('uses wss for clients that came over TLS', () => {
    expect(signallingUrl(n('edge-1', 'edge', 'edge-1.cdn.example.com'), { secure: true, via: 'host', requestHost: 'origin.cdn.example.com' })).toBe('wss://edge-1.cdn.example.com/');
  });
  it('keeps the path style for clients that used /node/<id>', () => {
    expect(signallingUrl(edge, { secure: false, via: 'path', requestHost: '127.0.0.1:8787' })).toBe('ws://127.0.0.1:8787/node/edge-1/ws');
  });
});

describe('notANodeMessage', () => {
  it('names the unknown host and lists the node hosts', () => {
    const msg = notANodeMessage({ kind: 'unknown-host', host: 'x.localhost:8787' }, local, 'x.localhost:8787');
    expect(msg).toContain('"x.localhost:8787"');
    expect(msg).toContain('origin.localhost:8787, edge-1.localhost:8787, edge-2.localhost:8787');
  });
  it('names an unknown node id and lists the ids', () => {
    expect(notANodeMessage({ kind: 'unknown-node', id: 'edge-7' }, local, '127.0.0.1')).toBe('no CDN node has the id "edge-7" (node ids: origin, edge-1, edge-2)');
  });
});
