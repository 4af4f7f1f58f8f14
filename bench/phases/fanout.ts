/**
 * Fan-out: the edge Janus's CPU per subscriber, and packet loss, at growing numbers of werift
 * subscribers on one edge, for each Janus threading setting. Each setting gets a stack of its own
 * (Janus nodes and the bridge, no worker: nothing here goes through it), with the role default
 * EVENT_LOOPS overridden through FANOUT_JANUS_OVERRIDE_EVENT_LOOPS (empty: Janus's own default, a
 * thread per handle). One werift publisher (opus + 30 fps VP8) on the origin; subscribers are added
 * level by level and held in child processes (fanout-subscribers.ts).
 *
 * CPU is the edge janus process's utime + stime over a fixed window, as a share of one core;
 * "per subscriber" is the increase over the same edge with no subscriber (it still receives the
 * cascade), divided by the number of subscribers.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { newMediaId } from '../../protocol/index.ts';
import { BridgeClient, isPublisherEvent } from '../../test/harness/bridge-client.ts';
import { ROOT, Stack } from '../../test/harness/stack.ts';
import { WeriftPublisher } from '../../test/harness/werift-peer.ts';
import { cpuSeconds, threadCount } from '../lib/proc.ts';
import { errorText, sleep, withTimeout, type Cleanup, type Deadline } from '../lib/run.ts';
import { round } from '../lib/stats.ts';

export interface FanoutLevel {
  /** Subscribers asked for at this level. */
  target: number;
  /** Subscribers that joined (fewer than target if some failed). */
  subscribers: number;
  /** Edge janus CPU, % of one core, over the window. */
  edgeCpuPct: number;
  /** (edgeCpuPct - the same with 0 subscribers) / subscribers. */
  cpuPerSubscriberPct: number;
  /** Origin janus CPU, % of one core (the cascade's sender, for context). */
  originCpuPct: number;
  /** RTP packets lost over every subscriber's streams in the window, % of expected. */
  lossPct: number;
  expectedPackets: number;
  /** CPU of the subscriber processes, % of one core: near 100 % per process, loss may be theirs. */
  clientCpuPct: number;
  edgeThreads: number;
  /** Subscribers that failed to join (then the level has fewer). */
  joinErrors: string[];
}

export interface FanoutConfigResult {
  name: string;
  /** The event_loops value written to the edge's janus.jcfg, or null when left to Janus. */
  eventLoops: number | null;
  levels: FanoutLevel[];
  idle: { edgeCpuPct: number; edgeThreads: number };
  error?: string;
}

export interface FanoutResult {
  windowMs: number;
  configs: FanoutConfigResult[];
  /** Name of the config with the lower edge CPU at the largest subscriber count both reached. */
  winner?: string;
  /** That subscriber count. */
  comparedAt?: number;
  /** The winner's edge CPU relative to the other's there (0.5: half). */
  winnerRatio?: number;
}

export interface FanoutPlan {
  levels: number[];
  windowMs: number;
  settleMs: number;
  /** Subscriber processes. */
  processes: number;
  configs: Array<{ name: string; eventLoops: string }>;
}

export interface FanoutContext {
  cleanup: Cleanup;
  deadline: Deadline;
  log(msg: string): void;
  /** The edge the subscribers join. */
  edge: string;
  /** Collects each stack's state folder (the caller removes them after a clean run). */
  stateDirs: string[];
}

type Reply = Record<string, unknown> & { op: string };

class SubscriberProcess {
  readonly child: ChildProcess;
  readonly #waiting = new Map<string, { resolve(r: Reply): void; reject(e: Error): void }>();
  /** Replies that arrived before anyone asked (e.g. "ready"). */
  readonly #unclaimed = new Map<string, Reply>();

  constructor(bridgeUrl: string, bridgeSecret: string) {
    this.child = fork(join(ROOT, 'bench/phases/fanout-subscribers.ts'), [], {
      execArgv: ['--import', 'tsx'],
      env: { ...process.env, FANOUT_BENCH_BRIDGE_URL: bridgeUrl, FANOUT_BENCH_BRIDGE_SECRET: bridgeSecret },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.child.once('exit', (code) => {
      for (const w of this.#waiting.values()) w.reject(new Error(`subscriber process exited (${code})`));
      this.#waiting.clear();
    });
    this.child.on('message', (m) => {
      if (typeof m !== 'object' || m === null || !('op' in m) || typeof m.op !== 'string') return;
      const reply = m as Reply;
      const w = this.#waiting.get(reply.op);
      this.#waiting.delete(reply.op);
      if (w === undefined) this.#unclaimed.set(reply.op, reply);
      else w.resolve(reply);
    });
  }

  /** Sends `cmd` and waits for the reply named `replyOp`. */
  ask(cmd: Record<string, unknown>, replyOp: string, timeoutMs: number): Promise<Reply> {
    const early = this.#unclaimed.get(replyOp);
    this.#unclaimed.delete(replyOp);
    const got = new Promise<Reply>((resolve, reject) => {
      if (early !== undefined) return resolve(early);
      if (this.child.exitCode !== null || this.child.signalCode !== null) return reject(new Error('subscriber process has exited'));
      this.#waiting.set(replyOp, { resolve, reject });
    });
    if (cmd['op'] !== undefined) this.child.send(cmd);
    return withTimeout(got, timeoutMs, `subscriber process: ${replyOp}`);
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    await this.ask({ op: 'close' }, 'closed', 15_000).catch(() => undefined);
    if (this.child.exitCode === null) this.child.kill('SIGKILL');
  }
}

function num(r: Reply, k: string): number {
  const x = r[k];
  return typeof x === 'number' ? x : Number.NaN;
}

function configuredEventLoops(stack: Stack, node: string): number | null {
  const text = readFileSync(join(stack.stateDir, 'nodes', node, 'janus.jcfg'), 'utf8');
  const m = /^\s*event_loops\s*=\s*(\d+)/m.exec(text);
  return m === null ? null : Number(m[1]);
}

async function measureConfig(
  cfg: { name: string; eventLoops: string },
  plan: FanoutPlan,
  o: FanoutContext,
): Promise<FanoutConfigResult> {
  const result: FanoutConfigResult = { name: cfg.name, eventLoops: null, levels: [], idle: { edgeCpuPct: Number.NaN, edgeThreads: 0 } };
  // The one bridge: with no worker there is no coordinator to relay the stream to the edge, and the
  // phase measures Janus, not its controller.
  const stack = await Stack.start({ bridge: true, worker: false, env: { FANOUT_JANUS_OVERRIDE_EVENT_LOOPS: cfg.eventLoops, FANOUT_LOG_LEVEL: 'warn' } });
  o.stateDirs.push(stack.stateDir);
  const stopStack = o.cleanup.add(`fan-out stack (${cfg.name})`, () => stack.stop());
  const procs: SubscriberProcess[] = [];
  const pub = new WeriftPublisher({ audio: true, video: 'vp8' });
  let bc: BridgeClient | undefined;
  const stopPeers = o.cleanup.add(`fan-out peers (${cfg.name})`, async () => {
    await Promise.all(procs.map((p) => p.close()));
    await pub.close();
    await bc?.close();
  });
  try {
    result.eventLoops = configuredEventLoops(stack, o.edge);
    const { bridgeSecret } = stack.secrets();
    const bridgeUrl = stack.info().bridgeUrl;
    const edgePid = stack.pidOf(`janus ${o.edge}`);
    const originPid = stack.pidOf('janus origin');
    bc = await BridgeClient.connect(bridgeUrl, bridgeSecret);
    const stream = `fanout-${cfg.name}`;
    // The requester names what it creates (protocol/api.ts): the publish's id is ours.
    const publishId = newMediaId('pub');
    const published = await bc.request('publish', { publishId, node: 'origin', stream, sdp: await pub.offer() });
    await pub.accept(published.sdp);
    await bc.waitForEvent('PUBLISHING', isPublisherEvent(publishId, 'PUBLISHING'), { timeoutMs: 15_000 });
    for (let i = 0; i < plan.processes; i++) procs.push(new SubscriberProcess(bridgeUrl, bridgeSecret));
    await Promise.all(procs.map((p) => p.ask({}, 'ready', 20_000)));

    const window = async (): Promise<{ edge: number; origin: number; secs: number }> => {
      const e0 = cpuSeconds(edgePid);
      const o0 = cpuSeconds(originPid);
      const t0 = performance.now();
      await sleep(plan.windowMs);
      const secs = (performance.now() - t0) / 1000;
      return { edge: ((cpuSeconds(edgePid) - e0) / secs) * 100, origin: ((cpuSeconds(originPid) - o0) / secs) * 100, secs };
    };

    await sleep(plan.settleMs);
    const idle = await window();
    result.idle = { edgeCpuPct: round(idle.edge, 2), edgeThreads: threadCount(edgePid) };
    o.log(`  fan-out ${cfg.name}: event_loops ${result.eventLoops ?? 'unset'}, idle edge ${round(idle.edge, 2)} % CPU, ${result.idle.edgeThreads} threads`);

    let have = 0;
    for (const level of plan.levels) {
      // Joining costs about 0.3 s per subscriber here (werift DTLS, Janus, the bridge); stop early
      // rather than overrun the run's budget.
      if (!o.deadline.allows(plan.windowMs + plan.settleMs + (level - have) * 300 + 8000)) {
        o.log(`  fan-out ${cfg.name}: skipping ${level} subscribers and above (time budget)`);
        break;
      }
      const want = level - have;
      const shares = procs.map((_, i) => Math.floor(want / procs.length) + (i < want % procs.length ? 1 : 0));
      const added = await Promise.all(
        procs.map((p, i) => ((shares[i] ?? 0) > 0 ? p.ask({ op: 'add', n: shares[i], node: o.edge, stream }, 'added', 90_000) : Promise.resolve(undefined))),
      );
      const joinErrors = added.flatMap((r) => (r !== undefined && Array.isArray(r['errors']) ? r['errors'].map(String) : []));
      have += added.reduce((a, r) => a + (r === undefined ? 0 : num(r, 'ok')), 0);
      await sleep(plan.settleMs);
      await Promise.all(procs.map((p) => p.ask({ op: 'mark' }, 'marked', 10_000)));
      const w = await window();
      const reports = await Promise.all(procs.map((p) => p.ask({ op: 'report' }, 'report', 10_000)));
      const expected = reports.reduce((a, r) => a + num(r, 'expected'), 0);
      const lost = reports.reduce((a, r) => a + num(r, 'lost'), 0);
      const clientCpu = reports.reduce((a, r) => a + num(r, 'cpuSeconds'), 0);
      const lvl: FanoutLevel = {
        target: level,
        subscribers: have,
        edgeCpuPct: round(w.edge, 2),
        cpuPerSubscriberPct: round(have > 0 ? (w.edge - idle.edge) / have : Number.NaN, 3),
        originCpuPct: round(w.origin, 2),
        lossPct: round(expected > 0 ? (lost / expected) * 100 : Number.NaN, 3),
        expectedPackets: expected,
        clientCpuPct: round((clientCpu / w.secs) * 100, 1),
        edgeThreads: threadCount(edgePid),
        joinErrors,
      };
      result.levels.push(lvl);
      o.log(
        `  fan-out ${cfg.name}: ${have} subscribers: edge ${lvl.edgeCpuPct} % CPU (${lvl.cpuPerSubscriberPct} %/sub), loss ${lvl.lossPct} %, clients ${lvl.clientCpuPct} % CPU, ${lvl.edgeThreads} threads`,
      );
    }
    await withTimeout(bc.request('unpublish', { publishId }), 10_000, 'unpublish').catch(() => undefined);
  } catch (err) {
    result.error = errorText(err);
    o.log(`  fan-out ${cfg.name}: ${result.error}`);
  } finally {
    await stopPeers();
    await stopStack();
  }
  return result;
}

export async function measureFanout(plan: FanoutPlan, o: FanoutContext): Promise<FanoutResult> {
  const configs: FanoutConfigResult[] = [];
  for (const cfg of plan.configs) configs.push(await measureConfig(cfg, plan, o));
  const out: FanoutResult = { windowMs: plan.windowMs, configs };
  // Compare at the largest subscriber level both settings reached.
  const [a, b] = configs;
  if (a !== undefined && b !== undefined) {
    const common = a.levels.map((l) => l.target).filter((n) => b.levels.some((l) => l.target === n));
    const top = Math.max(...common);
    const la = a.levels.find((l) => l.target === top);
    const lb = b.levels.find((l) => l.target === top);
    if (la !== undefined && lb !== undefined && Number.isFinite(la.edgeCpuPct) && Number.isFinite(lb.edgeCpuPct)) {
      const aWins = la.edgeCpuPct <= lb.edgeCpuPct;
      out.winner = aWins ? a.name : b.name;
      out.comparedAt = top;
      out.winnerRatio = round(aWins ? la.edgeCpuPct / lb.edgeCpuPct : lb.edgeCpuPct / la.edgeCpuPct, 2);
    }
  }
  return out;
}
