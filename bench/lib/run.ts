/**
 * What keeps the benchmark bounded and tidy: a deadline every phase consults, a timeout on every
 * wait, and one registry of cleanups that runs (newest first) on success, failure, or Ctrl-C.
 */
import { errorText } from '../../protocol/index.ts';


export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Rejects naming `what` when `promise` does not settle within `ms`. */
export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what}: no result within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Polls `check` every `everyMs` until it holds; rejects naming `what` after `timeoutMs`. */
export async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs: number, everyMs = 50): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** A point in time the whole run must end by. */
export class Deadline {
  readonly at: number;
  constructor(budgetMs: number) {
    this.at = Date.now() + budgetMs;
  }
  remaining(): number {
    return this.at - Date.now();
  }
  /** Whether `ms` more still fits. */
  allows(ms: number): boolean {
    return this.remaining() > ms;
  }
}

/** Cleanups, run newest first; each one at most once, each bounded, errors reported not thrown. */
export class Cleanup {
  readonly #steps: Array<{ what: string; run: () => Promise<unknown> | unknown }> = [];

  /** Registers a cleanup; the returned function runs it now (and unregisters it). */
  add(what: string, run: () => Promise<unknown> | unknown): () => Promise<void> {
    const step = { what, run };
    this.#steps.push(step);
    return async () => {
      const i = this.#steps.indexOf(step);
      if (i < 0) return;
      this.#steps.splice(i, 1);
      await Cleanup.#runStep(step);
    };
  }

  async runAll(): Promise<void> {
    while (this.#steps.length > 0) {
      const step = this.#steps.pop();
      if (step !== undefined) await Cleanup.#runStep(step);
    }
  }

  static async #runStep(step: { what: string; run: () => Promise<unknown> | unknown }): Promise<void> {
    try {
      await withTimeout(Promise.resolve().then(step.run), 30_000, `cleanup: ${step.what}`);
    } catch (err) {
      process.stderr.write(`cleanup "${step.what}" failed: ${errorText(err)}\n`);
    }
  }
}

/** The one way to turn an unknown error into text (protocol/errors.ts). */
export { errorText };
