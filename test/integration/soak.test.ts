/**
 * Soak and churn through the public path (issue 10): 200 publish/unpublish cycles and 1,000
 * play/stop cycles over the WCS WebSocket API, some of them with real media (werift peers) and some
 * ended abruptly (the socket dropped without a word, the publisher's PeerConnection gone). Bounded
 * in time: the whole file runs in a few minutes on two cores.
 *
 * Afterwards: no Fanout room, publisher, remote publisher, forwarder or mountpoint on any Janus
 * node, no session or handle beyond the ones there were before (Janus's admin API), no load in any
 * agent's view; each node's agent's memory and the worker's (RSS and V8 heap, after a full
 * collection through their inspectors) stay within bounds after warm-up; and every status any
 * session was told is the one it should have been (each counted). The figures go to
 * .fanout/bench/soak.json.
 *
 * One agent per Janus node (the launcher's default): every agent is held to the bounds the one
 * bridge was, though each does only its node's share of the work.
 */
import { mkdirSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { handleCounts as countHandles, JanusInspector, type HandleCount } from '../harness/janus-inspect.ts';
import { collectGarbage, debuggerUrl, listeningPorts } from '../harness/inspector.ts';
import { bridgeLoads } from '../harness/poll.ts';
import { listProcesses } from '../harness/processes.ts';
import { ROOT, Stack } from '../harness/stack.ts';
import { playWerift, publishWerift, WcsClient, type StatusEvent } from '../harness/wcs-client.ts';
import { until, WeriftPublisher } from '../harness/werift-peer.ts';

const NODES = { origin: 8188, 'edge-1': 8189, 'edge-2': 8190 } as const;
type NodeId = keyof typeof NODES;
const NODE_IDS = Object.keys(NODES) as NodeId[];
const EDGES = ['edge-1', 'edge-2'] as const;
const ADMIN_PORT_OFFSET = 1000;
const REPORT = join(ROOT, '.fanout/bench/soak.json');

const PUBLISH_CYCLES = 200;
const PLAY_CYCLES = 1000;
/** Loops running at once. */
const PUBLISH_LOOPS = 4;
const PLAY_LOOPS = 8;
/** RSS growth allowed after warm-up, measured after a full collection (bytes). */
const RSS_BOUND = 30 * 1024 * 1024;
/**
 * The same for workerd, more generous: its native memory (sockets, allocator arenas) settles about
 * 20-30 MB higher after the soak's ~300 WebSocket sessions and agent links, while its V8 heap, where
 * a leak in Fanout's worker code would show, stays at 1.5 MB (HEAP_BOUND checks that).
 */
const WORKER_RSS_BOUND = 50 * 1024 * 1024;
/** V8 heap growth allowed after warm-up, after a full collection (bytes). */
const HEAP_BOUND = 10 * 1024 * 1024;

let stack: Stack;
let secret = '';
const inspectors = new Map<NodeId, JanusInspector>();
let baseline: Record<NodeId, { sessions: number; handles: number }>;

/** What each stream id should have been told, in order; checked against what it was told. */
interface Expectation {
  client: WcsClient;
  id: string;
  what: string;
  /** The exact statuses, or for an abruptly closed session: the statuses allowed (any prefix). */
  statuses: string[];
  /** The session was dropped on purpose: what arrived before is a prefix of `statuses`. */
  prefix?: boolean;
  /** A status's info must match. */
  info?: Record<string, RegExp>;
}
const expectations: Expectation[] = [];
const allClients = new Set<WcsClient>();
const counts = { publishCycles: 0, publishWithMedia: 0, publishAbrupt: 0, playCycles: 0, playWithMedia: 0, playAbrupt: 0, playViaOrigin: 0 };

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

async function wcs(node: NodeId): Promise<WcsClient> {
  const c = await WcsClient.connect(node);
  allClients.add(c);
  return c;
}

function expectStatuses(e: Expectation): void {
  expectations.push(e);
}

// ---------------------------------------------------------------- inspection

/** Every node's Janus sessions and handles, through its admin API. */
function handleCounts(): Promise<Record<NodeId, HandleCount>> {
  const ports = Object.fromEntries(NODE_IDS.map((node) => [node, NODES[node] + ADMIN_PORT_OFFSET])) as Record<NodeId, number>;
  return countHandles(ports, secret);
}

/** Each node's load as its own agent counts it (every agent's /health). */
async function agentLoad(): Promise<Array<{ id: string; publishers: number; subscribers: number }>> {
  const loads = await bridgeLoads(stack);
  const missing = NODE_IDS.filter((n) => loads[n] === undefined);
  if (missing.length > 0) throw new Error(`no agent reports ${missing.join(', ')}: ${JSON.stringify(loads)}`);
  return NODE_IDS.map((id) => ({ id, ...loads[id]! }));
}

/** Rooms, forwarders and remotes per node (every Fanout room, and what it holds). */
async function janusState(): Promise<Array<{ node: NodeId; rooms: number; participants: number; forwarders: number; mountpoints: number }>> {
  return Promise.all(
    NODE_IDS.map(async (node) => {
      const rooms = await inspectors.get(node)!.fanoutRooms();
      let forwarders = 0;
      for (const r of rooms) {
        forwarders += (await inspectors.get(node)!.forwarders(r.room).catch(() => [])).reduce((n, f) => n + f.count, 0);
      }
      const mountpoints = (await inspectors.get(node)!.fanoutMountpoints()).length;
      return { node, rooms: rooms.length, participants: rooms.reduce((n, r) => n + r.participants.length, 0), forwarders, mountpoints };
    }),
  );
}

function rssOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = /^VmRSS:\s+(\d+) kB/m.exec(status)?.[1];
  if (kb === undefined) throw new Error(`no VmRSS for ${pid}`);
  return Number(kb) * 1024;
}

/** Inodes of the sockets listening on `port` (IPv4, this network namespace). */
function listeningInodes(port: number): Set<string> {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  const out = new Set<string>();
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length > 9 && f[1]!.endsWith(`:${hexPort}`) && f[3] === '0A') out.add(f[9]!);
  }
  return out;
}

/**
 * wrangler dev runs two workerd processes: its own dev proxy, which owns the public port (8787) and
 * relays every request and WebSocket, and the one running Fanout's worker. Only the second exists
 * in production; both are reported.
 */
function workerdPids(): { worker: number; devProxy: number | undefined } {
  const pids = listProcesses().filter((p) => p.comm === 'workerd').map((p) => p.pid);
  const inodes = listeningInodes(8787);
  const ownsPublicPort = (pid: number): boolean => {
    try {
      return readdirSync(`/proc/${pid}/fd`).some((fd) => {
        try {
          return inodes.has(/^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`))?.[1] ?? '');
        } catch {
          return false;
        }
      });
    } catch {
      return false;
    }
  };
  const devProxy = pids.find(ownsPublicPort);
  const worker = pids.filter((p) => p !== devProxy);
  if (worker.length !== 1) throw new Error(`expected one workerd running the worker, found ${JSON.stringify({ pids, devProxy })}`);
  return { worker: worker[0]!, devProxy };
}

type PerAgent = Record<NodeId, number>;

function perAgent(f: (node: NodeId) => number): PerAgent {
  return Object.fromEntries(NODE_IDS.map((n) => [n, f(n)])) as PerAgent;
}

function rss(): { agents: PerAgent; worker: number; devProxy: number } {
  const w = workerdPids();
  return { agents: perAgent((n) => rssOf(stack.agentPid(n))), worker: rssOf(w.worker), devProxy: w.devProxy === undefined ? 0 : rssOf(w.devProxy) };
}

/**
 * An agent's DevTools inspector. SIGUSR1 opens it on the port of `--inspect-port`: 0 here (see
 * beforeAll), a free port of its own, since three agents cannot share Node's default 9229.
 */
async function agentInspector(node: NodeId): Promise<string> {
  const pid = stack.agentPid(node);
  const apiPort = Number(new URL(stack.agentUrl(node)).port);
  const inspectorPorts = (): number[] => listeningPorts(pid).filter((p) => p !== apiPort);
  let url = await debuggerUrl(inspectorPorts());
  if (url === undefined) {
    process.kill(pid, 'SIGUSR1');
    await until(`${node}'s agent inspector`, () => inspectorPorts().length > 0, 5000);
    url = await debuggerUrl(inspectorPorts());
  }
  if (url === undefined) throw new Error(`no inspector on ${node}'s agent (pid ${pid}, ports ${JSON.stringify(listeningPorts(pid))})`);
  return url;
}

/**
 * A full garbage collection in every agent and in the worker (through their inspectors), then RSS
 * and the V8 heap in use: what is still held, not what V8 has not collected yet.
 */
async function memory(): Promise<{ rss: ReturnType<typeof rss>; heap: { agents: PerAgent; worker: number } }> {
  const agentUrls = await Promise.all(NODE_IDS.map(agentInspector));
  const { devProxy } = workerdPids();
  const workerUrl = await debuggerUrl([...listeningPorts(stack.pidOf('worker (wrangler dev)')), ...(devProxy === undefined ? [] : listeningPorts(devProxy))]);
  if (workerUrl === undefined) throw new Error('no inspector on the worker');
  const [w, ...agents] = await Promise.all([collectGarbage(workerUrl), ...agentUrls.map((u) => collectGarbage(u))]);
  await sleep(500);
  return { rss: rss(), heap: { agents: perAgent((n) => agents[NODE_IDS.indexOf(n)]!.after), worker: w!.after } };
}

const mb = (bytes: number): number => Math.round((bytes / 1024 / 1024) * 10) / 10;

// ---------------------------------------------------------------- the stack

beforeAll(async () => {
  // Every client here comes from 127.0.0.1, so the per-address limits would count them all as one.
  // `--inspect-port=0`: each agent's inspector, opened by SIGUSR1 for the memory figures, on a
  // port of its own (it only sets the port; no process opens an inspector until signalled).
  stack = await Stack.start({
    env: {
      FANOUT_JANUS_ADMIN_PORT_OFFSET: String(ADMIN_PORT_OFFSET),
      WCS_MAX_SESSIONS_PER_MINUTE: '0',
      WCS_MAX_MESSAGES_PER_SECOND: '100000',
      NODE_OPTIONS: `${process.env['NODE_OPTIONS'] ?? ''} --inspect-port=0`.trim(),
    },
  });
  secret = stack.secrets().janusApiSecret;
  for (const node of NODE_IDS) inspectors.set(node, await JanusInspector.connect(`ws://127.0.0.1:${NODES[node]}`, secret));
  const deadline = Date.now() + 30_000;
  while ((await fetch('http://127.0.0.1:8787/health').then((r) => r.status, () => 0)) !== 200) {
    if (Date.now() > deadline) throw new Error('the CDN is not healthy');
    await sleep(200);
  }
  baseline = await handleCounts();
}, 150_000);

afterAll(async () => {
  await Promise.all([...allClients].map((c) => c.close().catch(() => undefined)));
  await Promise.all([...inspectors.values()].map((i) => i.close()));
  await stack?.stop();
});

// ---------------------------------------------------------------- the cycles

/** One offer reused by the signalling-only publishes: Janus answers it every time, ICE never runs. */
let staticOffer = '';

/** A publish/unpublish cycle. `mode` picks what happens between. */
async function publishCycle(loop: number, n: number, origin: { c: WcsClient }): Promise<void> {
  const name = `soak-pub-${loop}-${n}`;
  counts.publishCycles++;
  if (n % 10 === 5) {
    // With media and a player on an edge; every other such cycle ends abruptly (socket dropped).
    counts.publishWithMedia++;
    const { pub, id } = await publishWerift(origin.c, name);
    const edge = EDGES[n % 2]!;
    const viewer = await wcs(edge);
    try {
      const { sub, id: playId } = await playWerift(viewer, name);
      await sub.media({ audio: true, video: true, keyframe: true });
      await sub.close();
      const abrupt = n % 20 === 5;
      if (abrupt) {
        counts.publishAbrupt++;
        origin.c.terminate();
        expectStatuses({ client: origin.c, id, what: 'publish, dropped', statuses: ['PUBLISHING'], prefix: true });
        origin.c = await wcs('origin');
      } else {
        origin.c.unpublish(id, name);
        await origin.c.waitForStatus(id, 'UNPUBLISHED');
        expectStatuses({ client: origin.c, id, what: 'publish with media', statuses: ['PUBLISHING', 'UNPUBLISHED'] });
      }
      await viewer.waitForStatus(playId, 'STOPPED');
      expectStatuses({
        client: viewer,
        id: playId,
        what: 'player of an ending stream',
        statuses: ['PLAYING', 'STOPPED'],
        info: { STOPPED: abrupt ? /the publisher disconnected/ : /unpublished/ },
      });
    } finally {
      await pub.close();
      await viewer.close();
    }
    return;
  }
  const { id } = await origin.c.publish(name, staticOffer);
  if (n % 25 === 12) {
    counts.publishAbrupt++;
    origin.c.terminate();
    expectStatuses({ client: origin.c, id, what: 'signalling publish, dropped', statuses: [], prefix: true });
    origin.c = await wcs('origin');
    return;
  }
  origin.c.unpublish(id, name);
  await origin.c.waitForStatus(id, 'UNPUBLISHED');
  expectStatuses({ client: origin.c, id, what: 'signalling publish', statuses: ['UNPUBLISHED'] });
}

/** A play/stop cycle on an edge (or via the origin's redirect). */
async function playCycle(loop: number, n: number, session: { c: WcsClient; node: NodeId }, stream: string): Promise<void> {
  counts.playCycles++;
  if (n % 50 === 7) {
    counts.playViaOrigin++;
    const origin = await wcs('origin');
    const r = await origin.play(stream);
    if (!('redirect' in r)) throw new Error('the origin did not redirect a player');
    expect(EDGES).toContain(r.redirect.node);
    await origin.waitForStatus(r.id, 'FAILED');
    expectStatuses({ client: origin, id: r.id, what: 'play via the origin', statuses: ['FAILED'], info: { FAILED: /^Play from edge edge-[12]: / } });
    await origin.close();
    return;
  }
  if (n % 20 === 3) {
    counts.playWithMedia++;
    const { sub, id } = await playWerift(session.c, stream);
    try {
      await sub.media({ audio: true, video: true });
    } finally {
      await sub.close();
    }
    session.c.stop(id, stream);
    await session.c.waitForStatus(id, 'STOPPED');
    expectStatuses({ client: session.c, id, what: 'play with media', statuses: ['PLAYING', 'STOPPED'] });
    return;
  }
  const r = await session.c.play(stream);
  if (!('offer' in r)) throw new Error(`${session.node} redirected a player`);
  if (n % 40 === 11) {
    // Abrupt: the socket drops with the play offered and unanswered.
    counts.playAbrupt++;
    session.c.terminate();
    expectStatuses({ client: session.c, id: r.id, what: 'play, dropped', statuses: [], prefix: true });
    session.c = await wcs(session.node);
    return;
  }
  session.c.stop(r.id, stream);
  await session.c.waitForStatus(r.id, 'STOPPED');
  expectStatuses({ client: session.c, id: r.id, what: 'signalling play', statuses: ['STOPPED'] });
}

/** Runs `cycles` cycles spread over `loops` loops. */
async function inLoops(loops: number, cycles: number, run: (loop: number, n: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: loops }, async (_, loop) => {
      for (;;) {
        const n = next++;
        if (n >= cycles) return;
        await run(loop, n);
      }
    }),
  );
}

/** Every status told matched its expectation; returns how many were checked. */
function checkStatuses(): { delivered: number; checked: number; wrong: string[] } {
  const wrong: string[] = [];
  let checked = 0;
  const known = new Set<string>();
  for (const e of expectations) {
    known.add(e.id);
    const got = e.client.statuses(e.id);
    checked += got.length;
    const names = got.map((s: StatusEvent) => s.status);
    const ok = e.prefix === true ? names.every((s, i) => e.statuses[i] === s) : JSON.stringify(names) === JSON.stringify(e.statuses);
    if (!ok) wrong.push(`${e.what} ${e.id}: expected ${JSON.stringify(e.statuses)}${e.prefix ? ' (a prefix)' : ''}, got ${JSON.stringify(got)}`);
    for (const s of got) {
      const rule = e.info?.[s.status];
      if (rule !== undefined && !rule.test(s.info ?? '')) wrong.push(`${e.what} ${e.id}: ${s.status} info ${JSON.stringify(s.info)} does not match ${rule}`);
    }
  }
  let delivered = 0;
  for (const c of allClients) {
    if (c.invalid.length > 0) wrong.push(`${c.node}: frames that do not validate: ${c.invalid.slice(0, 3).join(' | ')}`);
    for (const s of c.allStatuses()) {
      delivered++;
      if (!known.has(s.mediaSessionId)) wrong.push(`${c.node}: a status for an id nobody expects: ${JSON.stringify(s)}`);
    }
  }
  return { delivered, checked, wrong };
}

describe('soak and churn', () => {
  it(`${PUBLISH_CYCLES} publish/unpublish and ${PLAY_CYCLES} play/stop cycles through the WCS API: every status right, nothing left in Janus, every agent's and the worker's memory flat`, async () => {
    const t0 = Date.now();
    const spare = new WeriftPublisher();
    staticOffer = await spare.offer();
    await spare.close();

    // Warm-up: a little of everything, so the RSS baseline is past JIT and first allocations. Its
    // publisher's PeerConnection just vanishes at the end: FAILED "no media" a few seconds later.
    const warmOrigins = [{ c: await wcs('origin') }, { c: await wcs('origin') }];
    await inLoops(2, 10, (loop, n) => publishCycle(100 + loop, n, warmOrigins[loop]!));
    const warmEdges = await Promise.all(EDGES.map(async (e) => ({ c: await wcs(e), node: e as NodeId })));
    const warmOwner = await wcs('origin');
    const warmPub = await publishWerift(warmOwner, 'soak-warm');
    await inLoops(2, 40, (loop, n) => playCycle(loop, n, warmEdges[loop]!, 'soak-warm'));
    await warmPub.pub.close();
    await warmOwner.waitForStatus(warmPub.id, 'FAILED', { timeoutMs: 10_000 });
    expectStatuses({ client: warmOwner, id: warmPub.id, what: 'vanished publisher', statuses: ['PUBLISHING', 'FAILED'], info: { FAILED: /no media/ } });
    await expectClean(15_000);
    await sleep(1000);
    const memStart = await memory();
    const warmUpMs = Date.now() - t0;
    for (const k of Object.keys(counts) as Array<keyof typeof counts>) counts[k] = 0;

    // 200 publish/unpublish cycles.
    const t1 = Date.now();
    const origins = await Promise.all(Array.from({ length: PUBLISH_LOOPS }, async () => ({ c: await wcs('origin') })));
    await inLoops(PUBLISH_LOOPS, PUBLISH_CYCLES, (loop, n) => publishCycle(loop, n, origins[loop]!));
    const publishMs = Date.now() - t1;

    // 1,000 play/stop cycles on two live streams, a few with media, a few dropped, a few via the origin.
    const t2 = Date.now();
    const owner = await wcs('origin');
    const live = await Promise.all(['soak-live-a', 'soak-live-b'].map((name) => publishWerift(owner, name)));
    const sessions = await Promise.all(Array.from({ length: PLAY_LOOPS }, async (_, i) => ({ c: await wcs(EDGES[i % 2]!), node: EDGES[i % 2]! as NodeId })));
    await inLoops(PLAY_LOOPS, PLAY_CYCLES, (loop, n) => playCycle(loop, n, sessions[loop]!, n % 2 === 0 ? 'soak-live-a' : 'soak-live-b'));
    const playMs = Date.now() - t2;
    for (const { id } of live) owner.unpublish(id, '');
    for (const { id } of live) {
      await owner.waitForStatus(id, 'UNPUBLISHED');
      expectStatuses({ client: owner, id, what: 'live publisher', statuses: ['PUBLISHING', 'UNPUBLISHED'] });
    }
    for (const { pub } of live) await pub.close();

    // Everything released: sessions closed, Janus holds what it held before, memory settles.
    await Promise.all([...allClients].map((c) => c.close()));
    await expectClean(20_000);
    await sleep(1000);
    const rssEndBeforeGc = rss();
    const memEnd = await memory();
    const [rssStart, rssEnd] = [memStart.rss, memEnd.rss];

    const statuses = checkStatuses();
    const janus = await janusState();
    const report = {
      runAt: new Date().toISOString(),
      cycles: counts,
      ms: { warmUp: warmUpMs, publishCycles: publishMs, playCycles: playMs, total: Date.now() - t0 },
      statuses: { delivered: statuses.delivered, checked: statuses.checked, wrong: statuses.wrong.length },
      janusAfter: { state: janus, handles: await handleCounts(), baselineHandles: baseline },
      // After a full collection in every agent and the worker (wrangler's dev proxy is not collected).
      rssMB: {
        ...Object.fromEntries(NODE_IDS.map((n) => [`agent ${n}`, { start: mb(rssStart.agents[n]), end: mb(rssEnd.agents[n]), growth: mb(rssEnd.agents[n] - rssStart.agents[n]) }])),
        ...Object.fromEntries((['worker', 'devProxy'] as const).map((k) => [k, { start: mb(rssStart[k]), end: mb(rssEnd[k]), growth: mb(rssEnd[k] - rssStart[k]) }])),
      },
      rssMBAtEndBeforeCollection: {
        ...Object.fromEntries(NODE_IDS.map((n) => [`agent ${n}`, mb(rssEndBeforeGc.agents[n])])),
        worker: mb(rssEndBeforeGc.worker),
        devProxy: mb(rssEndBeforeGc.devProxy),
      },
      heapUsedMB: {
        ...Object.fromEntries(NODE_IDS.map((n) => [`agent ${n}`, { start: mb(memStart.heap.agents[n]), end: mb(memEnd.heap.agents[n]) }])),
        worker: { start: mb(memStart.heap.worker), end: mb(memEnd.heap.worker) },
      },
    };
    mkdirSync(join(ROOT, '.fanout/bench'), { recursive: true });
    writeFileSync(REPORT, `${JSON.stringify(report, null, 2)}\n`);
    console.log(`soak: ${JSON.stringify(report)}`);

    expect(counts.publishCycles).toBe(PUBLISH_CYCLES);
    expect(counts.playCycles).toBe(PLAY_CYCLES);
    expect(statuses.wrong).toEqual([]);
    expect(statuses.checked).toBe(statuses.delivered);
    expect(janus.every((n) => n.rooms === 0 && n.participants === 0 && n.forwarders === 0 && n.mountpoints === 0)).toBe(true);
    for (const n of NODE_IDS) {
      expect(rssEnd.agents[n] - rssStart.agents[n], `RSS growth of ${n}'s agent`).toBeLessThan(RSS_BOUND);
      expect(memEnd.heap.agents[n] - memStart.heap.agents[n], `heap growth of ${n}'s agent`).toBeLessThan(HEAP_BOUND);
    }
    expect(rssEnd.worker - rssStart.worker).toBeLessThan(WORKER_RSS_BOUND);
    expect(memEnd.heap.worker - memStart.heap.worker).toBeLessThan(HEAP_BOUND);
  }, 300_000);
});

/** No room, no extra Janus session or handle, no load: waits up to `timeoutMs`, then fails naming what is left. */
async function expectClean(timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const [state, handles, load] = await Promise.all([janusState(), handleCounts(), agentLoad()]);
    const clean =
      state.every((n) => n.rooms === 0 && n.mountpoints === 0) &&
      NODE_IDS.every((n) => handles[n].sessions === baseline[n].sessions && handles[n].handles === baseline[n].handles) &&
      load.every((l) => l.publishers === 0 && l.subscribers === 0);
    if (clean) return;
    if (Date.now() > deadline) {
      expect({ state, handles, load }).toEqual({
        state: NODE_IDS.map((node) => ({ node, rooms: 0, participants: 0, forwarders: 0, mountpoints: 0 })),
        handles: baseline,
        load: load.map((l) => ({ id: l.id, publishers: 0, subscribers: 0 })),
      });
    }
    await sleep(250);
  }
}
