/**
 * The workerd side of WHIP and WHEP: the Hono routes (with the one CORS configuration, which also
 * answers OPTIONS), the Balancer Durable Object for the node list and the edge choice, and one short
 * link per bridge request, to the agent of the node the request is for (config.agentUrl; sessions
 * are resources, so closing it releases nothing).
 * The protocol itself is in ./handler.ts; its errors become answers in app.ts's onError.
 *
 * While the bridge cannot be reached (a refused or timed-out connection, a link lost under the
 * request: a restart), a request fails with UNAVAILABLE naming the bridge, which the one error
 * answer (../http.ts errorResponse) turns into 503 with Retry-After. Sessions are resources, so they
 * are still there when it is back: no re-binding needed.
 */
import { Hono, type Context } from 'hono';
import { CdnError, Errors, type Method, type Params, type Result } from '../../protocol/index.ts';
import { authFor } from '../auth/index.ts';
import { chooseEdge, nodeTable, placeOrigin } from '../balancer/index.ts';
import { connectBridge, type BridgeClient } from '../bridge-client/index.ts';
import { kickCoordinator } from '../coordinator/index.ts';
import { readConfig, type Config, type Env } from '../env.ts';
import { corsMiddleware, waitUntilOf } from '../http.ts';
import { claimStream, originsOf, releaseStream } from '../streams/index.ts';
import { createLogger } from '../log.ts';
import { handleWhipWhep, optionsHeaders, type Protocol, type Route, type WhipDeps } from './handler.ts';

type AppContext = Context<{ Bindings: Env }>;

const log = createLogger({ unit: 'whip' });

/** The WHIP and WHEP routes, mounted by app.ts before the static pages. */
export const whipWhepRoutes = new Hono<{ Bindings: Env }>();

for (const protocol of ['whip', 'whep'] as const satisfies readonly Protocol[]) {
  for (const prefix of ['', '/node/:node']) {
    const endpoint = `${prefix}/${protocol}/:stream`;
    const session = `${endpoint}/:id`;
    // Set before the CORS middleware answers the preflight, so its 204 carries them.
    whipWhepRoutes.use(endpoint, async (c, next) => {
      if (c.req.method === 'OPTIONS') for (const [k, v] of Object.entries(optionsHeaders(false))) c.header(k, v);
      await next();
    });
    whipWhepRoutes.use(session, async (c, next) => {
      if (c.req.method === 'OPTIONS') for (const [k, v] of Object.entries(optionsHeaders(true))) c.header(k, v);
      await next();
    });
    whipWhepRoutes.use(endpoint, corsMiddleware);
    whipWhepRoutes.use(session, corsMiddleware);
    whipWhepRoutes.all(endpoint, (c) => serve(c, { protocol, stream: c.req.param('stream') ?? '', pathNode: c.req.param('node') }));
    whipWhepRoutes.all(session, (c) => serve(c, { protocol, stream: c.req.param('stream') ?? '', resource: c.req.param('id') ?? '', pathNode: c.req.param('node') }));
  }
}

function serve(c: AppContext, route: Route): Promise<Response> {
  return handleWhipWhep(c.req.raw, route, depsFor(c.env, waitUntilOf(c)));
}

/** One request to `url` (an agent) on a short link of its own (closing it releases nothing: sessions are resources). */
async function bridgeRequest<M extends Method>(config: Config, url: string, method: M, params: Params<M>): Promise<Result<M>> {
  let link: BridgeClient;
  try {
    link = await connectBridge({ url, secret: config.bridgeSecret, agentNode: config.agentNodeOf(url), timeoutMs: config.bridgeRequestTimeoutMs, keepAliveMs: 0, log });
  } catch (err) {
    const e = CdnError.from(err);
    // Not reachable (refused, or no handshake in time) is retryable: 503, not a 504 from the handshake.
    throw e.code === 'UNAVAILABLE' || e.code === 'TIMEOUT' ? Errors.bridgeUnavailable(e.message) : e;
  }
  try {
    return await link.request(method, params);
  } catch (err) {
    const e = CdnError.from(err);
    // The link went down under the request (the bridge restarting), as opposed to the bridge's own answer.
    throw link.closed && e.code === 'UNAVAILABLE' ? Errors.bridgeUnavailable(e.message) : e;
  } finally {
    link.close(`${method} done`);
  }
}

function depsFor(env: Env, waitUntil: ((p: Promise<unknown>) => void) | undefined): WhipDeps {
  const config = readConfig(env);
  return {
    nodes: async () => {
      const view = await nodeTable(env, config.agents, { waitUntil });
      if (view.bridge === 'up') return { ok: true, nodes: view.nodes, loadBalancing: view.loadBalancing };
      return { ok: false, error: new CdnError(view.code, view.reason) };
    },
    bridge: (node, method, params) => {
      // A WHIP publish: the coordinator (with agents) relays it.
      if (method === 'publish') kickCoordinator(env, log);
      return bridgeRequest(config, config.agentUrl(node), method, params);
    },
    chooseEdge: async () => {
      const choice = chooseEdge(config.agents, await nodeTable(env, config.agents, { waitUntil }));
      return choice.ok ? { ok: true, node: choice.node } : { ok: false, code: choice.code, reason: choice.reason };
    },
    placeOrigin: async (here, pinned) => placeOrigin(config.agents, await nodeTable(env, config.agents, { waitUntil }), here, pinned),
    claim: async (stream, node, publishId) => {
      const view = await nodeTable(env, config.agents, { waitUntil });
      return claimStream(env, originsOf(view.bridge === 'up' ? view.nodes : []), stream, node, publishId);
    },
    // Only with several origins was the name claimed (a WHIP session outlives the request that made it).
    release: (stream, publishId) => {
      const done = nodeTable(env, config.agents, { waitUntil }).then((view) => {
        if (originsOf(view.bridge === 'up' ? view.nodes : []).length > 1) releaseStream(env, stream, publishId, log, waitUntil);
      });
      waitUntil?.(done.catch(() => undefined));
    },
    auth: authFor(config.tokenKeys),
    iceServers: config.iceServers,
    workerHosts: config.workerHosts,
  };
}
