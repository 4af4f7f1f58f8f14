/**
 * The worker's counters, reported through the bridge (which serves them at /metrics): per WCS
 * session, frames in and out and the frames it refused by error code (INVALID_ARGUMENT: failed
 * validation), plus the session's start and end. Runtime-free.
 *
 * How they flow: a session reports deltas over its own bridge link: when the link opens (the
 * session's start and what happened before), on every ping tick with something new, and just
 * before the link closes with the session (its end). A session that never had a link (no
 * `connection`, or the bridge was away) hands its one report to a fallback at its end, which the
 * worker sums per agent and sends through the Balancer's link once a second (ReportBatch). Workers analytics (requests, CPU, errors) come on top
 * from Cloudflare's dashboard; these are the WCS-level figures it cannot see.
 */
import type { ErrorCode, Method, Params, Result, WorkerReport } from '../../protocol/index.ts';
import type { ServerFrame } from '../../protocol/wcs.ts';

/** Counts of one session since its last report. */
export class SessionCounters {
  #framesIn = 0;
  #framesOut = 0;
  #rejected: Partial<Record<ErrorCode, number>> = {};
  #openReported = false;
  #ended = false;
  #endReported = false;

  frameIn(): void {
    this.#framesIn++;
  }

  /** Counts a frame to the client; a `fail`, or a FAILED status with a code, is a refusal by that code. */
  frameOut(frame: ServerFrame): void {
    this.#framesOut++;
    const code = refusalCode(frame);
    if (code !== undefined) this.#rejected[code] = (this.#rejected[code] ?? 0) + 1;
  }

  /** The session is over: the next report carries its end. */
  end(): void {
    this.#ended = true;
  }

  /** What changed since the last call, or undefined when nothing did. */
  take(): WorkerReport | undefined {
    const opened = this.#openReported ? 0 : 1;
    const closed = this.#ended && !this.#endReported ? 1 : 0;
    if (opened === 0 && closed === 0 && this.#framesIn === 0 && this.#framesOut === 0 && Object.keys(this.#rejected).length === 0) return undefined;
    const report: WorkerReport = {
      sessionsOpened: opened,
      sessionsClosed: closed,
      framesIn: this.#framesIn,
      framesOut: this.#framesOut,
      rejected: this.#rejected,
    };
    this.#openReported = true;
    if (closed === 1) this.#endReported = true;
    this.#framesIn = 0;
    this.#framesOut = 0;
    this.#rejected = {};
    return report;
  }
}

/** The part of a bridge link a reporter needs (a BridgeClient). */
export interface ReportLink {
  request<M extends Method>(method: M, params: Params<M>): Promise<Result<M>>;
  readonly closed: boolean;
}

/**
 * Sends a session's counters: over its current link when it has one, else (at the end only) to
 * `fallback`. A report that cannot be delivered is dropped: counters are for trends, and a lost
 * report never blocks or fails the session.
 */
export class SessionReporter {
  readonly counters = new SessionCounters();
  readonly #fallback: (report: WorkerReport) => void;
  #link: ReportLink | undefined;
  #finished = false;

  constructor(fallback: (report: WorkerReport) => void) {
    this.#fallback = fallback;
  }

  /** The session's bridge link is open: the session's start (and anything before) goes at once. */
  linkOpened(link: ReportLink): void {
    this.#link = link;
    this.flush();
  }

  /** Sends what changed, if there is a link to send it on (the ping tick calls this). */
  flush(): void {
    const link = this.#link;
    if (this.#finished || link === undefined || link.closed) return;
    this.#send(link);
  }

  /** The session ended: its last report goes now, before its link closes. Safe to call twice. */
  finish(): void {
    if (this.#finished) return;
    this.#finished = true;
    this.counters.end();
    const link = this.#link;
    if (link !== undefined && !link.closed) {
      this.#send(link);
      return;
    }
    const report = this.counters.take();
    if (report !== undefined) this.#fallback(report);
  }

  #send(link: ReportLink): void {
    const report = this.counters.take();
    if (report === undefined) return;
    // The request is written to the socket synchronously, so a close right after still follows it.
    link.request('metrics', report).catch(() => undefined);
  }
}

/** How long fallback reports gather before they are sent (one Durable Object request per agent per batch). */
export const REPORT_BATCH_MS = 1_000;

/**
 * The fallback of sessions that never had a link (an origin session that only redirected its
 * players, say): their reports are summed per agent and sent once per REPORT_BATCH_MS, so a viewer
 * arriving costs no Durable Object request of its own.
 */
export class ReportBatch {
  readonly #send: (url: string, report: WorkerReport) => Promise<void>;
  readonly #delayMs: number;
  #pending = new Map<string, WorkerReport>();
  #flushing: Promise<void> | undefined;

  constructor(send: (url: string, report: WorkerReport) => Promise<void>, delayMs = REPORT_BATCH_MS) {
    this.#send = send;
    this.#delayMs = delayMs;
  }

  /** Adds a report for the agent at `url`; returns the batch's delivery (for a request's waitUntil). */
  add(url: string, report: WorkerReport): Promise<void> {
    const prev = this.#pending.get(url);
    this.#pending.set(url, prev === undefined ? report : sum(prev, report));
    this.#flushing ??= new Promise<void>((resolve) => setTimeout(resolve, this.#delayMs)).then(() => this.#flush());
    return this.#flushing;
  }

  async #flush(): Promise<void> {
    const batch = this.#pending;
    this.#pending = new Map();
    this.#flushing = undefined;
    // A report that cannot be delivered is dropped, as a session's own would be.
    await Promise.all([...batch].map(([url, report]) => this.#send(url, report).catch(() => undefined)));
  }
}

function sum(a: WorkerReport, b: WorkerReport): WorkerReport {
  const rejected: WorkerReport['rejected'] = { ...a.rejected };
  for (const [code, n] of Object.entries(b.rejected) as Array<[ErrorCode, number]>) rejected[code] = (rejected[code] ?? 0) + n;
  return {
    sessionsOpened: a.sessionsOpened + b.sessionsOpened,
    sessionsClosed: a.sessionsClosed + b.sessionsClosed,
    framesIn: a.framesIn + b.framesIn,
    framesOut: a.framesOut + b.framesOut,
    rejected,
  };
}

function refusalCode(frame: ServerFrame): ErrorCode | undefined {
  if (frame.message === 'fail') return frame.data[0].code;
  if (frame.message === 'notifyStreamStatusEvent' && frame.data[0].status === 'FAILED') return frame.data[0].code;
  return undefined;
}
