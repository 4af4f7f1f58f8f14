/**
 * A stream's record (one Durable Object per stream name, `idFromName(stream)`): the CDN-wide publish
 * lock of the name (./lock.ts), which origin holds it, and its epoch. Only publishes ask it (a
 * claim as the publish goes out, a release when it ends): no viewer ever does, and no object is
 * shared by two names, so the CDN's publish rate is not bound by one object.
 *
 * Rebuilt from the agents, never trusted blindly: a holder that never released (its worker went
 * away, its origin's Janus died) is checked against its origin's agent (`sources`) before a new
 * publish takes the name over; a record with nothing stored (a name never seen, or an object that
 * was evicted or reset) asks the other origins' agents whether one of them carries the name live.
 * Claims run one at a time (the checks make network calls, during which the runtime lets other
 * requests in).
 */
import { DurableObject } from 'cloudflare:workers';
import * as v from 'valibot';
import { CdnError, type ErrorCode, type Logger } from '../../protocol/index.ts';
import { connectBridge } from '../bridge-client/index.ts';
import { readConfig, type Env } from '../env.ts';
import { createLogger } from '../log.ts';
import { claim, release, type Holder, type Liveness, type StreamState } from './lock.ts';

const Stored = v.object({
  epoch: v.number(),
  holder: v.optional(v.object({ node: v.string(), publishId: v.string(), since: v.number() })),
});
const KEY = 'state';

/**
 * What a claimant learns: the epoch of its hold, or the refusal (as data: an error thrown across
 * the object's boundary would reach the caller without its code).
 */
export type ClaimAnswer = { ok: true; epoch: number } | { ok: false; code: ErrorCode; message: string };

export class StreamRecord extends DurableObject<Env> {
  readonly #log: Logger = createLogger({ unit: 'stream-record' });
  /** Claims and releases in turn. */
  #queue: Promise<unknown> = Promise.resolve();

  /**
   * Takes the name for `publishId` on origin `node`, or says why not. `otherOrigins`: the origins
   * besides `node`, asked when the record has nothing stored.
   */
  claim(stream: string, node: string, publishId: string, otherOrigins: readonly string[]): Promise<ClaimAnswer> {
    return this.#inTurn(async () => {
      const stored = await this.#load();
      const state = stored ?? (await this.#rebuilt(stream, node, otherOrigins));
      const outcome = await claim(state, { stream, node, publishId, now: Date.now(), isLive: (h) => this.#isLive(stream, h) });
      if (!outcome.ok) return { ok: false, code: outcome.error.code, message: outcome.error.message };
      if (outcome.state !== stored) await this.ctx.storage.put(KEY, outcome.state);
      return { ok: true, epoch: outcome.state.epoch };
    });
  }

  /** Frees the name if `publishId` holds it. */
  release(publishId: string): Promise<void> {
    return this.#inTurn(async () => {
      const stored = await this.#load();
      if (stored === undefined) return;
      const next = release(stored, publishId);
      if (next !== stored) await this.ctx.storage.put(KEY, next);
    });
  }

  /** Who holds the name (the status pages, the tests). */
  async holder(): Promise<(Holder & { epoch: number }) | undefined> {
    const stored = await this.#load();
    return stored?.holder === undefined ? undefined : { ...stored.holder, epoch: stored.epoch };
  }

  /** Forgets everything, as an eviction that lost storage would (POST /admin/reset). */
  async reset(): Promise<void> {
    await this.#inTurn(() => this.ctx.storage.deleteAll());
  }

  #inTurn<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(work, work);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #load(): Promise<StreamState | undefined> {
    const raw: unknown = await this.ctx.storage.get(KEY);
    if (raw === undefined) return undefined;
    const parsed = v.safeParse(Stored, raw);
    return parsed.success ? { epoch: parsed.output.epoch, holder: parsed.output.holder } : undefined;
  }

  /** A record with nothing stored: held by whichever other origin carries the name live, if one does. */
  async #rebuilt(stream: string, node: string, otherOrigins: readonly string[]): Promise<StreamState> {
    for (const other of otherOrigins) {
      if (other === node) continue;
      const found = await this.#sources(other).catch(() => undefined);
      const live = found?.find((s) => s.stream === stream);
      // Taken as a holder since long ago: the claim asks that origin again, as for any old holder.
      if (live !== undefined) return { epoch: 1, holder: { node: other, publishId: live.publishId, since: 0 } };
    }
    return { epoch: 0, holder: undefined };
  }

  async #isLive(stream: string, holder: Holder): Promise<Liveness> {
    try {
      const live = await this.#sources(holder.node);
      return { live: live.some((s) => s.stream === stream && s.publishId === holder.publishId) };
    } catch (err) {
      const e = CdnError.from(err);
      this.#log.warn('stream record: the holder cannot be checked', { stream, node: holder.node, err: e });
      return { live: 'unknown', reason: e.message };
    }
  }

  /** The live streams an origin's agent reports (a link of its own, closed after the one request). */
  async #sources(node: string): Promise<{ stream: string; publishId: string }[]> {
    const config = readConfig(this.env);
    const url = config.agentUrl(node);
    const link = await connectBridge({ url, secret: config.bridgeSecret, agentNode: config.agentNodeOf(url), timeoutMs: config.bridgeRequestTimeoutMs, log: this.#log });
    try {
      const answer = await link.request('sources', {});
      return answer.streams.filter((s) => s.node === node);
    } finally {
      link.close('the stream record asked what it needed');
    }
  }
}
