/**
 * Waiting for the real stack to reach a state: poll a probe until its value passes, or fail with
 * the last value seen. Shared by the integration suites.
 */
import * as v from 'valibot';
import type { Stack } from './stack.ts';

/** Polls `probe` until `ok` holds for its value; resolves with that value, or throws naming `what` and the last value. */
export async function eventually<T>(what: string, probe: () => Promise<T>, ok: (value: T) => boolean, ms = 10_000, intervalMs = 100): Promise<T> {
  const deadline = Date.now() + ms;
  let last = await probe();
  while (!ok(last)) {
    if (Date.now() > deadline) throw new Error(`${what}: still ${JSON.stringify(last)} after ${ms} ms`);
    await new Promise((r) => setTimeout(r, intervalMs));
    last = await probe();
  }
  return last;
}

const BridgeHealth = v.object({
  nodes: v.array(v.object({ id: v.string(), load: v.object({ publishers: v.number(), subscribers: v.number() }) })),
});

export type NodeLoads = Record<string, { publishers: number; subscribers: number }>;

/**
 * Publishers and subscribers per node, as the nodes' controllers count them (each agent's /health
 * reports its own node; the one bridge's reports every node).
 */
export async function bridgeLoads(stack: Stack | undefined): Promise<NodeLoads> {
  if (stack === undefined) throw new Error('no stack');
  const urls = [...new Set(Object.values(stack.info().agentUrls))];
  const healths = await Promise.all(
    urls.map(async (url) => {
      const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(2000) });
      return v.parse(BridgeHealth, await res.json()).nodes;
    }),
  );
  return Object.fromEntries(healths.flat().map((n) => [n.id, n.load]));
}
