/**
 * The charts of BENCHMARKS.md as standalone SVG (no library, no fonts beyond the viewer's sans):
 * the time-to-first-frame distributions of Fanout and plain Janus (every trial a dot, p50 and p95
 * marked), and the edge's CPU per subscriber against the number of subscribers per threading
 * setting. Pure: results in, SVG text out.
 */
import { percentile } from '../lib/stats.ts';
import type { FanoutResult } from '../phases/fanout.ts';
import type { TtffResult } from '../phases/ttff.ts';

const COLORS = { fanout: '#d9480f', janus: '#1c7ed6', grid: '#dee2e6', text: '#212529', muted: '#868e96' } as const;
const SERIES = ['#d9480f', '#1c7ed6', '#2b8a3e', '#862e9c'];

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function text(x: number, y: number, s: string, opts: { anchor?: 'start' | 'middle' | 'end'; size?: number; color?: string; weight?: string } = {}): string {
  return `<text x="${x.toFixed(1)}" y="${y.toFixed(1)}" font-size="${opts.size ?? 12}" text-anchor="${opts.anchor ?? 'start'}" fill="${opts.color ?? COLORS.text}"${opts.weight === undefined ? '' : ` font-weight="${opts.weight}"`}>${esc(s)}</text>`;
}

/** Round axis steps: 1, 2 or 5 times a power of ten, about `count` ticks up to `max`. */
function ticks(max: number, count = 6): number[] {
  if (!Number.isFinite(max) || max <= 0) return [0, 1];
  const raw = max / count;
  const pow = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * pow).find((s) => s >= raw) ?? pow * 10;
  const out: number[] = [];
  for (let v = 0; v <= max + step * 0.001; v += step) out.push(Math.round(v * 1e6) / 1e6);
  if ((out[out.length - 1] ?? 0) < max) out.push((out[out.length - 1] ?? 0) + step);
  return out;
}

/** A deterministic jitter in [-1, 1] for dot i, so charts do not change between renders. */
function jitter(i: number): number {
  const x = Math.sin(i * 12.9898) * 43758.5453;
  return (x - Math.floor(x)) * 2 - 1;
}

/** An earlier run drawn under the current one, e.g. the same bursts before a change to playback. */
export interface TtffBaseline {
  label: string;
  ttff: TtffResult;
}

export function ttffSvg(t: TtffResult, caption: string, baselines: readonly TtffBaseline[] = []): string {
  const W = 760;
  const left = 150;
  const right = 24;
  const panelH = 120;
  const panels = [
    { title: `One viewer at a time (N = ${t.sequential.fanout.summary.n} + ${t.sequential.janus.summary.n})`, c: t.sequential },
    { title: `${t.burst.size} viewers at once (N = ${t.burst.fanout.summary.n} + ${t.burst.janus.summary.n})`, c: t.burst },
    ...baselines.map((b) => ({
      title: `${b.ttff.burst.size} at once, ${b.label} (N = ${b.ttff.burst.fanout.summary.n} + ${b.ttff.burst.janus.summary.n})`,
      c: b.ttff.burst,
    })),
  ];
  const all = panels.flatMap((p) => [...p.c.fanout.samples, ...p.c.janus.samples]);
  const axis = ticks(Math.max(100, ...all));
  const xmax = axis[axis.length - 1] ?? 1;
  const x = (v: number): number => left + (v / xmax) * (W - left - right);
  const out: string[] = [];
  let y = 34;
  out.push(text(12, 20, 'Time to first frame (ms), headless Chromium: Fanout vs plain Janus', { size: 14, weight: 'bold' }));
  for (const p of panels) {
    out.push(text(12, y + 14, p.title, { weight: 'bold' }));
    const top = y + 22;
    const bottom = top + panelH - 30;
    for (const v of axis) {
      out.push(`<line x1="${x(v).toFixed(1)}" y1="${top}" x2="${x(v).toFixed(1)}" y2="${bottom}" stroke="${COLORS.grid}"/>`);
      out.push(text(x(v), bottom + 14, String(v), { anchor: 'middle', size: 10, color: COLORS.muted }));
    }
    const rows = [
      { name: 'Fanout', samples: p.c.fanout.samples, color: COLORS.fanout },
      { name: 'Plain Janus', samples: p.c.janus.samples, color: COLORS.janus },
    ];
    rows.forEach((row, i) => {
      const cy = top + 18 + i * 32;
      out.push(text(12, cy + 4, row.name, { color: row.color, weight: 'bold' }));
      row.samples.forEach((s, k) => {
        out.push(`<circle cx="${x(s).toFixed(1)}" cy="${(cy + jitter(k + i * 1000) * 7).toFixed(1)}" r="3" fill="${row.color}" fill-opacity="0.45"/>`);
      });
      const sorted = [...row.samples].sort((a, b) => a - b);
      if (sorted.length > 0) {
        const p50 = percentile(sorted, 0.5);
        const p95 = percentile(sorted, 0.95);
        out.push(`<line x1="${x(p50).toFixed(1)}" y1="${cy - 12}" x2="${x(p50).toFixed(1)}" y2="${cy + 12}" stroke="${row.color}" stroke-width="3"/>`);
        out.push(`<line x1="${x(p95).toFixed(1)}" y1="${cy - 10}" x2="${x(p95).toFixed(1)}" y2="${cy + 10}" stroke="${row.color}" stroke-width="1.5" stroke-dasharray="3 2"/>`);
        out.push(text(left - 8, cy + 4, `p50 ${Math.round(p50)}`, { anchor: 'end', size: 10, color: row.color }));
      }
    });
    y = bottom + 24;
  }
  out.push(text(12, y + 6, 'Dots: trials. Thick line: p50. Dashed: p95.', { size: 10, color: COLORS.muted }));
  out.push(text(12, y + 20, caption, { size: 10, color: COLORS.muted }));
  const H = y + 30;
  return wrap(W, H, out);
}

export function fanoutSvg(f: FanoutResult, caption: string): string {
  const W = 760;
  const H = 330;
  const panelW = (W - 60) / 2;
  const out: string[] = [text(12, 20, 'Edge Janus CPU against subscribers (werift subscribers, one edge)', { size: 14, weight: 'bold' })];
  const maxSubs = Math.max(10, ...f.configs.flatMap((c) => c.levels.map((l) => l.subscribers)));
  const panels = [
    { title: 'Edge CPU, % of one core', value: (c: FanoutResult['configs'][number], i: number) => (i < 0 ? c.idle.edgeCpuPct : c.levels[i]?.edgeCpuPct ?? Number.NaN), withIdle: true },
    { title: 'CPU % per subscriber (over idle)', value: (c: FanoutResult['configs'][number], i: number) => (i < 0 ? Number.NaN : c.levels[i]?.cpuPerSubscriberPct ?? Number.NaN), withIdle: false },
  ];
  panels.forEach((p, pi) => {
    const left = 50 + pi * (panelW + 20);
    const top = 50;
    const bottom = H - 70;
    const pw = panelW - 30;
    const values = f.configs.flatMap((c) => [-1, ...c.levels.map((_, i) => i)].map((i) => p.value(c, i))).filter((v) => Number.isFinite(v));
    const yTicks = ticks(Math.max(...values, 0.001), 5);
    const ymax = yTicks[yTicks.length - 1] ?? 1;
    const xTicks = ticks(maxSubs, 5);
    const xmax = xTicks[xTicks.length - 1] ?? 1;
    const X = (v: number): number => left + (v / xmax) * pw;
    const Y = (v: number): number => bottom - (v / ymax) * (bottom - top);
    out.push(text(left, top - 12, p.title, { weight: 'bold' }));
    for (const v of yTicks) {
      out.push(`<line x1="${left}" y1="${Y(v).toFixed(1)}" x2="${left + pw}" y2="${Y(v).toFixed(1)}" stroke="${COLORS.grid}"/>`);
      out.push(text(left - 6, Y(v) + 4, String(v), { anchor: 'end', size: 10, color: COLORS.muted }));
    }
    for (const v of xTicks) out.push(text(X(v), bottom + 14, String(v), { anchor: 'middle', size: 10, color: COLORS.muted }));
    out.push(text(left + pw / 2, bottom + 30, 'subscribers', { anchor: 'middle', size: 10, color: COLORS.muted }));
    f.configs.forEach((c, ci) => {
      const color = SERIES[ci % SERIES.length] ?? COLORS.text;
      const pts = [
        ...(p.withIdle ? [{ s: 0, v: c.idle.edgeCpuPct }] : []),
        ...c.levels.map((l, i) => ({ s: l.subscribers, v: p.value(c, i) })),
      ].filter((q) => Number.isFinite(q.v));
      if (pts.length === 0) return;
      out.push(`<polyline fill="none" stroke="${color}" stroke-width="2" points="${pts.map((q) => `${X(q.s).toFixed(1)},${Y(q.v).toFixed(1)}`).join(' ')}"/>`);
      for (const q of pts) out.push(`<circle cx="${X(q.s).toFixed(1)}" cy="${Y(q.v).toFixed(1)}" r="3.5" fill="${color}"/>`);
    });
  });
  f.configs.forEach((c, ci) => {
    const color = SERIES[ci % SERIES.length] ?? COLORS.text;
    const lx = 50 + ci * 280;
    out.push(`<rect x="${lx}" y="${H - 32}" width="12" height="12" fill="${color}"/>`);
    out.push(text(lx + 18, H - 22, `${c.name} (event_loops ${c.eventLoops ?? 'unset'})`, { color }));
  });
  out.push(text(12, H - 6, caption, { size: 10, color: COLORS.muted }));
  return wrap(W, H, out);
}

function wrap(w: number, h: number, body: string[]): string {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" font-family="-apple-system, Segoe UI, Helvetica, Arial, sans-serif">`,
    `<rect width="${w}" height="${h}" fill="#ffffff"/>`,
    ...body,
    '</svg>',
    '',
  ].join('\n');
}
