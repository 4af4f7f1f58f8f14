/**
 * A short record of every run that wrote results (bench/history.json), so a change can be judged
 * against the runs before it: e.g. edge playback before and after keyframe buffering. One line per
 * run: when, which commit, which play path served Fanout's players, and the time-to-first-frame
 * figures. Pure apart from the caller reading and writing the file.
 */
import * as v from 'valibot';
import type { BenchResults } from './results.ts';
import { mdCell } from './tables.ts';

const Num = v.nullable(v.number());

export const HistoryEntry = v.object({
  startedAt: v.string(),
  mode: v.picklist(['full', 'quick']),
  commit: v.string(),
  dirty: v.boolean(),
  playPath: v.string(),
  ttffSequential: v.object({ fanoutP50: Num, fanoutP95: Num, janusP50: Num, janusP95: Num }),
  ttffBurst: v.object({ fanoutP50: Num, fanoutP95: Num, janusP50: Num, janusP95: Num }),
  publishToFirstFrameP50: Num,
  /** Fanout, 8 at once: offer applied -> first frame, p50 (the keyframe wait without signalling). */
  burstOfferToFrameP50: v.optional(Num),
});
export type HistoryEntry = v.InferOutput<typeof HistoryEntry>;

export const MAX_HISTORY = 30;

const n = (x: number | undefined): number | null => (x === undefined || !Number.isFinite(x) ? null : Math.round(x));

export function historyEntry(r: BenchResults): HistoryEntry {
  const seq = r.ttff?.sequential;
  const burst = r.ttff?.burst;
  return {
    startedAt: r.startedAt,
    mode: r.mode,
    commit: r.git.commit.slice(0, 12),
    dirty: r.git.dirty,
    playPath: Object.keys(r.playPath?.fanout ?? {}).join(', '),
    ttffSequential: { fanoutP50: n(seq?.fanout.summary.p50), fanoutP95: n(seq?.fanout.summary.p95), janusP50: n(seq?.janus.summary.p50), janusP95: n(seq?.janus.summary.p95) },
    ttffBurst: { fanoutP50: n(burst?.fanout.summary.p50), fanoutP95: n(burst?.fanout.summary.p95), janusP50: n(burst?.janus.summary.p50), janusP95: n(burst?.janus.summary.p95) },
    publishToFirstFrameP50: n(r.publishToPlayable?.summary.firstFrameMs.p50),
    burstOfferToFrameP50: n(burst?.fanout.offerToFrame.p50),
  };
}

/** The history file's entries; an unreadable or invalid file starts a new history. */
export function parseHistory(text: string | undefined): HistoryEntry[] {
  if (text === undefined) return [];
  try {
    const parsed = v.safeParse(v.array(HistoryEntry), JSON.parse(text));
    return parsed.success ? parsed.output : [];
  } catch {
    return [];
  }
}

export function appendHistory(history: HistoryEntry[], entry: HistoryEntry): HistoryEntry[] {
  return [...history, entry].slice(-MAX_HISTORY);
}

export function historySection(history: HistoryEntry[]): string {
  if (history.length === 0) return '_No runs recorded yet._';
  const d = (x: number | null): string => (x === null ? '–' : String(x));
  const pair = (a: number | null, b: number | null): string => `${d(a)} / ${d(b)}`;
  const rows = [...history].reverse().map((h) => [
    h.startedAt.slice(0, 16).replace('T', ' '),
    h.mode,
    `${h.commit}${h.dirty ? '+' : ''}`,
    mdCell(h.playPath || '–'),
    pair(h.ttffSequential.fanoutP50, h.ttffSequential.fanoutP95),
    pair(h.ttffSequential.janusP50, h.ttffSequential.janusP95),
    pair(h.ttffBurst.fanoutP50, h.ttffBurst.fanoutP95),
    pair(h.ttffBurst.janusP50, h.ttffBurst.janusP95),
    d(h.burstOfferToFrameP50 ?? null),
    d(h.publishToFirstFrameP50),
  ]);
  const head = ['Run (UTC)', 'Mode', 'Commit', 'Fanout play path (SDP s=)', 'One at a time: Fanout', 'Janus', '8 at once: Fanout', 'Janus', '8 at once, Fanout offer → frame p50', 'Publish → edge frame p50'];
  const line = (cells: string[]): string => `| ${cells.join(' | ')} |`;
  return [line(head), line(head.map(() => '---')), ...rows.map(line), '', 'Times to first frame are p50 / p95 ms; `+` after a commit: the tree had uncommitted changes.'].join('\n');
}
