/**
 * The WCS WebSocket API end to end through the real stack (worker + bridge + Janus in the test's
 * namespace): a Node WebSocket client, with werift as the media peer, connects to the origin,
 * publishes, asks the origin's load balancer, plays on the edge it names with media received,
 * stops and unpublishes, and every status it is sent is the right one.
 */
import * as v from 'valibot';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bridgeLoads, eventually, type NodeLoads } from '../harness/poll.ts';
import { Stack } from '../harness/stack.ts';
import { playWerift, publishWerift, WcsClient } from '../harness/wcs-client.ts';

const WORKER = 'http://127.0.0.1:8787';
const LbAnswer = v.object({ server: v.string(), ws: v.number(), wss: v.number(), url: v.string(), node: v.string() });

let stack: Stack;
const closers: Array<() => Promise<unknown>> = [];

beforeAll(async () => {
  stack = await Stack.start();
});

afterAll(async () => {
  for (const close of closers.reverse()) await close().catch(() => undefined);
  await stack?.stop();
});

const loads = (): Promise<NodeLoads> => bridgeLoads(stack);

describe('the WCS WebSocket API through the real stack', () => {
  it('connect, publish on the origin, /lb, play on the chosen edge with audio, video and a keyframe, stop, unpublish: every status right, nothing left', async () => {
    const name = `wcs-${Date.now().toString(36)}`;
    const origin = await WcsClient.connect('origin');
    closers.push(() => origin.close());
    expect(origin.sessionId).not.toBe('');

    const { pub, id: publishId } = await publishWerift(origin, name);
    closers.push(() => pub.close());

    // The origin's load balancer names a healthy edge, in the WCS shape.
    const res = await fetch(`${WORKER}/node/origin/lb?stream=${name}`, { signal: AbortSignal.timeout(3000) });
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    const lb = v.parse(LbAnswer, await res.json());
    expect(['edge-1', 'edge-2']).toContain(lb.node);
    expect(lb).toMatchObject({ server: `${lb.node}.localhost`, ws: 8787 });

    // A play asked of the origin itself is redirected to an edge.
    const asked = await origin.play(name);
    expect('redirect' in asked && ['edge-1', 'edge-2'].includes(asked.redirect.node)).toBe(true);

    const edge = await WcsClient.connect(lb.node);
    closers.push(() => edge.close());
    const { sub, id: playId } = await playWerift(edge, name);
    closers.push(() => sub.close());
    await sub.media({ audio: true, video: true, keyframe: true, timeoutMs: 10_000 });
    await eventually('the edge counts its player', loads, (l) => l[lb.node]?.subscribers === 1, 5000);

    edge.stop(playId, name);
    expect((await edge.waitForStatus(playId, 'STOPPED')).name).toBe(name);
    await eventually('the player is gone from the edge', loads, (l) => l[lb.node]?.subscribers === 0, 5000);

    origin.unpublish(publishId, name);
    const unpublished = await origin.waitForStatus(publishId, 'UNPUBLISHED');
    expect(unpublished).toMatchObject({ mediaSessionId: publishId, name });
    await eventually('nothing left on any node', loads, (all) => Object.values(all).every((l) => l.publishers === 0 && l.subscribers === 0), 5000);

    expect(origin.statuses(publishId).map((s) => s.status)).toEqual(['PUBLISHING', 'UNPUBLISHED']);
    expect(edge.statuses(playId).map((s) => s.status)).toEqual(['PLAYING', 'STOPPED']);
    expect([...origin.invalid, ...edge.invalid]).toEqual([]);
  });
});
