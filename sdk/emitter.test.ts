import { describe, expect, it } from 'vitest';
import { Emitter } from './emitter.ts';

type Events = { A: [n: number]; B: [s: string, extra: { k: number }] };

describe('Emitter', () => {
  it('calls the listeners of one event in order with typed arguments', () => {
    const e = new Emitter<Events>();
    const seen: string[] = [];
    e.on('A', (n) => seen.push(`1:${n}`));
    e.on('A', (n) => seen.push(`2:${n}`));
    e.on('B', (s, x) => seen.push(`${s}${x.k}`));
    expect(e.emit('A', 7)).toBe(2);
    e.emit('B', 'b', { k: 3 });
    expect(seen).toEqual(['1:7', '2:7', 'b3']);
  });

  it('a listener that throws is reported and the next listeners still run', () => {
    const reported: string[] = [];
    const e = new Emitter<Events>((event, err) => reported.push(`${event}: ${String(err)}`));
    const seen: number[] = [];
    e.on('A', () => {
      throw new Error('boom');
    });
    e.on('A', (n) => seen.push(n));
    expect(() => e.emit('A', 1)).not.toThrow();
    expect(seen).toEqual([1]);
    expect(reported).toEqual(['A: Error: boom']);
  });

  it('a reporter that throws too is swallowed', () => {
    const e = new Emitter<Events>(() => {
      throw new Error('reporter broke');
    });
    e.on('A', () => {
      throw new Error('boom');
    });
    expect(() => e.emit('A', 1)).not.toThrow();
  });

  it('off removes a listener; a listener added during emit waits for the next emit', () => {
    const e = new Emitter<Events>();
    const seen: string[] = [];
    const l = (n: number): void => {
      seen.push(`l${n}`);
      e.on('A', (m) => seen.push(`late${m}`));
    };
    e.on('A', l);
    e.emit('A', 1);
    e.off('A', l);
    e.emit('A', 2);
    expect(seen).toEqual(['l1', 'late2']);
  });
});
