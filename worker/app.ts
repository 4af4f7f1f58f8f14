/**
 * The worker's routes (Hono). Which node a request is for comes from the Host header or a
 * `/node/<id>` path prefix (see ./nodes); the node list comes from the Balancer Durable Object.
 *
 *   GET /health                 any host: the bridge's view of every node (200 all up, else 503)
 *   GET /status.json            any host: /health plus live streams, viewers, bitrates, viewer history (the dashboard)
 *   GET /lb[?stream=NAME]       origin: the WCS load-balancer answer {server, ws, wss, url} (CORS);
 *                               with token keys configured it needs a play token (?token= or Bearer)
 *   GET / and /ws  (Upgrade)    a node: the WCS WebSocket API
 *   /node/<id>/, /node/<id>/ws, /node/<id>/lb   the same, for clients that cannot set a Host
 *   /whip/{stream}[/{id}], /whep/{stream}[/{id}] (and under /node/<id>)   WHIP and WHEP (./whip)
 *   anything else (GET/HEAD)    static pages (worker/public)
 */
import { Hono, type Context } from 'hono';
import * as v from 'valibot';
import { CdnError, StreamName, STREAM_NAME_RULE, type NodeInfo } from '../protocol/index.ts';
import { authFor, denialResponse, permits, tokenOf } from './auth/index.ts';
import { balancerFor, type BridgeView, type EdgeChoice } from './balancer/index.ts';
import { readConfig, type Config, type Env } from './env.ts';
import { errorResponse } from './http.ts';
import { clientAddress, sessionLimiter } from './limits/index.ts';
import { createLogger } from './log.ts';
import { nodeAddress, notANodeMessage, resolveTarget, signallingUrl } from './nodes/index.ts';
import { cdnStatus } from './status/index.ts';
import { acceptWcsSocket } from './wcs/index.ts';
import { whipWhepRoutes } from './whip/index.ts';

type AppContext = Context<{ Bindings: Env }>;

const log = createLogger({ unit: 'http' });

export const CORS_HEADERS: Readonly<Record<string, string>> = {
  'Access-Control-Allow-Origin': '*',
  'Access-Control-Allow-Methods': 'GET, OPTIONS',
  'Access-Control-Allow-Headers': '*',
  'Access-Control-Max-Age': '86400',
};

export const app = new Hono<{ Bindings: Env }>();

app.onError((err, c) => {
  const e = CdnError.from(err);
  if (e.code === 'INTERNAL') log.error('request failed', { path: c.req.path, err: e.message });
  return errorResponse(e);
});

// ---------------------------------------------------------------- health

app.get('/health', async (c) => {
  const config = readConfig(c.env);
  authFor(config.tokenKeys); // says loudly, once per isolate, when no token key is configured
  const view = await balancerFor(c.env, config.bridgeUrl).view(config.bridgeUrl);
  if (view.bridge === 'up') {
    const allUp = view.nodes.every((n) => n.up);
    return c.json(
      { status: allUp ? 'ok' : 'degraded', bridge: 'up', mode: view.mode, loadBalancing: view.loadBalancing, nodes: view.nodes.map(healthNode), ...(allUp ? {} : { reason: `down: ${view.nodes.filter((n) => !n.up).map((n) => n.id).join(', ')}` }) },
      allUp ? 200 : 503,
      { 'Cache-Control': 'no-store' },
    );
  }
  // The worker reaches Janus only through the bridge: with the bridge away, every node is down to it.
  const last = view.lastKnown;
  return c.json(
    {
      status: 'down',
      bridge: 'down',
      reason: view.reason,
      code: view.code,
      mode: last?.mode ?? null,
      loadBalancing: last?.loadBalancing ?? null,
      nodes: (last?.nodes ?? []).map((n) => healthNode({ ...n, up: false })),
    },
    503,
    { 'Cache-Control': 'no-store', 'Retry-After': '5' },
  );
});

app.get('/status.json', async (c) => {
  const { body, httpStatus } = await cdnStatus(c.env, readConfig(c.env));
  return c.json(body, httpStatus === 200 ? 200 : 503, { 'Cache-Control': 'no-store', ...(httpStatus === 200 ? {} : { 'Retry-After': '5' }) });
});

function healthNode(n: NodeInfo): Pick<NodeInfo, 'id' | 'role' | 'host' | 'up' | 'since' | 'load'> {
  return { id: n.id, role: n.role, host: n.host, up: n.up, since: n.since, load: { publishers: n.load.publishers, subscribers: n.load.subscribers } };
}

// ---------------------------------------------------------------- load balancer

const preflight = (): Response => new Response(null, { status: 204, headers: CORS_HEADERS });
app.options('/lb', preflight);
app.options('/node/:node/lb', preflight);
app.get('/lb', (c) => loadBalancer(c, undefined));
app.get('/node/:node/lb', (c) => loadBalancer(c, c.req.param('node')));

async function loadBalancer(c: AppContext, pathNode: string | undefined): Promise<Response> {
  const fail = (code: CdnError['code'], message: string): Response => errorResponse(new CdnError(code, message), CORS_HEADERS);
  const stream = c.req.query('stream');
  if (stream !== undefined && !v.is(StreamName, stream)) return fail('INVALID_ARGUMENT', `stream: ${STREAM_NAME_RULE}`);
  const config = readConfig(c.env);
  const auth = authFor(config.tokenKeys);
  let pinned: string | undefined;
  if (auth.required) {
    const now = Date.now();
    const verdict = await auth.verify(tokenOf(c.req.raw), now);
    if (!verdict.ok) return denialResponse(verdict.denial, CORS_HEADERS);
    const denial = verdict.claims === undefined ? undefined : permits(verdict.claims, { action: 'play', stream }, now);
    if (denial !== undefined) return denialResponse(denial, CORS_HEADERS);
    pinned = verdict.claims?.node;
  }
  const balancer = balancerFor(c.env, config.bridgeUrl);
  const view = await balancer.view(config.bridgeUrl);
  const nodes = nodesOf(view);
  if (nodes === undefined) return fail('UNAVAILABLE', `the bridge is unavailable: ${view.bridge === 'down' ? view.reason : ''}`);
  const host = requestHost(c);
  const target = resolveTarget({ host, pathNode, nodes, workerHosts: config.workerHosts });
  if (target.kind !== 'node') return fail('NOT_FOUND', notANodeMessage(target, nodes, host));
  if (target.node.role !== 'origin') {
    const origin = nodes.find((n) => n.role === 'origin');
    return fail('NOT_FOUND', `the load balancer is served by the origin${origin === undefined ? '' : ` (${origin.host}/lb)`}, not by ${target.node.id}`);
  }
  const choice = pinned !== undefined && loadBalancingOf(view) ? pinnedChoice(nodes, pinned) : await balancer.choose(config.bridgeUrl);
  if (!choice.ok && choice.code === 'PERMISSION_DENIED') return denialResponse({ code: 'PERMISSION_DENIED', reason: choice.reason }, CORS_HEADERS);
  if (!choice.ok) return fail(choice.code === 'UNAVAILABLE' || choice.code === 'TIMEOUT' ? 'UNAVAILABLE' : choice.code, choice.reason);
  const node = choice.node;
  const url = signallingUrl(node, { secure: isSecure(c), via: target.via, requestHost: host });
  return c.json(
    { ...nodeAddress(node.host), url, node: node.id, policy: choice.policy, ...(stream === undefined ? {} : { stream }) },
    200,
    { ...CORS_HEADERS, 'Cache-Control': 'no-store' },
  );
}

/** A play token that names an edge sends its player there (when it is up). */
function pinnedChoice(nodes: readonly NodeInfo[], id: string): EdgeChoice | { ok: true; node: NodeInfo; policy: 'TOKEN' } {
  const node = nodes.find((n) => n.id === id);
  if (node === undefined || node.role !== 'edge') return { ok: false, code: 'PERMISSION_DENIED', reason: `the token is for node ${id}, which is not an edge` };
  if (!node.up) return { ok: false, code: 'UNAVAILABLE', reason: `${id} (the token's node) is down` };
  return { ok: true, node, policy: 'TOKEN' };
}

// ---------------------------------------------------------------- WCS WebSocket

app.get('/', (c) => signalling(c, undefined, true));
app.get('/ws', (c) => signalling(c, undefined, false));
app.get('/node/:node', (c) => signalling(c, c.req.param('node'), false));
app.get('/node/:node/', (c) => signalling(c, c.req.param('node'), false));
app.get('/node/:node/ws', (c) => signalling(c, c.req.param('node'), false));

async function signalling(c: AppContext, pathNode: string | undefined, pagesWithoutUpgrade: boolean): Promise<Response> {
  if (c.req.header('upgrade')?.toLowerCase() !== 'websocket') {
    if (pagesWithoutUpgrade) return c.env.ASSETS.fetch(c.req.raw);
    return errorResponse(new CdnError('INVALID_ARGUMENT', 'this is the WCS WebSocket endpoint: connect with a WebSocket (Upgrade: websocket)'), { Upgrade: 'websocket' }, 426);
  }
  const config = readConfig(c.env);
  const limit = config.limits.maxSessionsPerMinute;
  const waitS = sessionLimiter.take(clientAddress(c.req.raw.headers), limit, Date.now());
  if (waitS !== undefined) {
    return errorResponse(new CdnError('RESOURCE_EXHAUSTED', `too many new sessions from this address: the limit is ${limit} per minute; retry in ${waitS} s`), { 'Retry-After': String(waitS) });
  }
  const view = await balancerFor(c.env, config.bridgeUrl).view(config.bridgeUrl);
  const host = requestHost(c);
  const urlContext = { secure: isSecure(c), via: pathNode === undefined ? ('host' as const) : ('path' as const), requestHost: host };
  const nodes = nodesOf(view);
  if (nodes === undefined) {
    // No node list at all (the bridge has never been reachable): the host cannot be checked. Accept
    // the session so the client learns why from its streams' FAILED info instead of a bare error.
    const worker = resolveTarget({ host, pathNode, nodes: [], workerHosts: config.workerHosts });
    if (worker.kind === 'worker') return errorResponse(new CdnError('NOT_FOUND', notANodeMessage(worker, [], host)));
    const reason = view.bridge === 'down' ? view.reason : 'no node list';
    return acceptWcsSocket({
      env: c.env,
      config,
      node: undefined,
      nodeError: { code: view.bridge === 'down' ? view.code : 'UNAVAILABLE', message: `the bridge is unavailable: ${reason}` },
      originHost: undefined,
      loadBalancing: false,
      urlContext,
      waitUntil: waitUntilOf(c),
    });
  }
  const target = resolveTarget({ host, pathNode, nodes, workerHosts: config.workerHosts });
  if (target.kind !== 'node') return errorResponse(new CdnError('NOT_FOUND', notANodeMessage(target, nodes, host)));
  return acceptWcsSocket({
    env: c.env,
    config,
    node: target.node,
    originHost: nodes.find((n) => n.role === 'origin')?.host,
    loadBalancing: loadBalancingOf(view),
    urlContext,
    waitUntil: waitUntilOf(c),
  });
}

// ---------------------------------------------------------------- WHIP and WHEP (./whip)

app.route('/', whipWhepRoutes);

// ---------------------------------------------------------------- static pages

app.all('*', (c) => {
  if (c.req.method === 'GET' || c.req.method === 'HEAD') return c.env.ASSETS.fetch(c.req.raw);
  return errorResponse(new CdnError('NOT_FOUND', `no route for ${c.req.method} ${c.req.path}`));
});

// ---------------------------------------------------------------- helpers

function nodesOf(view: BridgeView): NodeInfo[] | undefined {
  return view.bridge === 'up' ? view.nodes : view.lastKnown?.nodes;
}

function loadBalancingOf(view: BridgeView): boolean {
  return view.bridge === 'up' ? view.loadBalancing : (view.lastKnown?.loadBalancing ?? false);
}

/** The request's waitUntil, where the runtime gives one (Hono throws when there is no execution context). */
function waitUntilOf(c: AppContext): ((promise: Promise<unknown>) => void) | undefined {
  try {
    const ctx = c.executionCtx;
    return (promise) => ctx.waitUntil(promise);
  } catch {
    return undefined;
  }
}

function requestHost(c: AppContext): string {
  return c.req.header('host') ?? new URL(c.req.url).host;
}

function isSecure(c: AppContext): boolean {
  return new URL(c.req.url).protocol === 'https:';
}

export type { Config };
