/**
 * A short history of viewers and live streams for the dashboard's chart: a ring of samples taken
 * at a fixed period (the bridge keeps ten minutes by default), oldest first.
 */
import type { ViewerSample } from '../../protocol/index.ts';

export class ViewerHistory {
  readonly #samples: ViewerSample[] = [];
  readonly #capacity: number;
  readonly periodMs: number;

  constructor(capacity: number, periodMs: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`history capacity must be a positive integer, got ${capacity}`);
    this.#capacity = capacity;
    this.periodMs = periodMs;
  }

  add(sample: ViewerSample): void {
    this.#samples.push(sample);
    if (this.#samples.length > this.#capacity) this.#samples.splice(0, this.#samples.length - this.#capacity);
  }

  /** A copy, oldest first. */
  samples(): ViewerSample[] {
    return this.#samples.map((s) => ({ ...s }));
  }
}
