/**
 * Re-binding a WCS session's publishes and plays after its bridge link was lost (links that move,
 * protocol/api.ts). A lost link leaves what it owned in place on the bridge for
 * BRIDGE_OWNER_GRACE_MS; `Relink` keeps re-opening the session's link (the first attempt at once,
 * then about every RELINK_RETRY_MS, never a tight loop) and sends `bind` with the refs, until the bridge
 * answers or the window (the session's relinkWindowMs, BRIDGE_RELINK_WINDOW_MS) passes. The window
 * is how long the bridge may stay out of reach: it starts again at each link that opens or is lost
 * before its bind (not one whose bind went unanswered: a hung bridge), as the
 * bridge's own grace starts again at each restart, so a bridge restarted again and again (each
 * one killed before it answered `bind`) does not fail streams that its Janus nodes still carry. `Rebinder`
 * applies the answer to the session's streams through `RebindHost` (./session.ts):
 *
 *   bound, still live           goes on untouched (a client answer held meanwhile is sent now)
 *   bound, ended meanwhile      released on the new link (a stop while away, a reply lost with the link)
 *   gone                        ends with the bridge's status and info
 *   neither, or no bind in time FAILED naming the bridge
 *
 * Runtime-free: the link comes from the host, the only clock is setTimeout.
 */
import { CdnError, MAX_BIND_IDS, type Logger, type Result } from '../../protocol/index.ts';
import { INFO, type BridgeLink } from './contract.ts';
import type { StreamEntry } from './entry.ts';

/**
 * The mean wait between attempts (the first attempt is at once). Each wait is drawn between half
 * and one and a half of it: a bridge restarted again and again is reachable for only part of each
 * cycle, and attempts at a fixed period can fall in the same unreachable part of every cycle (the
 * same phase each time) until the window passes, though the bridge was up in every cycle.
 */
export const RELINK_RETRY_MS = 250;

/** One wait before a retry: RELINK_RETRY_MS spread by ±50 %. */
export function relinkRetryDelay(random: () => number = Math.random): number {
  return Math.round(RELINK_RETRY_MS * (0.5 + random()));
}
/**
 * How long one `bind` may wait (the bridge answers once it has taken back its state, well under a
 * second). A link that does not answer is given up (not released) and the next attempt opens a new
 * one: a link to a bridge that died as it opened may never say it closed.
 */
export const BIND_TIMEOUT_MS = 5_000;

/** How one id ended while the link was away, as `bind` reports it. */
export type GoneId = Result<'bind'>['gone'][number];

export type RelinkOutcome =
  /** `link` owns the `bound` ids from now on; `gone` ended meanwhile. An id in neither was not re-bound. */
  | { ok: true; link: BridgeLink; bound: ReadonlySet<string>; gone: ReadonlyMap<string, GoneId> }
  | { ok: false; reason: CdnError };

export interface RelinkDeps {
  /** The session's link, opening a new one when it has none (SessionLink.get). */
  open(): Promise<BridgeLink>;
  windowMs: number;
  log: Logger;
}

/** One attempt to take a lost link's ids over on a new link. `run` once; `cancel` when the session ends. */
class Relink {
  readonly #ids: readonly string[];
  readonly #deps: RelinkDeps;
  /** Why the bridge cannot be had right now (the loss, then each failed attempt). */
  #last: CdnError;
  /** The link a `bind` is out on, if one is. */
  #binding: BridgeLink | undefined;
  #done = false;
  #expiry: ReturnType<typeof setTimeout> | undefined;
  #finish: (outcome: RelinkOutcome) => void = () => undefined;
  #wake: () => void = () => undefined;

  constructor(ids: readonly string[], lost: CdnError, deps: RelinkDeps) {
    this.#ids = ids;
    this.#last = lost;
    this.#deps = deps;
  }

  /** Why the bridge cannot be had while this runs (for the FAILED of a request made meanwhile). */
  get reason(): CdnError {
    return this.#last;
  }

  /** Resolves once: bound (with the bridge's answer), or not within the window. Never rejects. */
  run(): Promise<RelinkOutcome> {
    return new Promise<RelinkOutcome>((resolve) => {
      this.#startWindow();
      this.#finish = (outcome) => {
        if (this.#done) return;
        this.#done = true;
        if (this.#expiry !== undefined) clearTimeout(this.#expiry);
        this.#wake();
        resolve(outcome);
      };
      void this.#loop();
    });
  }

  /** The session is over: stop trying (its link is closed by the session, which releases everything). */
  cancel(): void {
    this.#finish({ ok: false, reason: new CdnError('UNAVAILABLE', 'the session closed while its bridge link was being re-established') });
  }

  async #loop(): Promise<void> {
    for (let attempt = 0; !this.#done; attempt++) {
      if (attempt > 0) await this.#sleep(relinkRetryDelay());
      if (this.#done) return;
      let link: BridgeLink;
      try {
        link = await this.#deps.open();
      } catch (err) {
        this.#last = CdnError.from(err);
        this.#deps.log.debug('bridge link not re-opened yet', { attempt, err: this.#last });
        continue;
      }
      // Ended while opening: a session that closed closes the link itself; after the window the
      // link stays the session's, owning nothing, for its next request.
      if (this.#done) return;
      this.#startWindow();
      this.#binding = link;
      try {
        const answer = await bindAll(link, this.#ids);
        if (this.#done) return;
        this.#finish({ ok: true, link, bound: new Set(answer.bound), gone: new Map(answer.gone.map((g) => [g.id, g])) });
        return;
      } catch (err) {
        if (this.#done) return;
        const e = CdnError.from(err);
        this.#last = e;
        if (e.code === 'TIMEOUT') link.abandon(`bind not answered within ${BIND_TIMEOUT_MS} ms`);
        // The bridge was there until now (it did not hang: it went away), so its absence starts now.
        else this.#startWindow();
        // A bridge that refuses `bind` itself (an older bridge, a malformed id) will not change its mind.
        if (!e.retryable && !link.closed) {
          this.#finish({ ok: false, reason: e });
          return;
        }
        this.#deps.log.debug('bind not answered yet', { attempt, err: e });
      } finally {
        this.#binding = undefined;
      }
    }
  }

  #startWindow(): void {
    if (this.#expiry !== undefined) clearTimeout(this.#expiry);
    this.#expiry = setTimeout(() => this.#expire(), this.#deps.windowMs);
  }

  #expire(): void {
    if (this.#done) return;
    const seconds = Math.round(this.#deps.windowMs / 100) / 10;
    const reason = new CdnError('UNAVAILABLE', `not re-established within ${seconds} s: ${this.#last.message}`);
    // A bind still out may yet take the ids over for a link whose streams are failed now: closing
    // it on purpose (the release code) makes the bridge release whatever it bound.
    this.#binding?.close('the relink window passed');
    this.#finish({ ok: false, reason });
  }

  #sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.#wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}

/** `bind` in chunks of MAX_BIND_IDS, one after the other, as one answer. */
async function bindAll(link: BridgeLink, ids: readonly string[]): Promise<Result<'bind'>> {
  const answer: Result<'bind'> = { bound: [], gone: [] };
  for (let i = 0; i < ids.length; i += MAX_BIND_IDS) {
    const part = await link.request('bind', { ids: ids.slice(i, i + MAX_BIND_IDS) }, BIND_TIMEOUT_MS);
    answer.bound.push(...part.bound);
    answer.gone.push(...part.gone);
  }
  return answer;
}

/** What a Rebinder needs from its session. */
export interface RebindHost {
  /** The session's link, opening a new one when it has none (SessionLink.get). */
  open(): Promise<BridgeLink>;
  windowMs: number;
  log: Logger;
  /** Ends a stream for the client with `status` and `info` (UNAVAILABLE for a FAILED of the worker's own). */
  end(entry: StreamEntry, status: 'UNPUBLISHED' | 'STOPPED' | 'FAILED', info: string, code?: 'UNAVAILABLE'): void;
  /** Tells the bridge to end what it made for `entry`. */
  release(link: BridgeLink, entry: StreamEntry): void;
  /** Sends a client's answer to a server-offer play. */
  answer(link: BridgeLink, entry: StreamEntry, sdp: string): void;
  /** The link could not be re-established: its streams have failed; the session says so. */
  gaveUp(reason: CdnError): void;
}

/** A session's re-binding after a lost link: at most one at a time. */
export class Rebinder {
  readonly #host: RebindHost;
  #relink: Relink | undefined;
  /** Client answers (by ref) that wait for the re-bound link. */
  readonly #answers = new Map<string, string>();

  constructor(host: RebindHost) {
    this.#host = host;
  }

  /** True from a loss until its outcome: no new publish or play goes out meanwhile. */
  get active(): boolean {
    return this.#relink !== undefined;
  }

  /** Why the bridge cannot be had while active. */
  get reason(): CdnError | undefined {
    return this.#relink?.reason;
  }

  /** Re-binds `entries` (those the bridge was asked for on the lost link, live or ended since). */
  start(entries: readonly StreamEntry[], lost: CdnError): void {
    if (this.#relink !== undefined) return;
    const relink = new Relink(
      entries.map((e) => e.ref),
      lost,
      { open: () => this.#host.open(), windowMs: this.#host.windowMs, log: this.#host.log },
    );
    this.#relink = relink;
    void relink.run().then((outcome) => {
      if (this.#relink !== relink) return;
      this.#relink = undefined;
      this.#settle(entries, outcome);
    });
  }

  /** A client's answer for a play while active: sent once the play is re-bound. */
  holdAnswer(ref: string, sdp: string): void {
    this.#answers.set(ref, sdp);
  }

  /** The session is over. Safe to call twice. */
  cancel(): void {
    const relink = this.#relink;
    this.#relink = undefined;
    this.#answers.clear();
    relink?.cancel();
  }

  #settle(entries: readonly StreamEntry[], outcome: RelinkOutcome): void {
    const host = this.#host;
    const answers = new Map(this.#answers);
    this.#answers.clear();
    if (!outcome.ok) {
      host.log.warn('bridge link not re-established: its streams fail', { err: outcome.reason });
      for (const entry of entries) if (entry.state !== 'ended') host.end(entry, 'FAILED', `${INFO.BRIDGE_LOST} (${outcome.reason.message})`, 'UNAVAILABLE');
      return host.gaveUp(outcome.reason);
    }
    const { link, bound, gone } = outcome;
    host.log.info('bridge link re-established', { bound: bound.size, gone: gone.size });
    for (const entry of entries) {
      if (bound.has(entry.ref)) {
        const sdp = answers.get(entry.ref);
        // The link owns it again, so the bridge can be told now that it ended meanwhile.
        if (entry.state === 'ended') host.release(link, entry);
        else if (sdp !== undefined) host.answer(link, entry, sdp);
        continue;
      }
      if (entry.state === 'ended') continue;
      const end = gone.get(entry.ref);
      if (end === undefined) host.end(entry, 'FAILED', `${INFO.BRIDGE_LOST}: the bridge did not re-bind it`, 'UNAVAILABLE');
      else host.end(entry, end.status === 'FAILED' ? 'FAILED' : entry.kind === 'publish' ? 'UNPUBLISHED' : 'STOPPED', end.info, end.code);
    }
  }
}
