/**
 * The workerd side of WHIP and WHEP: the Hono routes, the Balancer Durable Object for the node list
 * and the edge choice, one short bridge link per bridge request (sessions are bridge resources, so
 * closing it releases nothing), and the token check. The protocol itself is in ./handler.ts.
 */
import { Hono, type Context } from 'hono';
import { CdnError } from '../../protocol/index.ts';
import { authFor, denialResponse, permits, tokenOf, type TokenRequest } from '../auth/index.ts';
import { balancerFor } from '../balancer/index.ts';
import { connectBridge } from '../bridge-client/index.ts';
import { readConfig, type Env } from '../env.ts';
import { errorResponse } from '../http.ts';
import { createLogger } from '../log.ts';
import { CORS_HEADERS, handleWhipWhep, type AuthVerdict, type Protocol, type Route, type WhipDeps } from './handler.ts';

type AppContext = Context<{ Bindings: Env }>;

const log = createLogger({ unit: 'whip' });

/** The WHIP and WHEP routes, mounted by app.ts before the static pages. */
export const whipWhepRoutes = new Hono<{ Bindings: Env }>();

for (const protocol of ['whip', 'whep'] as const satisfies readonly Protocol[]) {
  whipWhepRoutes.all(`/${protocol}/:stream`, (c) => serve(c, { protocol, stream: c.req.param('stream') }));
  whipWhepRoutes.all(`/${protocol}/:stream/:id`, (c) => serve(c, { protocol, stream: c.req.param('stream'), resource: c.req.param('id') }));
  whipWhepRoutes.all(`/node/:node/${protocol}/:stream`, (c) => serve(c, { protocol, stream: c.req.param('stream'), pathNode: c.req.param('node') }));
  whipWhepRoutes.all(`/node/:node/${protocol}/:stream/:id`, (c) =>
    serve(c, { protocol, stream: c.req.param('stream'), resource: c.req.param('id'), pathNode: c.req.param('node') }),
  );
}

async function serve(c: AppContext, route: Route): Promise<Response> {
  let deps: WhipDeps;
  try {
    deps = depsFor(c.env, c.req.raw);
  } catch (err) {
    // A configuration error (readConfig names the variable): the client gets it with CORS.
    const e = CdnError.from(err);
    log.error('WHIP/WHEP request failed', { path: c.req.path, err: e.message });
    return errorResponse(e, CORS_HEADERS);
  }
  return handleWhipWhep(c.req.raw, route, deps);
}

function depsFor(env: Env, request: Request): WhipDeps {
  const config = readConfig(env);
  const balancer = balancerFor(env, config.bridgeUrl);
  return {
    nodes: async () => {
      const view = await balancer.view(config.bridgeUrl);
      if (view.bridge === 'up') return { ok: true, nodes: view.nodes, loadBalancing: view.loadBalancing };
      return { ok: false, error: new CdnError(view.code, view.reason) };
    },
    bridge: async (method, params) => {
      const link = await connectBridge({ url: config.bridgeUrl, secret: config.bridgeSecret, timeoutMs: config.bridgeRequestTimeoutMs, keepAliveMs: 0, log });
      try {
        return await link.request(method, params);
      } finally {
        link.close(`${method} done`);
      }
    },
    chooseEdge: async () => {
      const choice = await balancer.choose(config.bridgeUrl);
      return choice.ok ? { ok: true, node: choice.node } : { ok: false, code: choice.code, reason: choice.reason };
    },
    authorize: (req) => authorize(config.tokenKeys, request, req),
    iceServers: config.iceServers,
    workerHosts: config.workerHosts,
  };
}

/** A token from `Authorization: Bearer` (or `?token=`) that allows `req`; its `node` claim pins the edge. */
async function authorize(keys: readonly string[], request: Request, req: TokenRequest): Promise<AuthVerdict> {
  const auth = authFor(keys);
  if (!auth.required) return { ok: true };
  const now = Date.now();
  const verdict = await auth.verify(tokenOf(request), now);
  if (!verdict.ok) return { ok: false, response: denialResponse(verdict.denial, CORS_HEADERS) };
  const denial = verdict.claims === undefined ? undefined : permits(verdict.claims, req, now);
  if (denial !== undefined) return { ok: false, response: denialResponse(denial, CORS_HEADERS) };
  return { ok: true, pinnedNode: verdict.claims?.node };
}
