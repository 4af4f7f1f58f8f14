/**
 * A small typed event emitter whose listeners cannot hurt the SDK: a listener that throws is
 * reported (console.error) and the other listeners and the SDK's own state machine carry on.
 */

/** An event map: event name -> the listener's argument list. */
export type EventMap = { [event: string]: unknown[] };

export type Listener<A extends unknown[]> = (...args: A) => void;

/** Where a throwing listener is reported; replaceable in tests. */
export type ErrorReporter = (event: string, error: unknown) => void;

const defaultReporter: ErrorReporter = (event, error) => {
  console.error(`Fanout: a listener for ${event} threw; the SDK carries on.`, error);
};

export class Emitter<M extends EventMap> {
  #listeners: { [E in keyof M]?: Set<Listener<M[E]>> } = {};
  readonly #report: ErrorReporter;

  constructor(report: ErrorReporter = defaultReporter) {
    this.#report = report;
  }

  on<E extends keyof M>(event: E, listener: Listener<M[E]>): void {
    const set = this.#listeners[event] ?? new Set<Listener<M[E]>>();
    this.#listeners[event] = set;
    set.add(listener);
  }

  off<E extends keyof M>(event: E, listener: Listener<M[E]>): void {
    this.#listeners[event]?.delete(listener);
  }

  /** Calls every listener of `event` in the order they were added; returns how many were called. */
  emit<E extends keyof M>(event: E, ...args: M[E]): number {
    const set = this.#listeners[event];
    if (set === undefined) return 0;
    let n = 0;
    for (const listener of [...set]) {
      n++;
      try {
        listener(...args);
      } catch (error) {
        try {
          this.#report(String(event), error);
        } catch {
          // a broken reporter must not break the SDK either
        }
      }
    }
    return n;
  }

  clear(): void {
    this.#listeners = {};
  }
}
