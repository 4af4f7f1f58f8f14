/**
 * Turns a run's results into the console table and the Markdown tables of BENCHMARKS.md. Pure:
 * results in, text out. Missing numbers print as "–" and failed phases say why.
 */
import type { Summary } from '../lib/stats.ts';
import { KEYFRAME_WAIT_MS, type TtffComparison } from '../phases/ttff.ts';
import type { BenchResults } from './results.ts';

const DASH = '–';

export function fmt(x: number | undefined, digits?: number): string {
  if (x === undefined || !Number.isFinite(x)) return DASH;
  const d = digits ?? (Math.abs(x) >= 100 ? 0 : Math.abs(x) >= 10 ? 1 : 2);
  return x.toFixed(d);
}

const ms = (x: number | undefined): string => (x === undefined || !Number.isFinite(x) ? DASH : `${fmt(x, Math.abs(x) >= 10 ? 0 : 1)}`);
const pair = (s: Summary | undefined): string => (s === undefined ? DASH : `${ms(s.p50)} / ${ms(s.p95)}`);
const ratio = (x: number | undefined): string => (x === undefined || !Number.isFinite(x) ? DASH : `${x.toFixed(2)}×`);

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** Text safe in a Markdown table cell: no HTML, no cell breaks. */
export function mdCell(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/\|/g, '\\|');
}

function table(head: string[], rows: string[][]): string {
  const line = (cells: string[]): string => `| ${cells.join(' | ')} |`;
  return [line(head), line(head.map(() => '---')), ...rows.map(line)].join('\n');
}

function errorOf(r: BenchResults, phase: string): string | undefined {
  return r.errors.find((e) => e.phase === phase)?.error;
}

function notMeasured(r: BenchResults, phase: string): string {
  const e = errorOf(r, phase);
  return `_Not measured in this run${e === undefined ? '' : `: ${e.replace(/\s+/g, ' ').slice(0, 300)}`}._`;
}

/** "2 cores, Intel(R) Xeon(R) Processor · Node v20 · Janus 1.1.2 · ...": one line for headers. */
export function setupLine(r: BenchResults): string {
  const m = r.machine;
  const v = r.versions;
  return [
    `${m.cores} cores (${m.cpuModel}), ${m.memoryGiB} GiB, Linux ${m.kernel}, load ${m.loadAverage.join(' / ')} at start`,
    `Node ${v.node}, Janus ${v.janus}, Chromium ${v.chromium}, wrangler ${v.wrangler} (workerd ${v.workerd}), Janode ${v.janode}, werift ${v.werift}`,
  ].join('; ');
}

export function runLine(r: BenchResults): string {
  const commit = r.git.commit === '' ? 'unknown commit' : `commit ${r.git.commit.slice(0, 12)}${r.git.dirty ? ' with uncommitted changes' : ''}`;
  return `${r.mode} run of ${r.startedAt} (${Math.round(r.durationS)} s), ${commit} on ${r.git.branch}`;
}

// ---------------------------------------------------------------- Markdown sections

export function summarySection(r: BenchResults): string {
  const t = r.ttff;
  const p = r.publishToPlayable;
  const rows: string[][] = [];
  if (t !== undefined) {
    rows.push(['Time to first frame, one viewer at a time (p50 / p95 ms)', pair(t.sequential.fanout.summary), pair(t.sequential.janus.summary), `${ratio(t.sequential.ratioP50)} / ${ratio(t.sequential.ratioP95)}`]);
    rows.push([`Time to first frame, ${t.burst.size} viewers at once (p50 / p95 ms)`, pair(t.burst.fanout.summary), pair(t.burst.janus.summary), `${ratio(t.burst.ratioP50)} / ${ratio(t.burst.ratioP95)}`]);
    for (const b of t.oneEdge ?? []) {
      rows.push([`Time to first frame, ${b.size} at once on one edge (p50 / p95 ms; viewers that waited for a keyframe)`, `${pair(b.fanout.summary)}; ${b.keyframeWaits.fanout} of ${b.fanout.trials.length}`, `${pair(b.janus.summary)}; ${b.keyframeWaits.janus} of ${b.janus.trials.length}`, `${ratio(b.ratioP50)} / ${ratio(b.ratioP95)}`]);
    }
  }
  if (p !== undefined) rows.push(['Publish requested → first frame on an edge (p50 / p95 ms)', pair(p.summary.firstFrameMs), DASH, DASH]);
  if (r.hop !== undefined) rows.push(['Origin → edge hop, added per packet (p50 / p99 ms)', `${fmt(r.hop.summary.p50)} / ${fmt(r.hop.summary.p99)}`, DASH, DASH]);
  if (r.signalling !== undefined) {
    const s = r.signalling;
    rows.push(['Connect + publish + play cycles per second', fmt(s.fanout.cyclesPerSecond), fmt(s.janus.cyclesPerSecond), ratio(s.rateRatio)]);
    // Results from before the isolate's node table have no such figure.
    if (s.doRequestsPerJoin !== undefined) rows.push(['Durable Object requests a viewer join waits for', fmt(s.doRequestsPerJoin), DASH, DASH]);
  }
  if (r.fanout?.winner !== undefined) {
    const top = r.fanout.comparedAt;
    const rowsOf = r.fanout.configs.map((c) => c.levels.find((l) => l.target === top));
    rows.push([
      `Edge Janus CPU at ${top} subscribers (% of a core): ${r.fanout.configs.map((c) => c.name).join(' vs ')}`,
      rowsOf.map((l) => fmt(l?.edgeCpuPct)).join(' vs '),
      DASH,
      `${r.fanout.winner} wins, ${ratio(r.fanout.winnerRatio)}`,
    ]);
  }
  const path = r.playPath === undefined ? '' : `\n\nFanout's players were served by: ${mdCell(r.playPath.summary)}.`;
  return `${runLine(r)}.\n\n${setupLine(r)}.\n\n${rows.length === 0 ? '_Nothing measured._' : table(['Measure', 'Fanout', 'Plain Janus', 'Fanout / Janus'], rows)}${path}`;
}

export function ttffSection(r: BenchResults): string {
  const t = r.ttff;
  if (t === undefined) return notMeasured(r, 'ttff');
  const row = (label: string, c: TtffComparison): string[][] => [
    [label, 'Fanout (SDK → origin → redirect → edge)', String(c.fanout.summary.n), ms(c.fanout.summary.p50), ms(c.fanout.summary.p95), ms(c.fanout.summary.min), ms(c.fanout.summary.max), pair(c.fanout.offerToFrame), String(c.fanout.failures.length), `${ratio(c.ratioP50)} / ${ratio(c.ratioP95)}`],
    [label, 'Plain Janus (raw WebSocket → same edge)', String(c.janus.summary.n), ms(c.janus.summary.p50), ms(c.janus.summary.p95), ms(c.janus.summary.min), ms(c.janus.summary.max), pair(c.janus.offerToFrame), String(c.janus.failures.length), ''],
  ];
  const rows = [...row('one at a time', t.sequential), ...row(`${t.burst.size} at once`, t.burst), ...(t.oneEdge ?? []).flatMap((b) => row(`${b.size} at once on ${b.edge}`, b))];
  const marks = (label: string, m: Record<string, number>): string =>
    `${label}: ${Object.entries(m)
      .sort((a, b) => a[1] - b[1])
      .map(([k, x]) => `${k} ${ms(x)}`)
      .join(', ')}`;
  return [
    table(['Viewers', 'Path', 'N', 'p50 ms', 'p95 ms', 'min', 'max', 'offer → frame p50 / p95', 'failed', 'Fanout / Janus (p50 / p95)'], rows),
    '',
    `One at a time: ${plural(t.sequential.trials, 'trial')} per path, interleaved, ${t.sequential.gapMs} ms apart. ${t.burst.size} at once: ${plural(t.burst.rounds, 'burst')} per path, interleaved, ${t.burst.gapMs} ms apart.${(t.oneEdge ?? []).map((b) => ` ${b.size} at once on ${b.edge}: ${plural(b.rounds, 'burst')} per path (Fanout's players connect to the edge itself); ${b.keyframeWaits.fanout} of ${b.fanout.trials.length} Fanout and ${b.keyframeWaits.janus} of ${b.janus.trials.length} plain Janus viewers waited for a keyframe (offer to frame over ${KEYFRAME_WAIT_MS} ms).`).join('')}`,
    '',
    'Median milestones (ms after asking):',
    '',
    `- one at a time, ${marks('Fanout', t.sequential.fanout.medianMarks)}`,
    `- one at a time, ${marks('plain Janus', t.sequential.janus.medianMarks)}`,
    `- ${t.burst.size} at once, ${marks('Fanout', t.burst.fanout.medianMarks)}`,
    `- ${t.burst.size} at once, ${marks('plain Janus', t.burst.janus.medianMarks)}`,
    '',
    `Served by: Fanout ${JSON.stringify(t.sequential.fanout.byNode)}, plain Janus ${JSON.stringify(t.sequential.janus.byNode)}.`,
  ].join('\n');
}

export function publishSection(r: BenchResults): string {
  const p = r.publishToPlayable;
  if (p === undefined) return notMeasured(r, 'publish');
  const s = p.summary;
  const ok = p.trials.filter((x) => x.ok).length;
  const rows = [
    ['publisher configured (bridge log)', pair(s.configuredMs)],
    ['cascade ready on every edge', pair(s.cascadeReadyMs)],
    ['PUBLISHING at the publisher', pair(s.publishingMs)],
    ['first frame at a viewer on an edge', pair(s.firstFrameMs)],
  ];
  return [
    table(['Milestone (ms after publish requested)', 'p50 / p95'], rows),
    '',
    `${ok} of ${p.trials.length} trials succeeded. The bridge's own figure, configured → cascade ready on every edge: ${pair(s.bridgeCascadeMs)} ms (p50 / p95). The viewer asked at PUBLISHING; its own time to first frame: ${pair(s.viewerTtffMs)} ms.`,
  ].join('\n');
}

export function hopSection(r: BenchResults): string {
  const h = r.hop;
  if (h === undefined) return notMeasured(r, 'hop');
  return [
    table(
      ['Edge', 'Packets matched', 'p50 ms', 'p95 ms', 'p99 ms', 'min', 'max'],
      [[h.edge, `${h.matched} of ${h.edgePackets}`, fmt(h.summary.p50), fmt(h.summary.p95), fmt(h.summary.p99), fmt(h.summary.min), fmt(h.summary.max)]],
    ),
    '',
    `Over ${(h.durationMs / 1000).toFixed(0)} s of a 30 fps VP8 + opus werift publisher; sequence-number offset between the two subscribers: ${h.seqOffset}.`,
  ].join('\n');
}

export function fanoutSection(r: BenchResults): string {
  const f = r.fanout;
  if (f === undefined) return notMeasured(r, 'fanout');
  const rows: string[][] = [];
  for (const c of f.configs) {
    const name = `${c.name} (event_loops ${c.eventLoops ?? 'unset'})`;
    rows.push([name, '0', fmt(c.idle.edgeCpuPct), DASH, DASH, DASH, String(c.idle.edgeThreads)]);
    for (const l of c.levels) {
      rows.push([name, l.subscribers === l.target ? String(l.subscribers) : `${l.subscribers} of ${l.target}`, fmt(l.edgeCpuPct), fmt(l.cpuPerSubscriberPct, 3), fmt(l.lossPct, 3), fmt(l.clientCpuPct, 0), String(l.edgeThreads)]);
    }
    if (c.error !== undefined) rows.push([name, DASH, `failed: ${c.error.slice(0, 120)}`, '', '', '', '']);
  }
  const verdict =
    f.winner === undefined
      ? 'No winner: the two settings did not both complete a common level.'
      : `At ${f.comparedAt} subscribers, **${f.winner}** used ${ratio(f.winnerRatio)} the edge CPU of the other setting.`;
  return [
    table(['Threading', 'Subscribers', 'Edge CPU %', 'CPU % per subscriber', 'Loss %', 'Subscriber processes CPU %', 'Edge threads'], rows),
    '',
    `${verdict} Window ${(f.windowMs / 1000).toFixed(0)} s per level.`,
  ].join('\n');
}

export function signallingSection(r: BenchResults): string {
  const s = r.signalling;
  if (s === undefined) return notMeasured(r, 'signalling');
  const row = (name: string, x: typeof s.fanout): string[] => [
    name,
    String(x.cycles),
    String(x.failures),
    fmt(x.cyclesPerSecond),
    pair(x.handshake),
    pair(x.cycle),
  ];
  return [
    table(
      ['Path', 'Cycles', 'Failed', 'Cycles / s', 'Handshake p50 / p95 ms', 'Whole cycle p50 / p95 ms'],
      [row('Fanout (worker → bridge → Janus)', s.fanout), row('Plain Janus API', s.janus)],
    ),
    '',
    `Median step times: Fanout ${steps(s.fanout.stepsP50)}; plain Janus ${steps(s.janus.stepsP50)}.`,
    '',
    `Concurrency ${s.concurrency}, ${plural(s.blocks, 'block')} of ${(s.blockMs / 1000).toFixed(0)} s per path, alternating. Fanout / Janus: ${ratio(s.rateRatio)} the rate, ${ratio(s.handshakeRatioP50)} the p50 handshake.${
      s.doRequests === undefined ? '' : ` Durable Object requests of the worker during Fanout's blocks, by kind: ${Object.entries(s.doRequests).map(([k, n]) => `${k} ${n}`).join(', ')}.`
    }${
      s.cpuMsPerCycle === undefined
        ? ''
        : `\n\nWhere a cycle's time goes (the machine is CPU-bound here, so CPU per cycle sets the rate), CPU ms per cycle by process: Fanout ${cpuLine(s.cpuMsPerCycle.fanout)}; plain Janus ${cpuLine(s.cpuMsPerCycle.janus)}.`
    }${
      s.fanout.firstErrors.length + s.janus.firstErrors.length > 0 ? ` First errors: ${[...s.fanout.firstErrors, ...s.janus.firstErrors].slice(0, 3).join('; ')}` : ''
    }`,
  ].join('\n');
}

function cpuLine(m: Record<string, number>): string {
  const total = Object.values(m).reduce((a, b) => a + b, 0);
  return `${Object.entries(m)
    .map(([k, x]) => `${k} ${fmt(x)}`)
    .join(', ')} (total ${fmt(total)})`;
}

function steps(m: Record<string, number>): string {
  return Object.entries(m)
    .map(([k, x]) => `${k} ${ms(x)}`)
    .join(', ');
}

export function memorySection(r: BenchResults): string {
  const m = r.memory;
  if (m === undefined) return notMeasured(r, 'memory');
  const rows = [
    ['idle (connected)', String(m.idle.sessions), fmt(m.idle.workerKiBPerSession), fmt(m.idle.bridgeKiBPerSession)],
    ...(m.active === undefined
      ? []
      : [['active (a publisher session + a player session on an edge, per pair)', String(m.active.sessions), fmt(m.active.workerKiBPerSession), fmt(m.active.bridgeKiBPerSession)]]),
  ];
  return [
    table(['Sessions', 'N', 'workerd KiB each', 'bridge KiB each'], rows),
    '',
    `Resident sets before: workerd ${fmt(m.workerBaseMiB)} MiB, bridge ${fmt(m.bridgeBaseMiB)} MiB.`,
  ].join('\n');
}

export function markdownSections(r: BenchResults): Record<string, string> {
  return {
    summary: summarySection(r),
    ttff: ttffSection(r),
    publish: publishSection(r),
    hop: hopSection(r),
    fanout: fanoutSection(r),
    signalling: signallingSection(r),
    memory: memorySection(r),
  };
}

// ---------------------------------------------------------------- console

export function consoleTable(r: BenchResults): string {
  const rows: Array<[string, string, string, string]> = [];
  const t = r.ttff;
  if (t !== undefined) {
    rows.push(['TTFF one at a time p50/p95 ms', pair(t.sequential.fanout.summary), pair(t.sequential.janus.summary), `${ratio(t.sequential.ratioP50)} / ${ratio(t.sequential.ratioP95)}`]);
    rows.push([`TTFF ${t.burst.size} at once p50/p95 ms`, pair(t.burst.fanout.summary), pair(t.burst.janus.summary), `${ratio(t.burst.ratioP50)} / ${ratio(t.burst.ratioP95)}`]);
    for (const b of t.oneEdge ?? []) rows.push([`TTFF ${b.size} on one edge p50/p95 ms`, pair(b.fanout.summary), pair(b.janus.summary), `${ratio(b.ratioP50)} / ${ratio(b.ratioP95)}`]);
  }
  const p = r.publishToPlayable;
  if (p !== undefined) {
    rows.push(['publish -> cascade ready p50/p95 ms', pair(p.summary.cascadeReadyMs), '', '']);
    rows.push(['publish -> PUBLISHING p50/p95 ms', pair(p.summary.publishingMs), '', '']);
    rows.push(['publish -> edge first frame p50/p95', pair(p.summary.firstFrameMs), '', '']);
  }
  if (r.hop !== undefined) rows.push(['origin->edge hop p50/p99 ms', `${fmt(r.hop.summary.p50)} / ${fmt(r.hop.summary.p99)}`, '', '']);
  const s = r.signalling;
  if (s !== undefined) {
    rows.push(['signalling cycles/s', fmt(s.fanout.cyclesPerSecond), fmt(s.janus.cyclesPerSecond), ratio(s.rateRatio)]);
    rows.push(['handshake p50/p95 ms', pair(s.fanout.handshake), pair(s.janus.handshake), ratio(s.handshakeRatioP50)]);
  }
  const m = r.memory;
  if (m !== undefined) {
    rows.push(['KiB per idle session worker/bridge', `${fmt(m.idle.workerKiBPerSession)} / ${fmt(m.idle.bridgeKiBPerSession)}`, '', '']);
    if (m.active !== undefined) rows.push(['KiB per active pair worker/bridge', `${fmt(m.active.workerKiBPerSession)} / ${fmt(m.active.bridgeKiBPerSession)}`, '', '']);
  }
  for (const c of r.fanout?.configs ?? []) {
    for (const l of c.levels) {
      rows.push([`edge CPU ${c.name} @${l.subscribers} subs`, `${fmt(l.edgeCpuPct)} % (${fmt(l.cpuPerSubscriberPct, 3)} %/sub), loss ${fmt(l.lossPct, 2)} %`, '', '']);
    }
  }
  if (r.fanout?.winner !== undefined) rows.push(['fan-out winner', `${r.fanout.winner} @${r.fanout.comparedAt}`, '', ratio(r.fanout.winnerRatio)]);
  const head: [string, string, string, string] = ['measure', 'Fanout', 'plain Janus', 'ratio'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]?.length ?? 0)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ');
  return [
    runLine(r),
    setupLine(r),
    r.playPath === undefined ? '' : `play path: ${r.playPath.summary}`,
    '',
    line(head),
    line(widths.map((w) => '-'.repeat(w))),
    ...rows.map(line),
    ...r.errors.map((e) => `FAILED ${e.phase}: ${e.error.split('\n')[0] ?? ''}`),
  ]
    .filter((l, i) => l !== '' || i === 3)
    .join('\n');
}
