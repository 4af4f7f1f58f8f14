/**
 * bridgeView: the Balancer's answer, or within VIEW_WAIT_MS a `down` view with the isolate's last
 * node list. The Balancer here is a stand-in stub whose `view` the test answers (or never does):
 * the real object's slowness cannot be produced on cue.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { NodeInfo } from '../../protocol/index.ts';
import type { AgentMap, Env } from '../env.ts';
import type { BridgeView } from './durable-object.ts';
import { bridgeView, VIEW_WAIT_MS } from './view.ts';

const node: NodeInfo = { id: 'edge-1', role: 'edge', host: 'edge-1.localhost:8787', up: true, since: 0, load: { publishers: 0, subscribers: 0 } };
const up: BridgeView = { bridge: 'up', mode: 'ROUNDROBIN', loadBalancing: true, nodes: [node], updatedAt: 1 };

/** One bridge at `url`, as AGENT_URLS unset gives. */
const agents = (url: string): AgentMap => ({ defaultUrl: url, byNode: {} });

/** An Env whose Balancer answers `view` with what `answer` returns. */
function envWith(answer: () => Promise<BridgeView>): Env {
  const stub = { view: answer };
  return { BALANCER: { idFromName: (name: string) => name, get: () => stub } } as unknown as Env;
}

describe('bridgeView', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('passes the Balancer\'s answer through', async () => {
    expect(await bridgeView(envWith(() => Promise.resolve(up)), agents('http://bridge-a'))).toEqual(up);
  });

  it('a Balancer that does not answer in time gives a down view with the last node list this isolate saw', async () => {
    await bridgeView(envWith(() => Promise.resolve(up)), agents('http://bridge-b'));
    vi.useFakeTimers();
    const pending = bridgeView(envWith(() => new Promise<BridgeView>(() => undefined)), agents('http://bridge-b'));
    await vi.advanceTimersByTimeAsync(VIEW_WAIT_MS);
    expect(await pending).toEqual({
      bridge: 'down',
      code: 'UNAVAILABLE',
      reason: `the balancer did not answer within ${VIEW_WAIT_MS} ms`,
      lastKnown: { mode: 'ROUNDROBIN', loadBalancing: true, nodes: [node], updatedAt: 1 },
    });
  });

  it('a failed Balancer call is a down view naming the failure, with no node list when the isolate never had one', async () => {
    const view = await bridgeView(envWith(() => Promise.reject(new Error('Network connection lost.'))), agents('http://bridge-c'));
    expect(view).toEqual({ bridge: 'down', code: 'UNAVAILABLE', reason: 'the balancer call failed: Network connection lost.', lastKnown: undefined });
  });
});
