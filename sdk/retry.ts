/**
 * The retry policy of a stream that failed after it was live: `replayOnFailure` (a played stream)
 * and `republishOnFailure` (a published one) share it, so both count, wait and give up alike.
 * The stream owns what an attempt does; this file owns when one may happen.
 */
import type { StatusFrame } from './protocol.ts';

/** How `replayOnFailure` and `republishOnFailure` retry. */
export interface ReplayOptions {
  /** Attempts in a row (PLAYING or PUBLISHING starts the count again). Default 3. */
  attempts?: number;
  /** Wait before the first attempt (ms), doubled for each further one. Default 500. */
  delayMs?: number;
}

/** The option as given (`true`, `{attempts, delayMs}`, off) with its defaults; undefined when off. */
export function retryOptions(given: boolean | ReplayOptions | undefined): Required<ReplayOptions> | undefined {
  if (given === undefined || given === false) return undefined;
  const o = given === true ? {} : given;
  return { attempts: Math.max(0, Math.floor(o.attempts ?? 3)), delayMs: Math.max(0, o.delayMs ?? 500) };
}

/** Whether the server's FAILED is worth another attempt: a stream the server no longer has is not. */
export function retryableFailure(ev: StatusFrame): boolean {
  return ev.code !== 'NOT_FOUND' && !/stream not found/i.test(ev.info ?? '');
}

/** A stream's attempts in a row since it was last live, and the timer of the next one. */
export class Retries {
  readonly #opts: Required<ReplayOptions> | undefined;
  #count = 0;
  #scheduled = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(opts: Required<ReplayOptions> | undefined) {
    this.#opts = opts;
  }

  /**
   * Attempts scheduled so far, never reset: a step of the stream that awaited (a connection, an
   * offer) and finds it changed belongs to an attempt that is over.
   */
  get scheduled(): number {
    return this.#scheduled;
  }

  /** Live again (PLAYING, PUBLISHING): the next failure starts the count again. */
  reset(): void {
    this.#count = 0;
  }

  /** Whether the option is on and attempts are left. */
  left(): boolean {
    return this.#opts !== undefined && this.#count < this.#opts.attempts;
  }

  /**
   * Runs `attempt` after this attempt's delay (`delayMs`, doubled per attempt in a row); returns
   * its label for the stream's info, e.g. "attempt 1 of 3". Call only when `left()`.
   */
  schedule(attempt: () => void): string {
    const o = this.#opts ?? { attempts: 0, delayMs: 0 };
    const n = ++this.#count;
    this.#scheduled++;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      attempt();
    }, o.delayMs * 2 ** (n - 1));
    return `attempt ${n} of ${o.attempts}`;
  }

  /** The stream ended: no attempt runs any more. */
  cancel(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
