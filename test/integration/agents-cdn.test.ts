/**
 * The CDN with one agent per Janus node (`npm start -- --agents`): the worker links each node's
 * sessions to that node's agent and its coordinator relays every stream from the origin's agent to
 * the edges' agents. Through the worker's WCS API with werift peers: publish on the origin, play on
 * each edge and through the origin's redirect; kill -9 of one agent and of every agent at once
 * while media flows: no status to any client, the WCS sockets stay open, video gaps stay under 1 s,
 * the restarted agents take their state back and unpublish still ends the players; a reset of the
 * coordination objects while media flows changes nothing a client sees; nothing is left on any
 * Janus node.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../harness/poll.ts';
import { Stack } from '../harness/stack.ts';
import { JanusInspector } from '../harness/janus-inspect.ts';
import { playWerift, publishWerift, WcsClient } from '../harness/wcs-client.ts';
import type { WeriftPublisher, WeriftSubscriber } from '../harness/werift-peer.ts';

const JANUS = { origin: 'ws://127.0.0.1:8188', 'edge-1': 'ws://127.0.0.1:8189', 'edge-2': 'ws://127.0.0.1:8190' } as const;
type NodeId = keyof typeof JANUS;
const NODE_IDS = Object.keys(JANUS) as NodeId[];
/** The contract: no viewer's video stops for more than this. */
const MAX_GAP_MS = 1000;

let stack: Stack;
const inspectors = new Map<NodeId, JanusInspector>();
const closers: Array<() => Promise<unknown>> = [];

function inspector(node: NodeId): JanusInspector {
  const i = inspectors.get(node);
  if (i === undefined) throw new Error(`no inspector for ${node}`);
  return i;
}

/** Every node's Fanout rooms and mountpoints (nothing once every stream ended). */
async function leftovers(): Promise<Record<NodeId, { rooms: number; mountpoints: number }>> {
  const out = {} as Record<NodeId, { rooms: number; mountpoints: number }>;
  for (const n of NODE_IDS) out[n] = { rooms: (await inspector(n).fanoutRooms()).length, mountpoints: (await inspector(n).fanoutMountpoints()).length };
  return out;
}

const CLEAN = Object.fromEntries(NODE_IDS.map((n) => [n, { rooms: 0, mountpoints: 0 }]));

/** Kills agents with SIGKILL and waits until the launcher has started each again (a new pid). */
async function killAgents(nodes: readonly NodeId[]): Promise<void> {
  const before = new Map(nodes.map((n) => [n, stack.agentPid(n)]));
  for (const pid of before.values()) process.kill(pid, 'SIGKILL');
  await eventually('every killed agent restarted', async () => nodes.every((n) => stack.agentPid(n) !== before.get(n)), (ok) => ok, 10_000, 50);
}

/** A live stream: its publisher on the origin and werift players on both edges. */
async function liveStream(name: string): Promise<{ origin: WcsClient; edges: WcsClient[]; pub: WeriftPublisher; publishId: string; subs: Array<{ sub: WeriftSubscriber; id: string }> }> {
  const origin = await WcsClient.connect('origin');
  closers.push(() => origin.close());
  const { pub, id: publishId } = await publishWerift(origin, name);
  closers.push(() => pub.close());
  const edges: WcsClient[] = [];
  const subs: Array<{ sub: WeriftSubscriber; id: string }> = [];
  for (const e of ['edge-1', 'edge-2'] as const) {
    const c = await WcsClient.connect(e);
    closers.push(() => c.close());
    const played = await playWerift(c, name);
    closers.push(() => played.sub.close());
    await played.sub.media({ audio: true, video: true, keyframe: true, timeoutMs: 10_000 });
    edges.push(c);
    subs.push(played);
  }
  return { origin, edges, pub, publishId, subs };
}

/** A player that asks the origin for `name`, is sent to an edge and plays there (audio, video, a keyframe). */
async function viewerViaOrigin(name: string): Promise<{ viaEdge: WcsClient; played: { sub: WeriftSubscriber; id: string } }> {
  const asked = await WcsClient.connect('origin');
  closers.push(() => asked.close());
  const redirected = await asked.playRedirect(name);
  const viaEdge = await WcsClient.connect(redirected.url);
  closers.push(() => viaEdge.close());
  const played = await playWerift(viaEdge, name);
  closers.push(() => played.sub.close());
  await played.sub.media({ audio: true, video: true, keyframe: true, timeoutMs: 10_000 });
  return { viaEdge, played };
}

/** Since `marks`: no status or `fail` to any client, every socket open, no video gap of `meters` over MAX_GAP_MS. */
function expectUntouched(across: string, clients: readonly WcsClient[], marks: readonly number[], meters: ReadonlyArray<{ stop(): number }>): void {
  const gaps = meters.map((m) => m.stop());
  console.log(`agents-cdn: video gaps across ${across} (ms) = ${JSON.stringify(gaps)}`);
  for (const g of gaps) expect(g).toBeLessThan(MAX_GAP_MS);
  for (const [i, c] of clients.entries()) {
    const told = c.received.slice(marks[i]).filter(({ frame }) => frame.message === 'notifyStreamStatusEvent' || frame.message === 'fail');
    expect(told.map((r) => JSON.stringify(r.frame)), `${c.node} was told something`).toEqual([]);
    expect(c.open).toBe(true);
  }
}

beforeAll(async () => {
  stack = await Stack.start({ env: { FANOUT_JANUS_ADMIN_PORT_OFFSET: '1000' } });
  const { janusApiSecret } = stack.secrets();
  for (const n of NODE_IDS) inspectors.set(n, await JanusInspector.connect(JANUS[n], janusApiSecret));
}, 120_000);

afterAll(async () => {
  for (const close of closers.reverse()) await close().catch(() => undefined);
  for (const i of inspectors.values()) await i.close().catch(() => undefined);
  await stack?.stop();
});

describe('one agent per node, coordinated by the worker', () => {
  it('a stream published on the origin plays on every edge and through the origin redirect; unpublish stops every player and leaves nothing', async () => {
    const name = `agents-${Date.now().toString(36)}`;
    const { origin, edges, publishId, subs } = await liveStream(name);
    // A player that asks the origin is sent to an edge, and plays there.
    const { viaEdge, played } = await viewerViaOrigin(name);

    await origin.end(publishId, 'publish', { name });
    for (const [c, id] of [...edges.map((e, i) => [e, subs[i]?.id ?? ''] as const), [viaEdge, played.id] as const]) await c.waitForStatus(id, 'STOPPED', { timeoutMs: 5000 });
    expect(await eventually('nothing left on any node', leftovers, (s) => JSON.stringify(s) === JSON.stringify(CLEAN), 10_000, 200)).toEqual(CLEAN);
  });

  it('kill -9 of an edge agent, then of every agent at once, while media flows: no status to any client, sockets open, video gaps under 1 s; afterwards unpublish still stops every player', async () => {
    const name = `agents-kill-${Date.now().toString(36)}`;
    const { origin, edges, publishId, subs } = await liveStream(name);
    const marks = [origin.mark(), ...edges.map((c) => c.mark())];
    const meters = subs.map((s) => s.sub.watchVideoGaps());

    await killAgents(['edge-1']);
    await new Promise((r) => setTimeout(r, 1500));
    await killAgents(NODE_IDS);
    await new Promise((r) => setTimeout(r, 3000));

    expectUntouched('the kills', [origin, ...edges], marks, meters);

    // The restarted agents took everything back: the session's unpublish reaches its publish, and the
    // coordinator's unrelay reaches each edge's copy.
    await origin.end(publishId, 'publish', { name });
    for (const [i, c] of edges.entries()) await c.waitForStatus(subs[i]?.id ?? '', 'STOPPED', { timeoutMs: 5000 });
    expect(await eventually('nothing left on any node', leftovers, (s) => JSON.stringify(s) === JSON.stringify(CLEAN), 10_000, 200)).toEqual(CLEAN);
  });

  it('the Balancer and Coordinator objects reset (storage and memory) while media flows: no status to any client, no gap over 1 s, viewers still join through the origin, and both rebuild from the agents (unpublish still stops every player through the Coordinator)', async () => {
    const name = `agents-reset-${Date.now().toString(36)}`;
    const { origin, edges, publishId, subs } = await liveStream(name);
    const marks = [origin.mark(), ...edges.map((c) => c.mark())];
    const meters = subs.map((s) => s.sub.watchVideoGaps());
    const { bridgeSecret } = stack.secrets();
    const worker = stack.info().workerUrl;

    const refused = await fetch(`${worker}/admin/reset`, { method: 'POST' });
    expect(refused.status).toBe(401);
    expect(await refused.json()).toMatchObject({ error: { code: 'UNAUTHENTICATED', message: expect.stringContaining('BRIDGE_SECRET') } });
    const reset = await fetch(`${worker}/admin/reset`, { method: 'POST', headers: { Authorization: `Bearer ${bridgeSecret}` } });
    expect(reset.status).toBe(200);
    expect(await reset.json()).toEqual({ reset: ['balancer', 'coordinator'] });

    // A viewer joins through the origin at once (the isolate's table serves it), and plays.
    const { viaEdge, played } = await viewerViaOrigin(name);
    // /health reads the rebuilt Balancer: every node up.
    await eventually('every node up after the reset', async () => (await fetch(`${worker}/health`)).status, (status) => status === 200, 10_000, 200);
    await new Promise((r) => setTimeout(r, 2000));

    expectUntouched('the reset', [origin, ...edges], marks, meters);

    // The Coordinator read the stream back from the origin's agent: its unrelay reaches every edge's copy.
    await origin.end(publishId, 'publish', { name });
    for (const [c, id] of [...edges.map((e, i) => [e, subs[i]?.id ?? ''] as const), [viaEdge, played.id] as const]) await c.waitForStatus(id, 'STOPPED', { timeoutMs: 5000 });
    expect(await eventually('nothing left on any node', leftovers, (s) => JSON.stringify(s) === JSON.stringify(CLEAN), 10_000, 200)).toEqual(CLEAN);
  });
});
