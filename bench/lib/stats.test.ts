import { describe, expect, it } from 'vitest';
import { percentile, ratio, summarize } from './stats.ts';

describe('summarize', () => {
  it('interpolates percentiles between order statistics: p50 of an even sample is the mean of the middle two', () => {
    const s = summarize([4, 1, 3, 2]);
    expect(s).toMatchObject({ n: 4, min: 1, max: 4, p50: 2.5, mean: 2.5 });
    expect(s.p95).toBeCloseTo(3.85);
  });

  it('ignores non-finite samples and reports NaN for an empty sample', () => {
    expect(summarize([Number.NaN, 5]).n).toBe(1);
    expect(summarize([]).p50).toBeNaN();
  });
});

describe('percentile and ratio', () => {
  it('percentile of one value is that value at every p', () => {
    expect(percentile([7], 0.99)).toBe(7);
  });

  it('ratio is NaN when the divisor is 0 or missing', () => {
    expect(ratio(1, 0)).toBeNaN();
    expect(ratio(Number.NaN, 2)).toBeNaN();
    expect(ratio(3, 2)).toBe(1.5);
  });
});
