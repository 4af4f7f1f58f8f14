/**
 * The worker's counters, reported through the bridge (which serves them at /metrics): per WCS
 * session, frames in and out and the frames it refused by error code (INVALID_ARGUMENT: failed
 * validation), plus the session's start and end. Runtime-free.
 *
 * How they flow: a session reports deltas over its own bridge link: when the link opens (the
 * session's start and what happened before), on every ping tick with something new, and just
 * before the link closes with the session (its end). A session that never had a link (no
 * `connection`, or the bridge was away) hands its one report to a fallback at its end, which the
 * worker sends through the Balancer's link. Workers analytics (requests, CPU, errors) come on top
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

function refusalCode(frame: ServerFrame): ErrorCode | undefined {
  if (frame.message === 'fail') return frame.data[0].code;
  if (frame.message === 'notifyStreamStatusEvent' && frame.data[0].status === 'FAILED') return frame.data[0].code;
  return undefined;
}
