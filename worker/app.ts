/**
 * The worker's routes (Hono). Which node a request is for comes from the Host header or a
 * `/node/<id>` path prefix (see ./nodes); the node list comes from this isolate's table of nodes
 * (./balancer/node-table.ts), which the Balancer Durable Object fills.
 *
 *   GET /health                 any host: the agents' view of every node (200 all up, else 503), and
 *                               this isolate's Durable Object requests by kind
 *   GET /status.json            any host: /health plus live streams, viewers, bitrates, viewer history (the dashboard)
 *   POST /admin/reset[?stream=NAME...]  the operator (BRIDGE_SECRET as bearer): resets the Balancer and
 *                               Coordinator objects, and the records of the streams named
 *   GET /lb[?stream=NAME]       origin: the WCS load-balancer answer {server, ws, wss, url} (CORS);
 *                               with token keys configured it needs a play token (?token= or Bearer)
 *   GET / and /ws  (Upgrade)    a node: the WCS WebSocket API
 *   /node/<id>/, /node/<id>/ws, /node/<id>/lb   the same, for clients that cannot set a Host
 *   /whip/{stream}[/{id}], /whep/{stream}[/{id}] (and under /node/<id>)   WHIP and WHEP (./whip)
 *   anything else (GET/HEAD)    static pages (worker/public)
 */
import { Hono, type Context } from 'hono';
import { CdnError, Errors, RETRY_AFTER_SECONDS, type NodeInfo } from '../protocol/index.ts';
import { authFor, check, denialResponse, tokenOf } from './auth/index.ts';
import { balancerFor, chooseEdge, downReason, freshNodeTable, nodeTable, pinnedEdge, type BridgeView, type EdgeChoice } from './balancer/index.ts';
import { coordinatorFor, kickCoordinator } from './coordinator/index.ts';
import { doRequests, type DoRequestKind } from './do-requests.ts';
import { readConfig, type Config, type Env } from './env.ts';
import { checkStreamParam, corsMiddleware, errorResponse, waitUntilOf } from './http.ts';
import { clientAddress, sessionLimiter } from './limits/index.ts';
import { createLogger } from './log.ts';
import { nodeAddress, notANode, resolveTarget, signallingUrl } from './nodes/index.ts';
import { cdnStatus } from './status/index.ts';
import { acceptWcsSocket } from './wcs/index.ts';
import { streamRecordFor } from './streams/index.ts';
import { whipWhepRoutes } from './whip/index.ts';

type AppContext = Context<{ Bindings: Env }>;

const log = createLogger({ unit: 'http' });

export const app = new Hono<{ Bindings: Env }>();

/** The one place a thrown error becomes an HTTP answer (CORS, where a route has it, is added by its middleware). */
app.onError((err, c) => {
  const e = CdnError.from(err);
  if (e.code === 'INTERNAL' || e.code === 'FAILED_PRECONDITION') log.error('request failed', { path: c.req.path, err: e });
  return errorResponse(e);
});

// ---------------------------------------------------------------- health

app.get('/health', async (c) => {
  const config = readConfig(c.env);
  authFor(config.tokenKeys); // says loudly, once per isolate, when no token key is configured
  // With agents, the coordinator is started by the launcher's and operators' health checks too.
  kickCoordinator(c.env, log, (p) => c.executionCtx.waitUntil(p));
  // Health checks want the agents' latest word, not this isolate's table.
  const view = await freshNodeTable(c.env, config.agents);
  if (view.bridge === 'up') {
    // Up while any agent answers; the nodes of an agent that does not are listed down, each with why.
    const reason = downReason(view);
    const unreachable = view.unreachable ?? {};
    const nodes = view.nodes.map((n) => ({ ...healthNode(n), ...(unreachable[n.id] === undefined ? {} : { reason: unreachable[n.id] }) }));
    return c.json(
      { status: reason === undefined ? 'ok' : 'degraded', bridge: 'up', mode: view.mode, loadBalancing: view.loadBalancing, nodes, ...(reason === undefined ? {} : { reason }), isolate: isolateFigures() },
      reason === undefined ? 200 : 503,
      { 'Cache-Control': 'no-store' },
    );
  }
  // The worker reaches Janus only through the agents: with none answering, every node is down to it.
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
      isolate: isolateFigures(),
    },
    503,
    { 'Cache-Control': 'no-store', 'Retry-After': String(RETRY_AFTER_SECONDS) },
  );
});

app.get('/status.json', async (c) => {
  const { body, httpStatus } = await cdnStatus(c.env, readConfig(c.env));
  return c.json(body, httpStatus === 200 ? 200 : 503, { 'Cache-Control': 'no-store', ...(httpStatus === 200 ? {} : { 'Retry-After': String(RETRY_AFTER_SECONDS) }) });
});

/** What this worker isolate has asked of Durable Objects so far (./do-requests.ts), by why. */
function isolateFigures(): { durableObjectRequests: Record<DoRequestKind, number> } {
  return { durableObjectRequests: doRequests() };
}

function healthNode(n: NodeInfo): Pick<NodeInfo, 'id' | 'role' | 'host' | 'up' | 'since' | 'load'> {
  return { id: n.id, role: n.role, host: n.host, up: n.up, since: n.since, load: { publishers: n.load.publishers, subscribers: n.load.subscribers } };
}

// ---------------------------------------------------------------- operator

/**
 * POST /admin/reset (the worker's BRIDGE_SECRET as bearer): resets the coordination objects (the
 * Balancer and, with agents, the Coordinator), storage and all, as an eviction would and worse.
 * Nothing a client has depends on them: isolates keep serving from their tables, the agents and
 * Janus carry the media, and both objects rebuild from the agents. `?stream=NAME` (repeatable) also
 * resets those streams' records (each name's publish lock), which rebuild from the origins' agents
 * at their next claim. For an object that misbehaves, and to show that.
 */
app.post('/admin/reset', async (c) => {
  const config = readConfig(c.env);
  if (!(await isOperator(c.req.header('authorization'), config.bridgeSecret))) throw Errors.operatorOnly('/admin/reset');
  const coordinator = coordinatorFor(c.env);
  const objects: Array<{ name: string; reset(): Promise<void> }> = [
    { name: 'balancer', reset: () => balancerFor(c.env, config.agents).reset() },
    ...(coordinator === undefined ? [] : [{ name: 'coordinator', reset: () => coordinator.reset() }]),
    ...(c.req.queries('stream') ?? []).map((name) => {
      const stream = checkStreamParam(name);
      return { name: `stream ${stream}`, reset: () => streamRecordFor(c.env, stream).reset() };
    }),
  ];
  const reset: string[] = [];
  for (const o of objects) {
    await o.reset();
    reset.push(o.name);
  }
  log.warn('coordination objects reset by the operator', { reset });
  // With agents, the Coordinator is started again at once: it reads every agent back.
  kickCoordinator(c.env, log, (p) => c.executionCtx.waitUntil(p));
  return c.json({ reset }, 200, { 'Cache-Control': 'no-store' });
});

/** The bearer is the worker's own BRIDGE_SECRET (compared in constant time). */
async function isOperator(authorization: string | undefined, secret: string | undefined): Promise<boolean> {
  const m = /^Bearer (.+)$/.exec(authorization ?? '');
  if (m === null || m[1] === undefined || secret === undefined) return false;
  const enc = new TextEncoder();
  const [a, b] = await Promise.all([crypto.subtle.digest('SHA-256', enc.encode(m[1])), crypto.subtle.digest('SHA-256', enc.encode(secret))]);
  return crypto.subtle.timingSafeEqual(a, b);
}

// ---------------------------------------------------------------- load balancer

app.use('/lb', corsMiddleware);
app.use('/node/:node/lb', corsMiddleware);
app.get('/lb', (c) => loadBalancer(c, undefined));
app.get('/node/:node/lb', (c) => loadBalancer(c, c.req.param('node')));

async function loadBalancer(c: AppContext, pathNode: string | undefined): Promise<Response> {
  const query = c.req.query('stream');
  const stream = query === undefined ? undefined : checkStreamParam(query);
  const config = readConfig(c.env);
  const verdict = await check(authFor(config.tokenKeys), tokenOf(c.req.raw), { action: 'play', stream });
  if (!verdict.ok) return denialResponse(verdict.denial);
  const view = await nodeTable(c.env, config.agents, { waitUntil: waitUntilOf(c) });
  const nodes = nodesOf(view);
  if (nodes === undefined) throw Errors.bridgeUnavailable(view.bridge === 'down' ? view.reason : '');
  const host = requestHost(c);
  const target = resolveTarget({ host, pathNode, nodes, workerHosts: config.workerHosts });
  if (target.kind !== 'node') throw notANode(target, nodes, host);
  if (target.node.role !== 'origin') {
    const origin = nodes.find((n) => n.role === 'origin');
    throw new CdnError('NOT_FOUND', `the load balancer is served by the origin${origin === undefined ? '' : ` (${origin.host}/lb)`}, not by ${target.node.id}`);
  }
  const pinned = verdict.pinnedNode;
  const choice: EdgeChoice | { ok: true; node: NodeInfo; policy: 'TOKEN' } =
    pinned !== undefined && loadBalancingOf(view) ? tokenChoice(nodes, pinned) : chooseEdge(config.agents, view);
  if (!choice.ok && choice.code === 'PERMISSION_DENIED') return denialResponse({ code: 'PERMISSION_DENIED', reason: choice.reason });
  if (!choice.ok) throw new CdnError(choice.code === 'TIMEOUT' ? 'UNAVAILABLE' : choice.code, choice.reason);
  const node = choice.node;
  const url = signallingUrl(node, { secure: isSecure(c), via: target.via, requestHost: host });
  return c.json({ ...nodeAddress(node.host), url, node: node.id, policy: choice.policy, ...(stream === undefined ? {} : { stream }) }, 200, { 'Cache-Control': 'no-store' });
}

/** A play token that names an edge sends its player there (pinnedEdge), as policy TOKEN. */
function tokenChoice(nodes: readonly NodeInfo[], id: string): EdgeChoice | { ok: true; node: NodeInfo; policy: 'TOKEN' } {
  const pin = pinnedEdge(nodes, id);
  return pin.ok ? { ok: true, node: pin.node, policy: 'TOKEN' } : pin;
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
    return errorResponse(Errors.upgradeRequired('this is the WCS WebSocket endpoint: connect with a WebSocket (Upgrade: websocket)'), { Upgrade: 'websocket' });
  }
  const config = readConfig(c.env);
  const limit = config.limits.maxSessionsPerMinute;
  const waitS = sessionLimiter.take(clientAddress(c.req.raw.headers), limit, Date.now());
  if (waitS !== undefined) {
    return errorResponse(new CdnError('RESOURCE_EXHAUSTED', `too many new sessions from this address: the limit is ${limit} per minute; retry in ${waitS} s`), { 'Retry-After': String(waitS) });
  }
  const view = await nodeTable(c.env, config.agents, { waitUntil: waitUntilOf(c) });
  const host = requestHost(c);
  const urlContext = { secure: isSecure(c), via: pathNode === undefined ? ('host' as const) : ('path' as const), requestHost: host };
  const nodes = nodesOf(view);
  if (nodes === undefined) {
    // No node list at all (the bridge has never been reachable): the host cannot be checked. Accept
    // the session so the client learns why from its streams' FAILED info instead of a bare error.
    const worker = resolveTarget({ host, pathNode, nodes: [], workerHosts: config.workerHosts });
    if (worker.kind === 'worker') throw notANode(worker, [], host);
    const reason = view.bridge === 'down' ? view.reason : 'no node list';
    return acceptWcsSocket({
      env: c.env,
      config,
      node: undefined,
      nodeError: { code: view.bridge === 'down' ? view.code : 'UNAVAILABLE', message: Errors.bridgeUnavailable(reason).message },
      loadBalancing: false,
      urlContext,
      waitUntil: waitUntilOf(c),
    });
  }
  const target = resolveTarget({ host, pathNode, nodes, workerHosts: config.workerHosts });
  if (target.kind !== 'node') throw notANode(target, nodes, host);
  return acceptWcsSocket({
    env: c.env,
    config,
    node: target.node,
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
  throw new CdnError('NOT_FOUND', `no route for ${c.req.method} ${c.req.path}`);
});

// ---------------------------------------------------------------- helpers

function nodesOf(view: BridgeView): NodeInfo[] | undefined {
  return view.bridge === 'up' ? view.nodes : view.lastKnown?.nodes;
}

function loadBalancingOf(view: BridgeView): boolean {
  return view.bridge === 'up' ? view.loadBalancing : (view.lastKnown?.loadBalancing ?? false);
}

function requestHost(c: AppContext): string {
  return c.req.header('host') ?? new URL(c.req.url).host;
}

function isSecure(c: AppContext): boolean {
  return new URL(c.req.url).protocol === 'https:';
}

export type { Config };
