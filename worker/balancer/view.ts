/**
 * The agents' view of the nodes as a request handler gets it: the Balancer's answer, bounded in
 * time. The Balancer is one Durable Object every isolate asks; a call that is slow (the object
 * busy with a hung bridge, or being reset) must not stall a client's connect or a health check.
 * After VIEW_WAIT_MS, or on a failed call, the handler gets a `down` view whose `lastKnown` is the
 * last node list this isolate saw, so hosts still resolve and clients learn why from a clear error.
 */
import { errorText } from '../../protocol/index.ts';
import type { AgentMap, Env } from '../env.ts';
import { createLogger } from '../log.ts';
import { balancerFor, balancerName, type BridgeView, type NodesSnapshot } from './durable-object.ts';

/** How long a request waits for the Balancer's view. */
export const VIEW_WAIT_MS = 3_000;

const log = createLogger({ unit: 'balancer-view' });
/** The last node list this isolate got from the Balancer, by the Balancer's name. */
const lastKnown = new Map<string, NodesSnapshot>();

/** The Balancer's view of the nodes `agents` serve, or within VIEW_WAIT_MS a `down` view saying why. */
export async function bridgeView(env: Env, agents: AgentMap): Promise<BridgeView> {
  const name = balancerName(agents);
  const asked = balancerFor(env, agents)
    .view(agents)
    .then((view): BridgeView => {
      const known = view.bridge === 'up' ? snapshotOf(view) : view.lastKnown;
      if (known !== undefined) lastKnown.set(name, known);
      return view;
    });
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<BridgeView>((resolve) => {
    timer = setTimeout(() => {
      log.warn('the balancer did not answer in time; answering from the last node list', { waitMs: VIEW_WAIT_MS });
      resolve(down(name, `the balancer did not answer within ${VIEW_WAIT_MS} ms`));
    }, VIEW_WAIT_MS);
  });
  try {
    return await Promise.race([
      asked.catch((err: unknown) => {
        log.warn('the balancer call failed; answering from the last node list', { err: errorText(err) });
        return down(name, `the balancer call failed: ${errorText(err)}`);
      }),
      late,
    ]);
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
}

function down(name: string, reason: string): BridgeView {
  return { bridge: 'down', code: 'UNAVAILABLE', reason, lastKnown: lastKnown.get(name) };
}

function snapshotOf(view: Extract<BridgeView, { bridge: 'up' }>): NodesSnapshot {
  return {
    mode: view.mode,
    loadBalancing: view.loadBalancing,
    nodes: view.nodes,
    updatedAt: view.updatedAt,
    ...(view.unreachable === undefined ? {} : { unreachable: view.unreachable }),
  };
}
