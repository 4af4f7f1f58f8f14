/**
 * GET /status.json: the live dashboard's data (worker/public/status.html). The agents' view of
 * every node (health, load, player counts) and of every live stream (its edges, viewers per node,
 * bitrates from Janus's own statistics) with a short history of viewers, read through the
 * Balancer Durable Object, which merges every agent's answer and shares it among dashboards
 * polling at once.
 */
import { CdnError, Errors, type NodeInfo, type StreamInfo, type ViewerSample } from '../../protocol/index.ts';
import { balancerFor, downReason, freshNodeTable } from '../balancer/index.ts';
import { countDoRequest } from '../do-requests.ts';
import type { Config, Env } from '../env.ts';

export interface CdnStatus {
  status: 'ok' | 'degraded' | 'down';
  bridge: 'up' | 'down';
  reason?: string;
  mode: string | null;
  loadBalancing: boolean | null;
  nodes: NodeInfo[];
  streams: StreamInfo[];
  history: ViewerSample[];
  historyPeriodMs: number;
  /** Epoch ms of the bridge's answer (the worker's clock when the bridge is away). */
  at: number;
}

/** The dashboard's view; `httpStatus` is 200 when every node is up, else 503 (as /health). */
export async function cdnStatus(env: Env, config: Config): Promise<{ body: CdnStatus; httpStatus: number }> {
  const balancer = balancerFor(env, config.agents);
  const view = await freshNodeTable(env, config.agents);
  // With every agent away there is nothing to ask; otherwise the same links answer at once.
  if (view.bridge === 'up') countDoRequest('streams');
  const streams =
    view.bridge === 'down'
      ? new CdnError(view.code, view.reason)
      : await balancer.streams(config.agents).then(
          (r) => r,
          (err: unknown) => CdnError.from(err),
        );
  if (view.bridge === 'down' || streams instanceof CdnError) {
    const last = view.bridge === 'up' ? view : view.lastKnown;
    const reason = view.bridge === 'down' ? view.reason : streams instanceof CdnError ? streams.message : '';
    return {
      httpStatus: 503,
      body: {
        status: 'down',
        bridge: view.bridge,
        reason: Errors.bridgeUnavailable(reason).message,
        mode: last?.mode ?? null,
        loadBalancing: last?.loadBalancing ?? null,
        nodes: (last?.nodes ?? []).map((n) => ({ ...n, up: view.bridge === 'up' && n.up })),
        streams: [],
        history: [],
        historyPeriodMs: 0,
        at: Date.now(),
      },
    };
  }
  const reason = downReason(view);
  return {
    httpStatus: reason === undefined ? 200 : 503,
    body: {
      status: reason === undefined ? 'ok' : 'degraded',
      bridge: 'up',
      ...(reason === undefined ? {} : { reason }),
      mode: view.mode,
      loadBalancing: view.loadBalancing,
      nodes: view.nodes,
      streams: streams.streams,
      history: streams.history,
      historyPeriodMs: streams.historyPeriodMs,
      at: streams.at,
    },
  };
}
