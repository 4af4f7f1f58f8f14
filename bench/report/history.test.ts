import { describe, expect, it } from 'vitest';
import { appendHistory, historySection, MAX_HISTORY, parseHistory, type HistoryEntry } from './history.ts';

const entry = (startedAt: string): HistoryEntry => ({
  startedAt,
  mode: 'full',
  commit: 'abc123def456',
  dirty: true,
  playPath: 'VideoRoom <id>',
  ttffSequential: { fanoutP50: 180, fanoutP95: 240, janusP50: 130, janusP95: 170 },
  ttffBurst: { fanoutP50: 1300, fanoutP95: 1400, janusP50: 1200, janusP95: 1250 },
  publishToFirstFrameP50: null,
});

describe('bench history', () => {
  it('an unreadable or invalid history file starts a new history', () => {
    expect(parseHistory(undefined)).toEqual([]);
    expect(parseHistory('not json')).toEqual([]);
    expect(parseHistory('[{"startedAt": 1}]')).toEqual([]);
    expect(parseHistory(JSON.stringify([entry('2026-01-01T00:00:00Z')]))).toHaveLength(1);
  });

  it(`keeps the last ${MAX_HISTORY} runs`, () => {
    let h: HistoryEntry[] = [];
    for (let i = 0; i < MAX_HISTORY + 5; i++) h = appendHistory(h, entry(`2026-01-01T00:00:${String(i).padStart(2, '0')}Z`));
    expect(h).toHaveLength(MAX_HISTORY);
    expect(h[0]?.startedAt).toBe('2026-01-01T00:00:05Z');
  });

  it('the table lists the newest run first, marks a dirty tree with + and a missing figure with a dash', () => {
    const table = historySection([entry('2026-01-01T00:00:00Z'), entry('2026-01-02T00:00:00Z')]);
    const rows = table.split('\n').filter((l) => l.startsWith('| 2026'));
    expect(rows[0]).toContain('2026-01-02 00:00');
    expect(rows[0]).toContain('abc123def456+');
    expect(rows[0]?.endsWith('| – |')).toBe(true);
  });
});
