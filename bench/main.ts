/**
 * `npm run bench`: measures Fanout side by side with plain Janus in one run, inside test/netns
 * (loopback only), and reports ratios, because the machines it runs on are shared and noisy.
 *
 *   npm run bench                 full run, at most 10 minutes
 *   npm run bench -- --quick      fewer trials and shorter windows, at most 2 minutes
 *   npm run bench -- --no-write   print only (results go to .fanout/bench/ instead)
 *   npm run bench -- --only=ttff,hop   some phases (ttff, publish, hop, signalling, memory, fanout);
 *                                       prints only, never rewrites the committed results
 *   npm run bench -- --render     measures nothing: redraws the charts and BENCHMARKS.md's tables from
 *                                 bench/results.json and bench/history.json (after editing the prose
 *                                 or the report code)
 *
 * Prints a table, writes bench/results.json and bench/charts/*.svg, and refreshes the generated
 * tables of BENCHMARKS.md. Every wait has a timeout, a deadline trims trials when the run is slow,
 * a watchdog ends the run past its budget, and everything started is stopped on success, failure
 * or Ctrl-C (and, as a last resort, by the namespace's PID namespace ending with this process).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
// The bench reads the nodes' Janus ports as the bridge does (config, not a contract: protocol/ has none of it).
import { loadTopology } from '../bridge/topology/index.ts';
import { BridgeClient } from '../test/harness/bridge-client.ts';
import { JanusInspector } from '../test/harness/janus-inspect.ts';
import { requireNamespace, ROOT, Stack } from '../test/harness/stack.ts';
import { BenchBrowser } from './browser.ts';
import { JanusConnection } from './lib/janus-api.ts';
import { gitInfo, machineInfo, versions } from './lib/machine.ts';
import { Cleanup, Deadline, errorText, until, withTimeout } from './lib/run.ts';
import { descendantsNamed, type Accounted } from './lib/proc.ts';
import { publisherOffer } from './lib/sdp.ts';
import { measureFanout, type FanoutPlan } from './phases/fanout.ts';
import { measureHopLatency } from './phases/hop-latency.ts';
import { measureMemory } from './phases/memory.ts';
import { measurePublishToPlayable } from './phases/publish-playable.ts';
import { measureSignalling } from './phases/signalling.ts';
import { measureTtff, type TtffPlan } from './phases/ttff.ts';
import { refreshMarkdown } from './report/docs.ts';
import { appendHistory, historyEntry, historySection, parseHistory, type HistoryEntry } from './report/history.ts';
import { PHASES, type BenchResults, type Phase, type PlayPath } from './report/results.ts';
import { fanoutSvg, ttffSvg, type TtffBaseline } from './report/svg.ts';
import { consoleTable, markdownSections, runLine } from './report/tables.ts';

// ---------------------------------------------------------------- plans

interface Plan {
  budgetMs: number;
  ttff: TtffPlan;
  publishTrials: number;
  hopMs: number;
  signalling: { concurrency: number; blockMs: number; blocks: number };
  memory: { idle: number; active: number; settleMs: number };
  fanout: FanoutPlan;
}

const FANOUT_CONFIGS = [
  { name: 'default', eventLoops: '' },
  { name: 'tuned', eventLoops: '2' },
];

const FULL: Plan = {
  budgetMs: 600_000,
  ttff: { sequentialTrials: 20, burstRounds: 3, burstSize: 8, oneEdgeSizes: [8, 24], oneEdgeRounds: 2, gapMs: 1200, trialTimeoutMs: 10_000 },
  publishTrials: 5,
  hopMs: 10_000,
  signalling: { concurrency: 4, blockMs: 6000, blocks: 2 },
  memory: { idle: 100, active: 40, settleMs: 2000 },
  fanout: { levels: [10, 25, 50], windowMs: 8000, settleMs: 2000, processes: 2, configs: FANOUT_CONFIGS },
};

const QUICK: Plan = {
  budgetMs: 120_000,
  ttff: { sequentialTrials: 4, burstRounds: 1, burstSize: 8, oneEdgeSizes: [8, 24], oneEdgeRounds: 1, gapMs: 1100, trialTimeoutMs: 8000 },
  publishTrials: 1,
  hopMs: 3000,
  signalling: { concurrency: 4, blockMs: 2500, blocks: 1 },
  memory: { idle: 20, active: 4, settleMs: 1000 },
  fanout: { levels: [10, 25], windowMs: 2500, settleMs: 500, processes: 2, configs: FANOUT_CONFIGS },
};

/**
 * Every client of the benchmark connects from 127.0.0.1, where real viewers come from many
 * addresses: the worker's per-address session limit (WCS_MAX_SESSIONS_PER_MINUTE, 60) is lifted
 * for the benchmark's stack. The launcher passes only BRIDGE_URL to wrangler dev as a var, so this
 * goes through wrangler's CLOUDFLARE_INCLUDE_PROCESS_ENV (the environment becomes the worker's
 * bindings; the worker ignores the ones it does not know).
 */
const UNLIMITED_SESSIONS = { CLOUDFLARE_INCLUDE_PROCESS_ENV: 'true', WCS_MAX_SESSIONS_PER_MINUTE: '0' };

/** Time kept back from the budget for writing results and stopping everything. */
const RESERVE_MS = 15_000;
const EDGE_FOR_HOP_AND_FANOUT = 'edge-1';

// ---------------------------------------------------------------- arguments

function parseArgs(argv: string[]): { quick: boolean; write: boolean; render: boolean; only: Phase[] | undefined } {
  let quick = false;
  let write = true;
  let render = false;
  let only: Phase[] | undefined;
  for (const a of argv) {
    if (a === '--quick') quick = true;
    else if (a === '--render') render = true;
    else if (a === '--no-write') write = false;
    else if (a.startsWith('--only=')) {
      const names = a.slice('--only='.length).split(',').filter((x) => x !== '');
      const bad = names.filter((n) => !(PHASES as readonly string[]).includes(n));
      if (bad.length > 0) throw new Error(`--only: unknown phase ${bad.join(', ')} (phases: ${PHASES.join(', ')})`);
      only = names.filter((n): n is Phase => (PHASES as readonly string[]).includes(n));
    } else throw new Error(`unknown argument "${a}" (use --quick, --no-write, --render, --only=${PHASES.join(',')})`);
  }
  return { quick, write: write && only === undefined, render, only };
}

function chromiumVersion(): string {
  try {
    const out = execFileSync('/usr/bin/chromium', ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 10_000 });
    return /Chromium\s+([\d.]+)/.exec(out)?.[1] ?? '';
  } catch {
    return '';
  }
}

const log = (msg: string): void => {
  process.stdout.write(`${msg}\n`);
};

// ---------------------------------------------------------------- the run

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  if (args.render) return renderOnly();
  requireNamespace();
  const plan = args.quick ? QUICK : FULL;
  const phases = args.only ?? [...PHASES];
  const wants = (p: Phase): boolean => phases.includes(p);
  const started = Date.now();
  const deadline = new Deadline(plan.budgetMs - RESERVE_MS);
  const cleanup = new Cleanup();
  const runTag = started.toString(36);
  /** The stacks' state folders (configs, logs): removed after a clean run, kept to debug a failed one. */
  const stateDirs: string[] = [];

  let stopping = false;
  const stop = (why: string, code: number): void => {
    if (stopping) return;
    stopping = true;
    log(`\n${why}: stopping everything the benchmark started...`);
    void cleanup.runAll().finally(() => process.exit(code));
  };
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, () => stop(sig, 130));
  // The last line of defence against a hang: past the budget (plus slack), end the run.
  setTimeout(() => stop(`over the ${plan.budgetMs / 1000} s budget`, 2), plan.budgetMs + 30_000).unref();

  const results: BenchResults = {
    schema: 1,
    mode: args.quick ? 'quick' : 'full',
    phases,
    startedAt: new Date(started).toISOString(),
    durationS: 0,
    git: gitInfo(ROOT),
    machine: machineInfo(),
    versions: versions(ROOT, chromiumVersion()),
    errors: [],
  };
  log(`Fanout benchmark (${results.mode}): ${phases.join(', ')}; budget ${plan.budgetMs / 1000} s`);

  const phase = async <T>(name: string, fn: () => Promise<T>): Promise<T | undefined> => {
    const t0 = Date.now();
    log(`- ${name}...`);
    try {
      const r = await fn();
      log(`  ${name} done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      return r;
    } catch (err) {
      const e = errorText(err);
      results.errors.push({ phase: name, error: e });
      log(`  ${name} FAILED after ${((Date.now() - t0) / 1000).toFixed(1)} s: ${e.split('\n')[0] ?? ''}`);
      return undefined;
    }
  };

  try {
    const topology = loadTopology(join(ROOT, 'loadbalancing.xml'));
    const janusUrls = Object.fromEntries(topology.nodes.map((n) => [n.id, n.janusUrl]));
    const origin = topology.nodes.find((n) => n.role === 'origin');
    if (origin === undefined) throw new Error('loadbalancing.xml has no origin');
    const edges = topology.nodes.filter((n) => n.role === 'edge').map((n) => n.id);

    if (phases.some((p) => p !== 'fanout')) {
      await runMainStack();
    }
    if (wants('fanout')) {
      results.fanout = await phase('fan-out (two stacks: Janus default threading, event_loops 2)', () =>
        measureFanout(plan.fanout, { cleanup, deadline, log, edge: EDGE_FOR_HOP_AND_FANOUT, stateDirs }),
      );
    }

    async function runMainStack(): Promise<void> {
      const t0 = Date.now();
      // The one bridge (`--bridge`), as in the landed baseline: publish-to-playable reads its cascade
      // log and the memory phase its process; the agents' path is measured by the suites for now.
      const stack = await Stack.start({ bridge: true, env: { FANOUT_LOG_LEVEL: 'info', ...UNLIMITED_SESSIONS } });
      stateDirs.push(stack.stateDir);
      results.stackStartMs = Date.now() - t0;
      const stopStack = cleanup.add('main stack', () => stack.stop());
      log(`  stack up in ${results.stackStartMs} ms (state: ${stack.stateDir})`);
      const info = stack.info();
      const { janusApiSecret } = stack.secrets();
      const originWs = `ws://${origin?.host ?? ''}/`;
      const workerWs = info.workerUrl.replace(/^http/, 'ws');
      const bridgeLog = join(stack.stateDir, 'logs', 'bridge.log');

      if (wants('ttff') || wants('publish')) {
        const browser = await BenchBrowser.launch(`${info.workerUrl}/sdk/fanout.js`);
        const closeBrowser = cleanup.add('browser', () => browser.close());
        if (browser.version !== '') results.versions.chromium = browser.version;
        try {
          if (wants('ttff')) {
            await phase('time to first frame (Fanout vs plain Janus, headless Chromium)', async () => {
              const stream = `ttff-${runTag}`;
              const pubPage = await browser.newPage();
              const pub = await pubPage.publish({ urlServer: originWs, stream, timeoutMs: 20_000 });
              if (!pub.ok) throw new Error(`the publisher did not start: ${pub.error ?? ''}\n${browser.log(pubPage)}`);
              const edgeFeeds = await feedsOn(edges, janusUrls, janusApiSecret, stream);
              const edgeUrls = Object.fromEntries(topology.nodes.filter((n) => n.role === 'edge').map((n) => [n.id, `ws://${n.host}/`]));
              results.ttff = await measureTtff(
                { browser, originUrl: originWs, stream, apiSecret: janusApiSecret, edgeJanus: janusUrls, edgeUrls, edgeFeeds, deadline, log },
                plan.ttff,
              );
              results.playPath = await playPath(results, janusUrls[edges[0] ?? ''] ?? '', janusApiSecret);
              await pubPage.closeAll();
              await pubPage.page.close();
            });
          }
          if (wants('publish')) {
            results.publishToPlayable = await phase('publish to playable', () =>
              measurePublishToPlayable({ browser, originUrl: originWs, bridgeLog, streamPrefix: `p2p-${runTag}`, deadline, log }, plan.publishTrials, 15_000),
            );
          }
        } finally {
          await closeBrowser();
        }
      }
      if (wants('hop')) {
        results.hop = await phase('hop latency (origin vs edge werift subscribers)', () =>
          measureHopLatency({
            connect: async (node) => BridgeClient.connect(stack.agentUrl(node), await stack.agentSecret(node)),
            edge: EDGE_FOR_HOP_AND_FANOUT,
            stream: `hop-${runTag}`,
            durationMs: plan.hopMs,
            cleanup,
          }),
        );
      }
      if (wants('signalling') || wants('memory')) {
        const offer = await publisherOffer();
        if (wants('signalling')) {
          results.signalling = await phase('signalling (worker vs Janus API)', () =>
            measureSignalling({ workerWs, janusUrls, apiSecret: janusApiSecret, offer, deadline, cleanup, log, processes: () => stackProcesses(stack) }, { ...plan.signalling, runTag }),
          );
        }
        if (wants('memory')) {
          results.memory = await phase('memory per session (workerd, bridge)', () =>
            measureMemory({
              workerWs,
              wranglerPid: stack.pidOf('worker (wrangler dev)'),
              bridgePid: stack.pidOf('bridge'),
              offer,
              idleSessions: plan.memory.idle,
              activeSessions: plan.memory.active,
              settleMs: plan.memory.settleMs,
              runTag,
              cleanup,
              log,
            }),
          );
        }
      }
      await stopStack();
    }
  } catch (err) {
    results.errors.push({ phase: 'setup', error: errorText(err) });
    log(`FAILED: ${errorText(err)}`);
  } finally {
    await cleanup.runAll();
  }

  results.durationS = Math.round((Date.now() - started) / 100) / 10;
  log(`\n${consoleTable(results)}\n`);
  writeOutputs(results, args.write);
  if (results.errors.length === 0) for (const dir of stateDirs) rmSync(dir, { recursive: true, force: true });
  else log(`Logs of the stacks: ${stateDirs.join(', ')}`);
  return results.errors.length === 0 ? 0 : 1;
}

/** The stream's room and remote publisher on each edge, once the cascade has reached them. */
/**
 * The stack's processes by component, for the signalling phase's CPU profile: the benchmark's own
 * client, the launcher, the bridge or each agent, each Janus node, the worker's workerd processes
 * and wrangler dev's own Node process (a local development proxy that production does not have).
 */
function stackProcesses(stack: Stack): Accounted[] {
  const out: Accounted[] = [{ component: 'bench client', pid: process.pid }];
  if (stack.process.pid !== undefined) out.push({ component: 'launcher', pid: stack.process.pid });
  for (const c of stack.info().children) {
    if (c.name === 'worker (wrangler dev)') {
      out.push({ component: 'wrangler dev (node)', pid: c.pid });
      for (const pid of descendantsNamed(c.pid, 'node')) out.push({ component: 'wrangler dev (node)', pid });
      for (const pid of descendantsNamed(c.pid, 'workerd')) out.push({ component: 'workerd', pid });
    } else {
      out.push({ component: c.name, pid: c.pid });
    }
  }
  return out;
}

async function feedsOn(edges: string[], janusUrls: Record<string, string>, secret: string, stream: string): Promise<Record<string, { room: number; feed: number }>> {
  const out: Record<string, { room: number; feed: number }> = {};
  for (const edge of edges) {
    const inspector = await JanusInspector.connect(janusUrls[edge] ?? '', secret);
    try {
      await until(
        `the remote publisher of ${stream} on ${edge}`,
        async () => {
          const room = await inspector.streamRoom(stream);
          const feed = room?.participants.find((p) => p.remote === true);
          if (room === undefined || feed === undefined) return false;
          out[edge] = { room: room.room, feed: feed.id };
          return true;
        },
        10_000,
        200,
      );
    } finally {
      await inspector.close();
    }
  }
  return out;
}

/** Which Janus plugin served Fanout's players: from their SDPs, and whether the edge has the Streaming plugin. */
async function playPath(r: BenchResults, edgeJanus: string, secret: string): Promise<PlayPath> {
  const fanout = r.ttff?.sequential.fanout.sdpSessions ?? {};
  const janus = r.ttff?.sequential.janus.sdpSessions ?? {};
  let streamingPluginOnEdge: boolean | null = null;
  try {
    const conn = await JanusConnection.connect(edgeJanus, secret);
    try {
      const session = await conn.session();
      streamingPluginOnEdge = await session.attach('janus.plugin.streaming').then(
        () => true,
        () => false,
      );
      await withTimeout(session.destroy(), 5000, 'destroy').catch(() => undefined);
    } finally {
      conn.close();
    }
  } catch {
    streamingPluginOnEdge = null;
  }
  const kinds = Object.entries(fanout)
    .sort((a, b) => b[1] - a[1])
    .map(([s, n]) => `${/^VideoRoom/i.test(s) ? 'a VideoRoom subscriber' : `"${s}"`} (SDP s=${s}, ${n} trials)`);
  const plugin = streamingPluginOnEdge === null ? '' : `; Streaming plugin ${streamingPluginOnEdge ? 'loaded' : 'not loaded'} on the edge`;
  return { fanout, janus, streamingPluginOnEdge, summary: `${kinds.join(', ') || 'unknown'}${plugin}` };
}

const RESULTS_FILE = join(ROOT, 'bench', 'results.json');
const HISTORY_FILE = join(ROOT, 'bench', 'history.json');
const DOC_FILE = join(ROOT, 'BENCHMARKS.md');

function writeOutputs(r: BenchResults, write: boolean): void {
  const scratch = join(ROOT, '.fanout', 'bench');
  mkdirSync(scratch, { recursive: true });
  const json = `${JSON.stringify(r, null, 2)}\n`;
  if (!write) {
    writeFileSync(join(scratch, 'results.json'), json);
    log(`Not writing the committed results (--no-write or --only): ${join(scratch, 'results.json')}`);
    return;
  }
  writeFileSync(RESULTS_FILE, json);
  const history = appendHistory(readHistory(), historyEntry(r));
  writeFileSync(HISTORY_FILE, `${JSON.stringify(history, null, 2)}\n`);
  renderDocs(r, history);
}

function readHistory(): HistoryEntry[] {
  return parseHistory(existsSync(HISTORY_FILE) ? readFileSync(HISTORY_FILE, 'utf8') : undefined);
}

/** The charts and BENCHMARKS.md's generated tables, from one run's results and the history. */
function renderDocs(r: BenchResults, history: HistoryEntry[]): void {
  const charts = join(ROOT, 'bench', 'charts');
  mkdirSync(charts, { recursive: true });
  const caption = `${runLine(r)}. Rerun: npm run bench`;
  if (r.ttff !== undefined) writeFileSync(join(charts, 'ttff.svg'), ttffSvg(r.ttff, caption, baselines()));
  if (r.fanout !== undefined && r.fanout.configs.some((c) => c.levels.length > 0)) writeFileSync(join(charts, 'fanout-cpu.svg'), fanoutSvg(r.fanout, caption));
  try {
    writeFileSync(DOC_FILE, refreshMarkdown(readFileSync(DOC_FILE, 'utf8'), { ...markdownSections(r), history: historySection(history) }));
    log('Charts (bench/charts) and BENCHMARKS.md tables refreshed.');
  } catch (err) {
    log(`bench/results.json written, but BENCHMARKS.md was not refreshed: ${errorText(err)}`);
  }
}

/** Our own results file, checked for the fields the report reads before it is used as results. */
function isBenchResults(x: unknown): x is BenchResults {
  if (typeof x !== 'object' || x === null) return false;
  const o = x as Record<string, unknown>;
  return o['schema'] === 1 && typeof o['startedAt'] === 'string' && typeof o['git'] === 'object' && typeof o['machine'] === 'object' && Array.isArray(o['errors']);
}

/**
 * Earlier runs kept in bench/baselines/ (e.g. edge playback before keyframe buffering), drawn under
 * the current bursts in the TTFF chart.
 */
function baselines(): TtffBaseline[] {
  const dir = join(ROOT, 'bench', 'baselines');
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .flatMap((f) => {
      const x: unknown = JSON.parse(readFileSync(join(dir, f), 'utf8'));
      if (!isBenchResults(x) || x.ttff === undefined) return [];
      const path = Object.keys(x.playPath?.fanout ?? {}).join(', ') || 'unknown path';
      return [{ label: `before: ${x.git.commit.slice(0, 7)}, ${path}`, ttff: x.ttff }];
    });
}

function renderOnly(): number {
  const parsed: unknown = JSON.parse(readFileSync(RESULTS_FILE, 'utf8'));
  if (!isBenchResults(parsed)) throw new Error(`${RESULTS_FILE} is not a results file of this benchmark (schema 1)`);
  renderDocs(parsed, readHistory());
  return 0;
}

process.exitCode = await main();
// Lingering sockets or timers of a failed phase must not keep the run alive.
setTimeout(() => process.exit(), 2000).unref();
