import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../protocol/index.ts';
import { HANDLES_FILE, Journal, JOURNAL_FILE, JOURNAL_VERSION, type JournalState } from './journal.ts';

const state = (handles: number[]): JournalState => ({
  version: JOURNAL_VERSION,
  at: 1,
  nodes: { origin: { session: 11, control: 12, streamingControl: 13, handles } },
  streams: [],
  relays: [],
});

const dir = (): string => mkdtempSync(join(tmpdir(), 'fanout-journal-'));

describe('Journal', () => {
  it('writes the whole state and reads it back', () => {
    const d = dir();
    const j = new Journal(d, () => state([21]), silentLogger);
    j.flush();
    expect(Journal.read(d, silentLogger)).toEqual(state([21]));
  });

  it('a handle noted with attached() is read back before the next full write, and the full write empties the side file', () => {
    const d = dir();
    let current = state([]);
    const j = new Journal(d, () => current, silentLogger);
    j.flush();
    j.attached('origin', 31);
    j.attached('edge-9', 32); // a node the journal does not know: nothing to add it to
    expect(Journal.read(d, silentLogger)?.nodes['origin']?.handles).toEqual([31]);
    current = state([31]);
    j.flush();
    expect(readFileSync(join(d, HANDLES_FILE), 'utf8')).toBe('');
    expect(Journal.read(d, silentLogger)?.nodes['origin']?.handles).toEqual([31]);
  });

  it('close() writes its last state and then nothing more', () => {
    const d = dir();
    const j = new Journal(d, () => state([41]), silentLogger);
    j.close({ ...state([]), nodes: {} });
    j.attached('origin', 42);
    j.flush();
    expect(Journal.read(d, silentLogger)).toEqual({ ...state([]), nodes: {} });
  });

  it('a journal that is not JSON or does not validate is set aside, never trusted', () => {
    for (const text of ['{not json', JSON.stringify({ version: 99, nodes: {}, streams: [] })]) {
      const d = dir();
      writeFileSync(join(d, JOURNAL_FILE), text);
      expect(Journal.read(d, silentLogger)).toBeUndefined();
      expect(existsSync(join(d, JOURNAL_FILE))).toBe(false);
      expect(readdirSync(d).some((f) => f.startsWith(`${JOURNAL_FILE}.bad-`))).toBe(true);
    }
  });

  it('no journal at all is a fresh start', () => {
    expect(Journal.read(dir(), silentLogger)).toBeUndefined();
  });
});
