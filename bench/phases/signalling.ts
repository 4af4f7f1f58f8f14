/**
 * Signalling throughput: complete connect + publish + play handshakes per second, through Fanout
 * (WCS WebSocket to the worker, bridge, Janus) versus the same Janus work done by a client straight
 * on Janus's API. No media flows: the publisher's offer has no candidates and the player's answer
 * is derived by text (lib/sdp.ts), so this times signalling alone.
 *
 * One cycle, both ways:
 *   publisher connects, publishes (origin room + publisher; each edge: room, remote publisher,
 *   publish_remotely) -> player connects to an edge, gets the offer, sends its answer
 *   [= the handshake] -> the player stops, the publisher unpublishes, everything is removed.
 * Through Fanout the origin redirects the player to an edge, the player opens a second socket
 * there, and the bridge does the Janus work; straight on Janus the client does it, keeping one
 * control handle per node for rooms (as the bridge does) and alternating the edges.
 *
 * Cycles run `concurrency` at a time for fixed blocks, alternating Fanout and Janus blocks; the
 * rate counts whole cycles, teardown included, over the blocks' time.
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import * as v from 'valibot';
// The Janus-direct side does the bridge's own Janus work, so it uses the bridge's plan for it.
import { remotePublisherStreams } from '../../bridge/media/plan.ts';
import { JanusConnection, type JanusHandle, type JanusSession } from '../lib/janus-api.ts';
import { cpuByComponent, type Accounted } from '../lib/proc.ts';
import { answerFor } from '../lib/sdp.ts';
import { errorText, sleep, type Cleanup, type Deadline } from '../lib/run.ts';
import { round, roundSummary, summarize, type Summary } from '../lib/stats.ts';
import { WcsClient } from '../../test/harness/wcs-client.ts';

export interface SignallingSide {
  cycles: number;
  failures: number;
  firstErrors: string[];
  seconds: number;
  cyclesPerSecond: number;
  /** ms from connecting to the player's answer sent. */
  handshake: Summary;
  /** ms of a whole cycle, teardown included. */
  cycle: Summary;
  /** Median ms of each step, in order (Fanout's teardown waits for the bridge to remove everything). */
  stepsP50: Record<string, number>;
}

export interface SignallingResult {
  concurrency: number;
  blockMs: number;
  blocks: number;
  fanout: SignallingSide;
  janus: SignallingSide;
  /** Fanout's rate / Janus's rate. */
  rateRatio: number;
  /** Fanout's p50 handshake / Janus's. */
  handshakeRatioP50: number;
  /**
   * Durable Object requests a join waited for (the worker isolate's `table-awaited` reads during
   * Fanout's blocks, per cycle: each cycle has one player join).
   */
  doRequestsPerJoin: number;
  /** Every Durable Object request the isolate made during Fanout's blocks, by kind (./worker/do-requests.ts). */
  doRequests: Record<string, number>;
  /**
   * Where a Fanout cycle's time goes: CPU ms per cycle of each process of the stack during Fanout's
   * blocks (the machine is CPU-bound at this concurrency, so CPU per cycle sets the rate), and the
   * same for plain Janus's blocks.
   */
  cpuMsPerCycle?: { fanout: Record<string, number>; janus: Record<string, number> };
}

/** CPU ms per cycle of each component (components that used none left out), largest first. */
function perCycle(cpuSeconds: Record<string, number>, cycles: number): Record<string, number> {
  const rows = Object.entries(cpuSeconds)
    .map(([c, sec]) => [c, round((sec * 1000) / Math.max(1, cycles), 2)] as const)
    .filter(([, ms]) => ms > 0)
    .sort((a, b) => b[1] - a[1]);
  return Object.fromEntries(rows);
}

const HealthIsolate = v.object({ isolate: v.object({ durableObjectRequests: v.record(v.string(), v.number()) }) });

/** The worker isolate's Durable Object requests so far, from /health (whose own fresh read is one `table-awaited`). */
async function isolateDoRequests(workerWs: string): Promise<Record<string, number>> {
  const resp = await fetch(`${workerWs.replace(/^ws/, 'http')}/health`, { signal: AbortSignal.timeout(10_000) });
  return v.parse(HealthIsolate, await resp.json()).isolate.durableObjectRequests;
}

export interface SignallingSetup {
  /** The stack's processes, by component, for the CPU profile (none: no profile). */
  processes?: () => Accounted[];
  /** e.g. ws://127.0.0.1:8787 (the worker; nodes addressed as /node/<id>/ws). */
  workerWs: string;
  janusUrls: Record<string, string>;
  apiSecret: string;
  offer: string;
  deadline: Deadline;
  cleanup: Cleanup;
  log(msg: string): void;
}

const T = 15_000;

const Stream = v.object({ type: v.string(), mindex: v.number(), mid: v.string(), codec: v.optional(v.string()), disabled: v.optional(v.boolean()) });
const Joined = v.object({ id: v.number(), streams: v.array(Stream) });
const RemoteAdded = v.object({ id: v.number(), port: v.number(), rtcp_port: v.number() });

/** A cycle resolves with its handshake time and the duration of each step of the handshake (ms). */
export type Cycle = (name: string, n: number) => Promise<{ handshake: number; steps: Record<string, number> }>;

/** Times consecutive steps: `lap('publish')` records the ms since the previous lap. */
function stopwatch(): { lap(step: string): void; steps: Record<string, number> } {
  let last = performance.now();
  const steps: Record<string, number> = {};
  return {
    steps,
    lap(step) {
      const now = performance.now();
      steps[step] = now - last;
      last = now;
    },
  };
}

export function fanoutCycle(s: SignallingSetup): Cycle {
  return async (name) => {
    const t0 = performance.now();
    const sw = stopwatch();
    const origin = await WcsClient.connect(`${s.workerWs}/node/origin/ws`, { timeoutMs: T });
    sw.lap('connect');
    let edge: WcsClient | undefined;
    try {
      const pub = await origin.publish(name, s.offer, { timeoutMs: T });
      sw.lap('publish');
      const redirect = await origin.playRedirect(name, { timeoutMs: T });
      sw.lap('redirect');
      edge = await WcsClient.connect(redirect.url, { timeoutMs: T });
      sw.lap('edge connect');
      const play = await edge.playOffer(name, { timeoutMs: T });
      sw.lap('play (offer)');
      edge.answer(play.id, answerFor(play.offer));
      const handshake = performance.now() - t0;
      await edge.end(play.id, 'play', { timeoutMs: T });
      await origin.end(pub.id, 'publish', { timeoutMs: T });
      sw.lap('teardown');
      return { handshake, steps: sw.steps };
    } finally {
      // Not awaited: the close handshake is not part of the cycle.
      void edge?.close();
      void origin.close();
    }
  };
}

async function janusCycleFactory(s: SignallingSetup): Promise<{ cycle: Cycle; close(): void }> {
  // Long-lived control handles, one per node, as the bridge keeps.
  const control: Record<string, JanusHandle> = {};
  const conns: JanusConnection[] = [];
  for (const [node, url] of Object.entries(s.janusUrls)) {
    const c = await JanusConnection.connect(url, s.apiSecret);
    conns.push(c);
    control[node] = await (await c.session()).attach();
  }
  const edges = Object.keys(s.janusUrls).filter((n) => n !== 'origin').sort();
  const ctl = (node: string): JanusHandle => {
    const h = control[node];
    if (h === undefined) throw new Error(`no control handle for ${node}`);
    return h;
  };
  const roomBody = (room: number, name: string): Record<string, unknown> => ({
    request: 'create',
    room,
    description: `bench:${name}`,
    publishers: 1,
    audiocodec: 'opus',
    videocodec: 'vp8,h264',
    permanent: false,
    admin_key: s.apiSecret,
  });
  const cycle: Cycle = async (name, n) => {
    const t0 = performance.now();
    const sw = stopwatch();
    const room = randomBytes(5).readUIntBE(0, 5) + 1;
    const pubConn = await JanusConnection.connect(s.janusUrls['origin'] ?? '', s.apiSecret);
    let subConn: JanusConnection | undefined;
    let subSession: JanusSession | undefined;
    let pubHandle: JanusHandle | undefined;
    let originRoom = false;
    const edgeRooms: string[] = [];
    const cascades: Array<{ edge: string; remoteId: string; id: number; forwarding: boolean }> = [];
    let publisherId: number | undefined;
    try {
      const pubSession = await pubConn.session();
      pubHandle = await pubSession.attach();
      sw.lap('connect');
      await ctl('origin').sync(roomBody(room, name));
      originRoom = true;
      const joined = await pubHandle.async({ request: 'joinandconfigure', room, ptype: 'publisher', display: name }, { type: 'offer', sdp: s.offer });
      const pub = v.parse(Joined, joined.data);
      publisherId = pub.id;
      sw.lap('publish');
      const streams = remotePublisherStreams(
        pub.streams.flatMap((x) => (x.type === 'audio' || x.type === 'video' ? [{ ...x, type: x.type }] : [])),
      );
      await Promise.all(
        edges.map(async (edge) => {
          await ctl(edge).sync(roomBody(room, name));
          edgeRooms.push(edge);
          const added = v.parse(RemoteAdded, await ctl(edge).sync({ request: 'add_remote_publisher', room, display: name, streams }));
          const c = { edge, remoteId: `bench-${edge}`, id: added.id, forwarding: false };
          cascades.push(c);
          await ctl('origin').sync({
            request: 'publish_remotely',
            room,
            publisher_id: pub.id,
            remote_id: c.remoteId,
            host: new URL(s.janusUrls[edge] ?? '').hostname,
            port: added.port,
            rtcp_port: added.rtcp_port,
            admin_key: s.apiSecret,
          });
          c.forwarding = true;
        }),
      );
      sw.lap('cascade');
      const edge = edges[n % edges.length] ?? '';
      const feed = cascades.find((c) => c.edge === edge)?.id;
      subConn = await JanusConnection.connect(s.janusUrls[edge] ?? '', s.apiSecret);
      subSession = await subConn.session();
      const subHandle = await subSession.attach();
      sw.lap('edge connect');
      const sub = await subHandle.async({ request: 'join', ptype: 'subscriber', room, streams: [{ feed }] });
      if (sub.jsep === undefined) throw new Error('subscriber join: no offer');
      sw.lap('play (offer)');
      const started = subHandle.async({ request: 'start' }, { type: 'answer', sdp: answerFor(sub.jsep.sdp) });
      const handshake = performance.now() - t0;
      await started;
      return { handshake, steps: sw.steps };
    } finally {
      // Teardown in the bridge's order (players, then each edge's copy: stop forwarding, remove the
      // remote publisher, destroy the edge room; then the publisher leaves; then the origin room).
      // Destroying the origin room while its remotized publisher was going away at the same time
      // aborted Janus 1.1.2 once (g_mutex_clear in the VideoRoom): the order matters.
      const quietly = (p: Promise<unknown>): Promise<unknown> => p.catch(() => undefined);
      if (subSession !== undefined) await quietly(subSession.destroy());
      subConn?.close();
      await Promise.all(
        edges.map(async (edge) => {
          const c = cascades.find((x) => x.edge === edge);
          if (c?.forwarding === true && publisherId !== undefined) {
            await quietly(ctl('origin').sync({ request: 'unpublish_remotely', room, publisher_id: publisherId, remote_id: c.remoteId, admin_key: s.apiSecret }));
          }
          if (c !== undefined) await quietly(ctl(edge).sync({ request: 'remove_remote_publisher', room, id: c.id }));
          if (edgeRooms.includes(edge)) await quietly(ctl(edge).sync({ request: 'destroy', room, admin_key: s.apiSecret, permanent: false }));
        }),
      );
      if (pubHandle !== undefined) {
        if (publisherId !== undefined) await quietly(pubHandle.async({ request: 'leave' }, undefined, 3000));
        await quietly(pubHandle.detach());
        await quietly(pubHandle.session.destroy());
      }
      if (originRoom) await quietly(ctl('origin').sync({ request: 'destroy', room, admin_key: s.apiSecret, permanent: false }));
      pubConn.close();
    }
  };
  return { cycle, close: () => conns.forEach((c) => c.close()) };
}

interface Tally {
  handshakes: number[];
  steps: Record<string, number[]>;
  cycles: number[];
  failures: number;
  errors: string[];
  seconds: number;
}

async function block(cycle: Cycle, prefix: string, concurrency: number, ms: number, tally: Tally): Promise<void> {
  const start = performance.now();
  const end = start + ms;
  let n = 0;
  const worker = async (): Promise<void> => {
    while (performance.now() < end) {
      const i = n++;
      const c0 = performance.now();
      try {
        const r = await cycle(`${prefix}-${i}`, i);
        tally.handshakes.push(r.handshake);
        tally.cycles.push(performance.now() - c0);
        for (const [k, ms] of Object.entries(r.steps)) (tally.steps[k] ??= []).push(ms);
      } catch (err) {
        tally.failures++;
        if (tally.errors.length < 5) tally.errors.push(errorText(err));
        await sleep(200);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, () => worker()));
  tally.seconds += (performance.now() - start) / 1000;
}

function sideOf(t: Tally): SignallingSide {
  return {
    cycles: t.cycles.length,
    failures: t.failures,
    firstErrors: t.errors,
    seconds: round(t.seconds, 2),
    cyclesPerSecond: round(t.cycles.length / t.seconds, 2),
    handshake: roundSummary(summarize(t.handshakes)),
    cycle: roundSummary(summarize(t.cycles)),
    stepsP50: Object.fromEntries(Object.entries(t.steps).map(([k, xs]) => [k, round(summarize(xs).p50, 1)])),
  };
}

export async function measureSignalling(s: SignallingSetup, plan: { concurrency: number; blockMs: number; blocks: number; runTag: string }): Promise<SignallingResult> {
  const janus = await janusCycleFactory(s);
  const closeJanus = s.cleanup.add('signalling control handles', () => janus.close());
  const tallies: Record<'fanout' | 'janus', Tally> = {
    fanout: { handshakes: [], steps: {}, cycles: [], failures: 0, errors: [], seconds: 0 },
    janus: { handshakes: [], steps: {}, cycles: [], failures: 0, errors: [], seconds: 0 },
  };
  const fanout = fanoutCycle(s);
  /** Durable Object requests during Fanout's blocks, by kind (the /health reads themselves taken out). */
  const doDelta: Record<string, number> = {};
  /** CPU seconds per component during each side's blocks, and the cycles they made. */
  const cpu: Record<'fanout' | 'janus', Record<string, number>> = { fanout: {}, janus: {} };
  const cycleCount = { fanout: 0, janus: 0 };
  let blocks = 0;
  try {
    for (let b = 0; b < plan.blocks; b++) {
      if (!s.deadline.allows(2 * plan.blockMs + 30_000)) {
        s.log(`  signalling: stopping at ${b} of ${plan.blocks} blocks (time budget)`);
        break;
      }
      const order = b % 2 === 0 ? (['fanout', 'janus'] as const) : (['janus', 'fanout'] as const);
      for (const which of order) {
        const before = which === 'fanout' ? await isolateDoRequests(s.workerWs) : undefined;
        const procs = s.processes?.() ?? [];
        const cpuBefore = cpuByComponent(procs);
        const cyclesBefore = tallies[which].cycles.length;
        await block(which === 'fanout' ? fanout : janus.cycle, `sig-${plan.runTag}-${which[0]}${b}`, plan.concurrency, plan.blockMs, tallies[which]);
        const cpuAfter = cpuByComponent(procs);
        for (const [component, sec] of Object.entries(cpuAfter)) cpu[which][component] = (cpu[which][component] ?? 0) + sec - (cpuBefore[component] ?? 0);
        cycleCount[which] += tallies[which].cycles.length - cyclesBefore;
        if (before !== undefined) {
          const after = await isolateDoRequests(s.workerWs);
          for (const [kind, n] of Object.entries(after)) doDelta[kind] = (doDelta[kind] ?? 0) + n - (before[kind] ?? 0) - (kind === 'table-awaited' ? 1 : 0);
        }
        // Let the bridge finish releasing closed sessions before the other side's block.
        await sleep(1000);
      }
      blocks++;
    }
  } finally {
    await closeJanus();
  }
  const f = sideOf(tallies.fanout);
  const j = sideOf(tallies.janus);
  s.log(`  signalling: fanout ${f.cyclesPerSecond}/s (p50 handshake ${f.handshake.p50} ms), janus ${j.cyclesPerSecond}/s (p50 ${j.handshake.p50} ms)`);
  s.log(`  signalling: median steps (ms): fanout ${JSON.stringify(f.stepsP50)}; janus ${JSON.stringify(j.stepsP50)}`);
  if (s.processes !== undefined) {
    s.log(`  signalling: CPU ms per cycle, fanout ${JSON.stringify(perCycle(cpu.fanout, cycleCount.fanout))}`);
    s.log(`  signalling: CPU ms per cycle, janus ${JSON.stringify(perCycle(cpu.janus, cycleCount.janus))}`);
  }
  s.log(`  signalling: Durable Object requests during Fanout's blocks ${JSON.stringify(doDelta)} over ${f.cycles} joins`);
  return {
    concurrency: plan.concurrency,
    blockMs: plan.blockMs,
    blocks,
    fanout: f,
    janus: j,
    rateRatio: round(f.cyclesPerSecond / j.cyclesPerSecond, 2),
    handshakeRatioP50: round(f.handshake.p50 / j.handshake.p50, 2),
    doRequestsPerJoin: round((doDelta['table-awaited'] ?? 0) / Math.max(1, f.cycles), 3),
    doRequests: doDelta,
    ...(s.processes === undefined ? {} : { cpuMsPerCycle: { fanout: perCycle(cpu.fanout, cycleCount.fanout), janus: perCycle(cpu.janus, cycleCount.janus) } }),
  };
}
