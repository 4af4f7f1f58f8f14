/**
 * The workerd side of a WCS session: a WebSocketPair, the ping timer, the session's own link to
 * its node's agent (config.agentUrl; BRIDGE_URL while the node is unknown), the Balancer for
 * redirects, and the session's counters for that agent's /metrics. Everything else lives in the
 * runtime-free `WcsSession`.
 * Handlers stay synchronous; async work starts inside the session.
 */
import { Errors, type ErrorCode, type NodeInfo } from '../../protocol/index.ts';
import { authFor } from '../auth/index.ts';
import { balancerFor, balancerName, chooseEdge, nodeTable, pinnedEdge, placeOrigin } from '../balancer/index.ts';
import { connectBridge } from '../bridge-client/index.ts';
import { kickCoordinator } from '../coordinator/index.ts';
import { countDoRequest } from '../do-requests.ts';
import type { Config, Env } from '../env.ts';
import { createLogger } from '../log.ts';
import { ReportBatch, SessionReporter } from '../metrics/index.ts';
import { nodeAddress, signallingUrl, type UrlContext } from '../nodes/index.ts';
import { claimStream, originsOf, releaseStream } from '../streams/index.ts';
import { CLOSE_CODES, WcsSession, type EdgeRedirect, type PublishLock, type PublishPlace } from './session.ts';

export interface WcsSocketOptions {
  env: Env;
  config: Config;
  node: NodeInfo | undefined;
  nodeError?: { code: ErrorCode; message: string };
  loadBalancing: boolean;
  /** How the client reached the worker (for the redirect URL's style). */
  urlContext: UrlContext;
  /** Keeps the request alive for work that outlives the socket (the last counters report). */
  waitUntil?: ((promise: Promise<unknown>) => void) | undefined;
}

/** This isolate's batches of counters from sessions that never had a link, by the Balancer they go through. */
const batches: Record<string, ReportBatch> = {};

/** Accepts a WCS WebSocket and returns the 101 response. */
export function acceptWcsSocket(opts: WcsSocketOptions): Response {
  const { env, config } = opts;
  const pair = new WebSocketPair();
  const client = pair[0];
  const server = pair[1];
  server.accept();
  const sessionId = crypto.randomUUID();
  const log = createLogger({ unit: 'wcs', session: sessionId, node: opts.node?.id });
  // A session is for one node: every request it makes (publish, play, bind) is that node's, so its
  // one link goes to that node's agent. Without a node it never asks for media; its link (if any)
  // and its counters go to the default agent.
  const agentUrl = opts.node === undefined ? config.bridgeUrl : config.agentUrl(opts.node.id);
  // Counters go over the session's link; a session that never had one reports via the Balancer's
  // link to the same agent, so each agent's /metrics counts the sessions of its node.
  const reporter = new SessionReporter((report) => {
    const batch = (batches[balancerName(config.agents)] ??= new ReportBatch((url, r) => {
      countDoRequest('counters');
      return balancerFor(env, config.agents)
        .report(config.agents, url, r)
        .catch((err: unknown) => log.debug('counters report dropped', { err }));
    }));
    opts.waitUntil?.(batch.add(agentUrl, report));
  });

  const session = new WcsSession(
    {
      send: (frame) => {
        reporter.counters.frameOut(frame);
        server.send(JSON.stringify(frame));
      },
      close: (code, reason) => server.close(code, reason),
      openBridge: (handlers) =>
        connectBridge({
          url: agentUrl,
          secret: config.bridgeSecret,
          agentNode: config.agentNodeOf(agentUrl),
          timeoutMs: config.bridgeRequestTimeoutMs,
          onEvent: handlers.onEvent,
          onClose: handlers.onClose,
          log,
        }).then((link) => {
          reporter.linkOpened(link);
          // A link to an origin's agent is a publish on its way: the coordinator (with agents) relays it.
          if (opts.node?.role === 'origin') kickCoordinator(env, log, opts.waitUntil);
          return link;
        }),
      chooseEdge: async (_stream, pinned): Promise<EdgeRedirect> => {
        if (pinned !== undefined) return pinnedRedirect(env, config, pinned, opts);
        const choice = chooseEdge(config.agents, await nodeTable(env, config.agents, { waitUntil: opts.waitUntil }));
        if (!choice.ok) return { ok: false, code: choice.code, reason: choice.reason };
        const node: NodeInfo = { ...choice.node, load: { ...choice.node.load } };
        return { ok: true, node, url: signallingUrl(node, opts.urlContext), ...nodeAddress(node.host) };
      },
      placePublish: (_stream, node, pinned) => placePublish(env, config, node, pinned, opts),
      publishLock: publishLock(env, config, opts, log),
      now: () => Date.now(),
      log,
    },
    {
      sessionId,
      node: opts.node,
      ...(opts.nodeError === undefined ? {} : { nodeError: opts.nodeError }),
      loadBalancing: opts.loadBalancing,
      pingTimeoutMs: config.pingTimeoutMs,
      auth: authFor(config.tokenKeys, log),
      limits: config.limits,
      relinkWindowMs: config.relinkWindowMs,
    },
  );

  const timer = setInterval(() => {
    session.tick();
    reporter.flush();
  }, config.pingIntervalMs);
  const finish = (): void => {
    clearInterval(timer);
    reporter.finish();
    session.handleClose();
  };
  server.addEventListener('message', (ev) => {
    reporter.counters.frameIn();
    const data: unknown = ev.data;
    if (typeof data === 'string') session.handleText(data);
    else session.handleBinary(binarySize(data));
  });
  server.addEventListener('close', (ev) => {
    finish();
    try {
      // Answer the client's close; 1005/1006 are not codes one may send.
      server.close(ev.code === 1005 || ev.code === 1006 ? CLOSE_CODES.NORMAL : ev.code, 'session closed');
    } catch {
      // Already closed (the runtime answered for us): nothing left to do.
    }
  });
  server.addEventListener('error', finish);
  return new Response(null, { status: 101, webSocket: client });
}

/** Where a publish asked on this session's node runs (the placement rule, ../balancer placeOrigin), as the session needs it. */
async function placePublish(env: Env, config: Config, here: NodeInfo, pinned: string | undefined, opts: Pick<WcsSocketOptions, 'urlContext' | 'waitUntil'>): Promise<PublishPlace> {
  const place = placeOrigin(config.agents, await nodeTable(env, config.agents, { waitUntil: opts.waitUntil }), here, pinned);
  if (!place.ok) return { here: false, ...place };
  if (place.here) return place;
  const node: NodeInfo = { ...place.node, load: { ...place.node.load } };
  return { here: false, ok: true, node, url: signallingUrl(node, opts.urlContext), ...nodeAddress(node.host) };
}

/** The CDN-wide publish lock through each stream's record, asked only when the topology has several origins. */
function publishLock(env: Env, config: Config, opts: Pick<WcsSocketOptions, 'waitUntil'>, log: ReturnType<typeof createLogger>): PublishLock {
  const held = new Set<string>();
  return {
    claim: async (stream, node, publishId) => {
      const view = await nodeTable(env, config.agents, { waitUntil: opts.waitUntil });
      if (await claimStream(env, originsOf(view.bridge === 'up' ? view.nodes : []), stream, node, publishId)) held.add(publishId);
    },
    release: (stream, publishId) => {
      if (held.delete(publishId)) releaseStream(env, stream, publishId, log, opts.waitUntil);
    },
  };
}

/** The edge a token pins a player to (the pinned-edge rule, ../balancer/policy.ts). */
async function pinnedRedirect(env: Env, config: Config, id: string, opts: Pick<WcsSocketOptions, 'urlContext' | 'waitUntil'>): Promise<EdgeRedirect> {
  const view = await nodeTable(env, config.agents, { waitUntil: opts.waitUntil });
  if (view.bridge !== 'up') return { ok: false, code: view.code, reason: Errors.bridgeUnavailable(view.reason).message };
  const pin = pinnedEdge(view.nodes, id);
  if (!pin.ok) return pin;
  const node: NodeInfo = { ...pin.node, load: { ...pin.node.load } };
  return { ok: true, node, url: signallingUrl(node, opts.urlContext), ...nodeAddress(node.host) };
}

/** The size of a binary message: workerd delivers a Blob (its types say ArrayBuffer). */
function binarySize(data: unknown): number | undefined {
  if (data instanceof Blob) return data.size;
  if (data instanceof ArrayBuffer || ArrayBuffer.isView(data)) return data.byteLength;
  return undefined;
}
