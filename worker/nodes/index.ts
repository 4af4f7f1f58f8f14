/**
 * Node addressing: which Janus node a request is for, and how a browser reaches a node.
 * Pure functions over the bridge's node list.
 *
 * Resolution order:
 *   1. a path prefix `/node/<id>/...` (for clients that cannot set a Host header);
 *   2. the Host header against each node's public host, case-insensitively: first an exact
 *      `name[:port]` match (":80" and ":443" count as no port), then the name alone when exactly one
 *      node has it (so `edge-1.cdn.example.com:443` finds `edge-1.cdn.example.com`);
 *   3. the worker's own hosts (localhost, 127.0.0.1, [::1], WORKER_HOSTS): static pages and /health;
 *   4. anything else is an unknown host.
 *
 * The WCS load-balancer address of a node (`{server, ws, wss}`): `server` is the host name without
 * the port; with a port in the node's host, both `ws` and `wss` are that port (one listener serves
 * the node; TLS, if any, terminates in front of it); without one, `ws` is 80 and `wss` is 443.
 */
import { CdnError, type NodeInfo } from '../../protocol/index.ts';

export interface HostParts {
  /** Lower-cased `name[:port]` without a default port. */
  host: string;
  hostname: string;
  port: number | undefined;
}

export type Target =
  | { kind: 'node'; node: NodeInfo; via: 'host' | 'path' }
  | { kind: 'worker' }
  | { kind: 'unknown-host'; host: string }
  | { kind: 'unknown-node'; id: string };

export interface ResolveInput {
  /** The request's Host header (or URL host). */
  host: string;
  /** The `<id>` of a `/node/<id>/...` path, when the request used one. */
  pathNode?: string | undefined;
  nodes: readonly NodeInfo[];
  /** Host names (no port) that belong to the worker itself. */
  workerHosts: readonly string[];
}

export interface NodeAddress {
  server: string;
  ws: number;
  wss: number;
}

/** Splits a Host header into name and port, lower-cased; undefined when it is not a host. */
export function parseHost(raw: string): HostParts | undefined {
  const text = raw.trim().toLowerCase();
  const m = /^(\[[0-9a-f:.]+\]|[a-z0-9_.-]+?)\.?(?::(\d{1,5}))?$/.exec(text);
  if (m === null || m[1] === undefined || m[1] === '') return undefined;
  const hostname = m[1];
  let port = m[2] === undefined ? undefined : Number(m[2]);
  if (port !== undefined && (port < 1 || port > 65535)) return undefined;
  if (port === 80 || port === 443) port = undefined;
  return { host: port === undefined ? hostname : `${hostname}:${port}`, hostname, port };
}

/** The node whose public host is `host`, if any (see the module header for the rule). */
export function findNodeByHost(nodes: readonly NodeInfo[], host: string): NodeInfo | undefined {
  const want = parseHost(host);
  if (want === undefined) return undefined;
  const parsed = nodes.flatMap((node) => {
    const p = parseHost(node.host);
    return p === undefined ? [] : [{ node, p }];
  });
  const exact = parsed.find(({ p }) => p.host === want.host);
  if (exact !== undefined) return exact.node;
  const byName = parsed.filter(({ p }) => p.hostname === want.hostname);
  return byName.length === 1 ? byName[0]?.node : undefined;
}

/** True when `host` is one of the worker's own host names (any port). */
export function isWorkerHost(host: string, workerHosts: readonly string[]): boolean {
  const parts = parseHost(host);
  return parts !== undefined && workerHosts.includes(parts.hostname);
}

/** Which node (or the worker itself) a request is for. */
export function resolveTarget(input: ResolveInput): Target {
  if (input.pathNode !== undefined) {
    const id = input.pathNode.toLowerCase();
    const node = input.nodes.find((n) => n.id === id);
    return node === undefined ? { kind: 'unknown-node', id: input.pathNode } : { kind: 'node', node, via: 'path' };
  }
  const node = findNodeByHost(input.nodes, input.host);
  if (node !== undefined) return { kind: 'node', node, via: 'host' };
  if (isWorkerHost(input.host, input.workerHosts)) return { kind: 'worker' };
  return { kind: 'unknown-host', host: input.host };
}

/** The WCS load-balancer address of a node's public host. */
export function nodeAddress(host: string): NodeAddress {
  const parts = parseHost(host);
  if (parts === undefined) return { server: host, ws: 80, wss: 443 };
  return { server: parts.hostname, ws: parts.port ?? 80, wss: parts.port ?? 443 };
}

export interface UrlContext {
  /** The client reached the worker over TLS (https/wss). */
  secure: boolean;
  /** How the client addressed the node it asked: by host, or by `/node/<id>` on `requestHost`. */
  via: 'host' | 'path';
  /** The Host the client used (for path-style URLs). */
  requestHost: string;
}

/** The WebSocket URL a client should use for `node`, in the same addressing style it used. */
export function signallingUrl(node: NodeInfo, ctx: UrlContext): string {
  const scheme = ctx.secure ? 'wss' : 'ws';
  if (ctx.via === 'path') return `${scheme}://${ctx.requestHost}/node/${node.id}/ws`;
  return `${scheme}://${node.host.toLowerCase()}/`;
}

/** The NOT_FOUND for a target that is not a node (notANodeMessage says what was asked and what exists). */
export function notANode(target: Exclude<Target, { kind: 'node' }>, nodes: readonly NodeInfo[], host: string): CdnError {
  return new CdnError('NOT_FOUND', notANodeMessage(target, nodes, host));
}

/** A 404 message for a target that is not a node, naming what was asked and what exists. */
export function notANodeMessage(target: Exclude<Target, { kind: 'node' }>, nodes: readonly NodeInfo[], host: string): string {
  const known = nodes.length === 0 ? 'the node list is empty' : `node hosts: ${nodes.map((n) => n.host).join(', ')}`;
  switch (target.kind) {
    case 'unknown-node':
      return `no CDN node has the id "${target.id}" (${nodes.length === 0 ? 'the node list is empty' : `node ids: ${nodes.map((n) => n.id).join(', ')}`})`;
    case 'unknown-host':
      return `no CDN node has the host "${target.host}" (${known}; or use the path /node/<id>/ws)`;
    case 'worker':
      return `"${host}" is the worker's own host, not a node's signalling host (${known}; or use the path /node/<id>/ws)`;
  }
}
