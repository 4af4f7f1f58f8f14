/**
 * Media outlives its controller, at the bridge API: a bridge killed with SIGKILL while publishers
 * and players are live, restarted by the launcher, claims every node's Janus session, takes back
 * each stream, cascade, mountpoint and player from its journal, and a new worker link `bind`s them
 * by the ids it named. Measured: the longest video gap at every player across the kill and the
 * restart, and the time from the restart to a successful bind. Real Janus (origin + 2 edges),
 * werift peers, the launcher without a worker; Janus's admin API counts sessions and handles.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { newMediaId, type Result } from '../../protocol/index.ts';
import { Browser } from '../harness/browser.ts';
import { BridgeClient, isPlayerEvent, isPublisherEvent } from '../harness/bridge-client.ts';
import { handleCounts, JanusAdmin, JanusInspector, type HandleCount } from '../harness/janus-inspect.ts';
import { Stack } from '../harness/stack.ts';
import { WeriftPublisher, WeriftSubscriber, type GapMeter } from '../harness/werift-peer.ts';

const JANUS_URLS = { origin: 'ws://127.0.0.1:8188', 'edge-1': 'ws://127.0.0.1:8189', 'edge-2': 'ws://127.0.0.1:8190' } as const;
type NodeId = keyof typeof JANUS_URLS;
const NODE_IDS = Object.keys(JANUS_URLS) as NodeId[];
const ADMIN_PORT_OFFSET = 1000;
const ADMIN_PORTS = Object.fromEntries(NODE_IDS.map((n) => [n, Number(new URL(JANUS_URLS[n]).port) + ADMIN_PORT_OFFSET])) as Record<NodeId, number>;
/** Short, so that the release of what nobody binds is seen within the test. */
const GRACE_MS = 4000;
const MAX_GAP_MS = 1000;

let stack: Stack;
let secrets: { bridgeSecret: string; janusApiSecret: string };
let client: BridgeClient;
const inspectors = new Map<NodeId, JanusInspector>();
const peers: Array<WeriftPublisher | WeriftSubscriber> = [];
const clients: BridgeClient[] = [];
let baseline: Record<NodeId, HandleCount>;
let browser: Browser | undefined;

beforeAll(async () => {
  stack = await Stack.start({
    bridge: true,
    worker: false,
    env: { FANOUT_JANUS_ADMIN_PORT_OFFSET: String(ADMIN_PORT_OFFSET), FANOUT_BRIDGE_OWNER_GRACE_MS: String(GRACE_MS) },
  });
  secrets = stack.secrets();
  client = await connect();
  await allUp(client);
  for (const node of NODE_IDS) inspectors.set(node, await JanusInspector.connect(JANUS_URLS[node], secrets.janusApiSecret));
  baseline = await handleCounts(ADMIN_PORTS, secrets.janusApiSecret);
});

afterEach(async () => {
  await Promise.all(peers.splice(0).map((p) => p.close()));
  await Promise.all(clients.splice(0).map((c) => c.close()));
});

afterAll(async () => {
  await browser?.close();
  for (const i of inspectors.values()) await i.close();
  await client?.close();
  await stack?.stop();
});

// ---------------------------------------------------------------- helpers

async function connect(): Promise<BridgeClient> {
  const c = await BridgeClient.connect(stack.info().bridgeUrl, secrets.bridgeSecret);
  clients.push(c);
  return c;
}

async function allUp(c: BridgeClient): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const { nodes } = await c.request('nodes', {});
    if (nodes.every((n) => n.up)) return;
    if (Date.now() > deadline) throw new Error(`nodes not up: ${JSON.stringify(nodes)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function publish(via: BridgeClient, name: string, resource = false): Promise<{ pub: WeriftPublisher; publishId: string }> {
  const pub = new WeriftPublisher();
  peers.push(pub);
  const publishId = newMediaId('pub');
  const r = await via.request('publish', { publishId, node: 'origin', stream: name, sdp: await pub.offer(), ...(resource ? { resource: true as const } : {}) });
  await pub.accept(r.sdp);
  if (!resource) await via.waitForEvent('PUBLISHING', isPublisherEvent(publishId, 'PUBLISHING'), { timeoutMs: 15_000 });
  return { pub, publishId };
}

async function play(via: BridgeClient, node: NodeId, name: string): Promise<{ sub: WeriftSubscriber; playId: string; answer: string }> {
  const playId = newMediaId('play');
  const deadline = Date.now() + 10_000;
  let r: Result<'play'> | undefined;
  // A play on an edge waits for the cascade there; right after the publish it may still be relaying.
  while (r === undefined) {
    try {
      r = await via.request('play', { playId, node, stream: name });
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((res) => setTimeout(res, 100));
    }
  }
  const sub = new WeriftSubscriber();
  peers.push(sub);
  const answer = await sub.answer(r.sdp);
  await via.request('answer', { playId, sdp: answer });
  await via.waitForEvent('PLAYING', isPlayerEvent(playId, 'PLAYING'), { timeoutMs: 15_000 });
  await sub.media({ video: true, keyframe: true, timeoutMs: 10_000 });
  return { sub, playId, answer };
}

/** Kills the bridge with SIGKILL and waits for the launcher's restart; returns when the new one was started. */
async function killBridge(): Promise<{ killedAt: number; restartedAt: number }> {
  const before = stack.output.split('bridge restarted').length;
  const killedAt = Date.now();
  process.kill(stack.pidOf('bridge'), 'SIGKILL');
  const deadline = Date.now() + 10_000;
  while (stack.output.split('bridge restarted').length === before) {
    if (Date.now() > deadline) throw new Error(`the bridge was not restarted:\n${stack.output.slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return { killedAt, restartedAt: Date.now() };
}

/** A new link, as soon as the restarted bridge accepts one. */
async function reconnect(timeoutMs = 10_000): Promise<BridgeClient> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await connect();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

async function fanoutState(): Promise<Record<NodeId, { rooms: number; mountpoints: number }>> {
  const out = {} as Record<NodeId, { rooms: number; mountpoints: number }>;
  for (const n of NODE_IDS) {
    const i = inspectors.get(n)!;
    out[n] = { rooms: (await i.fanoutRooms()).length, mountpoints: (await i.fanoutMountpoints()).length };
  }
  return out;
}

async function expectClean(timeoutMs = 8000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const empty = Object.fromEntries(NODE_IDS.map((n) => [n, { rooms: 0, mountpoints: 0 }]));
  for (;;) {
    const [state, counts] = [await fanoutState(), await handleCounts(ADMIN_PORTS, secrets.janusApiSecret)];
    if (JSON.stringify(state) === JSON.stringify(empty) && JSON.stringify(counts) === JSON.stringify(baseline)) return;
    if (Date.now() > deadline) {
      expect(state).toEqual(empty);
      expect(counts).toEqual(baseline);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

// ---------------------------------------------------------------- tests

describe('kill -9 of the bridge', () => {
  it('publishers and players on every node keep their media (gap < 1 s), the restarted bridge takes them back, a new link binds them and gets their events; nothing leaks', async () => {
    const a = await connect();
    const name = `adopt-${Date.now()}`;
    const { publishId } = await publish(a, name);
    const players = [await play(a, 'origin', name), await play(a, 'edge-1', name), await play(a, 'edge-2', name)];
    const meters: GapMeter[] = players.map((p) => p.sub.watchVideoGaps());
    const events = a.mark();

    const { killedAt, restartedAt } = await killBridge();
    const b = await reconnect();
    const ids = [publishId, ...players.map((p) => p.playId)];
    const bound = await b.request('bind', { ids });
    const boundAt = Date.now();
    expect(bound).toEqual({ bound: ids, gone: [] });
    // An answer whose reply was lost with the killed run comes again on the new link: it is the one
    // the player took, so it is answered, and the player plays on.
    const [again] = players;
    if (again !== undefined) expect(await b.request('answer', { playId: again.playId, sdp: again.answer })).toEqual({});
    // Media keeps flowing for a while after the bind too.
    await new Promise((r) => setTimeout(r, 2000));
    const gaps = meters.map((m) => m.stop());
    console.log(`bridge kill: restarted ${restartedAt - killedAt} ms after the kill, bound ${boundAt - restartedAt} ms after the restart; video gaps ${JSON.stringify(gaps)} ms`);
    for (const g of gaps) expect(g).toBeLessThan(MAX_GAP_MS);
    expect(boundAt - restartedAt).toBeLessThan(3000);
    expect(a.events.slice(events).filter((e) => e.event !== 'node')).toEqual([]);

    // The new link owns them: a new player joins the stream taken back, and the unpublish ends
    // every player, each told on the new link.
    const late = await play(b, 'edge-1', name);
    await b.request('unpublish', { publishId });
    for (const p of [...players, late]) await b.waitForEvent('STOPPED', isPlayerEvent(p.playId, 'STOPPED'), { timeoutMs: 5000 });
    await expectClean();
  });

  it('what changed while it was away is reconciled: a publisher whose media stopped meanwhile ends its stream; ids nobody binds are released after the grace', async () => {
    const a = await connect();
    const left = `left-${Date.now()}`;
    const kept = `kept-${Date.now()}`;
    const gone = await publish(a, left);
    const viewer = await play(a, 'edge-1', left);
    const orphan = await publish(a, kept);
    const orphanViewer = await play(a, 'edge-2', kept);

    // The publisher hangs up while nobody listens to Janus (its events die with the bridge).
    const { link: b, from } = await meanwhileThenKill(async () => {
      await gone.pub.close();
      await new Promise((r) => setTimeout(r, 500));
    });
    // Bound at once (the restarted bridge cannot know yet); Janus's statistics then show the
    // publisher sends nothing, and the stream ends with the no-media timeout, its viewer told.
    await b.request('bind', { ids: [gone.publishId, viewer.playId] });
    // The bind tells the new link what is up (the publisher was publishing), then it ends.
    await b.waitForEvent('PUBLISHING retold', isPublisherEvent(gone.publishId, 'PUBLISHING'), { from, timeoutMs: 1000 });
    const ended = await b.waitForEvent('publisher ended', (e) => e.event === 'publisher' && e.publishId === gone.publishId && e.status !== 'PUBLISHING', { from, timeoutMs: 10_000 });
    expect(ended).toMatchObject({ status: 'FAILED', info: expect.stringMatching(/no media/) });
    await b.waitForEvent('STOPPED', isPlayerEvent(viewer.playId, 'STOPPED'), { from, timeoutMs: 5000 });
    // Bound again now, both are reported gone with how they ended.
    const again = await b.request('bind', { ids: [gone.publishId, viewer.playId] });
    expect(again.bound).toEqual([]);
    expect(again.gone.map((g) => [g.id, g.status])).toEqual([
      [gone.publishId, 'FAILED'],
      [viewer.playId, 'STOPPED'],
    ]);
    // `kept` was not bound by anyone: released after the grace, its viewer with it.
    expect(orphanViewer.sub.received.video).toBeGreaterThan(0);
    await new Promise((res) => setTimeout(res, GRACE_MS));
    await expectClean();
    expect(orphan.publishId).not.toBe('');
  });

  it('a Chromium viewer that hung up while it was away is ended at the restart (Janus took it off its mountpoint), and the bind says so; the other viewer plays on', async () => {
    const a = await connect();
    const name = `viewer-left-${Date.now()}`;
    const { publishId } = await publish(a, name);
    const stays = await play(a, 'edge-1', name);
    browser ??= await Browser.launch();
    const page = await browser.newPage();
    const leavesId = newMediaId('play');
    const admin = await JanusAdmin.connect(`ws://127.0.0.1:${ADMIN_PORTS['edge-1']}`, secrets.janusApiSecret);
    try {
      const before = new Set((await admin.handles()).map((h) => h.handle));
      const offer = await a.request('play', { playId: leavesId, node: 'edge-1', stream: name });
      const added = (await admin.handles()).filter((h) => !before.has(h.handle) && h.plugin === 'janus.plugin.streaming');
      expect(added).toHaveLength(1);
      const answer = await page.evaluate(async (sdp) => {
        const pc = new RTCPeerConnection({ iceServers: [] });
        Reflect.set(window, 'pc', pc);
        await pc.setRemoteDescription({ type: 'offer', sdp });
        await pc.setLocalDescription(await pc.createAnswer());
        return pc.localDescription?.sdp ?? '';
      }, offer.sdp);
      await a.request('answer', { playId: leavesId, sdp: answer });
      await a.waitForEvent('PLAYING', isPlayerEvent(leavesId, 'PLAYING'), { timeoutMs: 15_000 });
      const meter = stays.sub.watchVideoGaps();
      const { link: b, from } = await meanwhileThenKill(async () => {
        await page.evaluate(() => (Reflect.get(window, 'pc') as RTCPeerConnection).close());
        // Chromium sends a DTLS alert as it closes, but may tear its transport down before the alert
        // leaves; Janus's answer to the alert (janus_ice_webrtc_hangup) is made certain here through
        // the admin API, which runs the same code.
        const [leaving] = added;
        if (leaving !== undefined) await admin.hangup(leaving);
        await new Promise((r) => setTimeout(r, 500));
      });
      // The restarted bridge asks Janus about each viewer; the bind says how the one that left ended.
      expect(await b.request('bind', { ids: [publishId, stays.playId, leavesId] })).toEqual({
        bound: [publishId, stays.playId],
        gone: [{ id: leavesId, status: 'STOPPED', info: expect.stringMatching(/left while the bridge was away/) }],
      });
      expect(meter.stop()).toBeLessThan(MAX_GAP_MS);
      // The one event about the viewer that stays: the bind telling the new link it is playing.
      expect(b.events.slice(from).filter((e) => e.event === 'player' && e.playId === stays.playId).map((e) => (e.event === 'player' ? e.status : ''))).toEqual(['PLAYING']);
      await b.request('unpublish', { publishId });
      await b.waitForEvent('STOPPED', isPlayerEvent(stays.playId, 'STOPPED'), { from, timeoutMs: 5000 });
    } finally {
      admin.close();
      await page.close();
    }
    await expectClean();
  });

  it('a lost link (no close handshake) keeps its streams for a bind on a new link; a link closed on purpose releases at once', async () => {
    const a = await connect();
    const name = `moved-${Date.now()}`;
    const { publishId } = await publish(a, name);
    const viewer = await play(a, 'edge-1', name);
    const meter = viewer.sub.watchVideoGaps();
    await a.drop();
    const b = await connect();
    expect(await b.request('bind', { ids: [publishId, viewer.playId] })).toEqual({ bound: [publishId, viewer.playId], gone: [] });
    await new Promise((r) => setTimeout(r, 1000));
    expect(meter.stop()).toBeLessThan(MAX_GAP_MS);
    // Bound past the grace: still live.
    await new Promise((r) => setTimeout(r, GRACE_MS + 500));
    expect((await fanoutState()).origin.rooms).toBe(1);
    await b.close();
    await expectClean();
  });

  it('WHIP/WHEP-style resources are taken back: after the restart any link unpublishes them by id', async () => {
    const a = await connect();
    const name = `res-${Date.now()}`;
    const { publishId } = await publish(a, name, true);
    await a.close();
    await new Promise((r) => setTimeout(r, 1500));
    await killBridge();
    const b = await reconnect();
    expect(await b.request('unpublish', { publishId, resource: true })).toEqual({});
    await expectClean();
  });

  it('a bridge killed while viewers join: each join fails with a retryable error or completes; after the restart and the grace the joins leave no mountpoint, and no handle but one whose attach Janus was still answering at the kill', async () => {
    const a = await connect();
    const name = `joining-${Date.now()}`;
    const { publishId } = await publish(a, name);
    await play(a, 'edge-1', name);
    const joins = Array.from({ length: 6 }, (_, i) => {
      const playId = newMediaId('play');
      const node: NodeId = i % 2 === 0 ? 'edge-1' : 'edge-2';
      return a.request('play', { playId, node, stream: name }).then(
        () => 'offered',
        (err: unknown) => (err instanceof Error ? err.message : String(err)),
      );
    });
    await new Promise((r) => setTimeout(r, 15));
    await killBridge();
    const outcomes = await Promise.all(joins);
    const cut = outcomes.filter((o) => o !== 'offered');
    for (const o of cut) expect(o).toMatch(/closed/);
    const b = await reconnect();
    expect(await b.request('bind', { ids: [publishId] })).toEqual({ bound: [publishId], gone: [] });
    // The joins' link is gone and nobody binds them: after the grace only the publisher remains,
    // plus at most one handle per join cut short (an attach Janus had not answered when the bridge
    // died: the journal never learnt its id; it goes with the session at the next clean stop).
    await new Promise((r) => setTimeout(r, GRACE_MS + 500));
    const counts = await handleCounts(ADMIN_PORTS, secrets.janusApiSecret);
    const extra = NODE_IDS.reduce((n, id) => n + counts[id].handles - baseline[id].handles, 0) - 1;
    console.log(`joins across the kill: ${JSON.stringify(outcomes)}; handles left beyond the publisher's: ${extra}`);
    expect(extra).toBeGreaterThanOrEqual(0);
    expect(extra).toBeLessThanOrEqual(cut.length);
    for (const id of NODE_IDS) expect(counts[id].sessions).toBe(baseline[id].sessions);
    const state = await fanoutState();
    expect(state['edge-1'].mountpoints + state['edge-2'].mountpoints).toBe(0);
    await b.request('unpublish', { publishId });
    const empty = Object.fromEntries(NODE_IDS.map((n) => [n, { rooms: 0, mountpoints: 0 }]));
    await vi.waitFor(async () => expect(await fanoutState()).toEqual(empty), { timeout: 8000, interval: 100 });
    // What a later test counts from: the handles this kill could not account for are a known cost.
    baseline = await handleCounts(ADMIN_PORTS, secrets.janusApiSecret);
  });

  it('3 kills in a row with a stream and a player live: no gap over 1 s, no Janus session, handle, room or mountpoint left over', async () => {
    const a = await connect();
    const name = `repeat-${Date.now()}`;
    const { publishId } = await publish(a, name);
    const viewer = await play(a, 'edge-2', name);
    const meter = viewer.sub.watchVideoGaps();
    let link = a;
    for (let i = 0; i < 3; i++) {
      await killBridge();
      link = await reconnect();
      expect(await link.request('bind', { ids: [publishId, viewer.playId] })).toEqual({ bound: [publishId, viewer.playId], gone: [] });
    }
    await new Promise((r) => setTimeout(r, 1000));
    expect(meter.stop()).toBeLessThan(MAX_GAP_MS);
    await link.request('unpublish', { publishId });
    await link.waitForEvent('STOPPED', isPlayerEvent(viewer.playId, 'STOPPED'), { timeoutMs: 5000 });
    await expectClean();
  });
});

/**
 * Stops the bridge (SIGSTOP), runs `meanwhile` while nobody listens to Janus (its events die with
 * the bridge), kills it (SIGKILL ends a stopped process too), and returns a link to the restarted
 * one with the mark where its events begin.
 */
async function meanwhileThenKill(meanwhile: () => Promise<void>): Promise<{ link: BridgeClient; from: number }> {
  const restarts = stack.output.split('bridge restarted').length;
  const pid = stack.pidOf('bridge');
  process.kill(pid, 'SIGSTOP');
  try {
    await meanwhile();
  } finally {
    process.kill(pid, 'SIGKILL');
  }
  await restarted(restarts);
  const link = await reconnect();
  return { link, from: link.mark() };
}

/** Waits for the launcher's restart of a bridge already killed (`before`: the restarts counted before the kill). */
async function restarted(before: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (stack.output.split('bridge restarted').length === before) {
    if (Date.now() > deadline) throw new Error('the bridge was not restarted');
    await new Promise((r) => setTimeout(r, 20));
  }
}
