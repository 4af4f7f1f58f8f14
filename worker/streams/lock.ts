/**
 * The CDN-wide publish lock of one stream name, as its record (./durable-object.ts) keeps it:
 * which publish on which origin holds the name, and an epoch that grows with every new holder (a
 * later publish of the name is told apart from an earlier one that is still winding down).
 * Runtime-free: the holder's liveness is asked of `isLive`, the clock comes in as `now`.
 *
 *   free, or held by this same publish        taken (the same publish keeps its epoch)
 *   held, the holder younger than SETTLE_MS   refused: its publish may not be up yet
 *   held, the holder's origin says it lives   refused (ALREADY_EXISTS, naming the origin)
 *   held, the holder's origin says it ended   taken over (a holder that never released: its
 *                                             worker went away, or its origin's Janus died)
 *   held, the holder's origin cannot be asked refused, retryable: it may still be live
 */
import { Errors, type CdnError } from '../../protocol/index.ts';

/** A holder younger than this is not asked about: its publish may still be setting up. */
export const SETTLE_MS = 10_000;

export interface Holder {
  node: string;
  publishId: string;
  /** When it took the name (epoch ms). */
  since: number;
}

/** What a stream's record keeps. `epoch` outlives its holders. */
export interface StreamState {
  epoch: number;
  holder: Holder | undefined;
}

export type Liveness = { live: true } | { live: false } | { live: 'unknown'; reason: string };

export type ClaimOutcome = { ok: true; state: StreamState } | { ok: false; error: CdnError };

export interface ClaimInput {
  stream: string;
  node: string;
  publishId: string;
  now: number;
  isLive(holder: Holder): Promise<Liveness>;
}

/** Decides a claim on `state`: the state to keep, or the error for the claimant. */
export async function claim(state: StreamState, want: ClaimInput): Promise<ClaimOutcome> {
  const held = state.holder;
  if (held !== undefined && held.publishId === want.publishId) return { ok: true, state };
  if (held !== undefined) {
    if (want.now - held.since < SETTLE_MS) return { ok: false, error: Errors.streamHeld(want.stream, held.node) };
    const verdict = await want.isLive(held);
    if (verdict.live === true) return { ok: false, error: Errors.streamHeld(want.stream, held.node) };
    if (verdict.live === 'unknown') return { ok: false, error: Errors.streamHolderUnknown(want.stream, held.node, verdict.reason) };
  }
  return { ok: true, state: { epoch: state.epoch + 1, holder: { node: want.node, publishId: want.publishId, since: want.now } } };
}

/** Frees the name if `publishId` holds it (a release by an earlier holder changes nothing). */
export function release(state: StreamState, publishId: string): StreamState {
  return state.holder?.publishId === publishId ? { epoch: state.epoch, holder: undefined } : state;
}
