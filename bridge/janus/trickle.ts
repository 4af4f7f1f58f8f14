/**
 * A client's trickled ICE candidates, handed to Janus on the client's handle (Janus's core
 * `trickle` request, which Janus acknowledges). Kept apart from the plugin requests: it is no
 * VideoRoom message, and only real Janode handles have it, so the handle fakes of the other
 * modules' tests need not.
 */
import { toCdnError } from './errors.ts';
import { withTimeout } from './request.ts';

/** The part of a Janode handle that trickles (`handle.trickle(candidate | candidate[])`). */
export interface TrickleHandle {
  trickle(candidate: unknown): Promise<unknown>;
}

export interface ClientCandidate {
  candidate: string;
  sdpMid?: string | undefined;
  sdpMLineIndex?: number | undefined;
}

/** Whether a handle can trickle (every Janode handle can). */
export function canTrickle(h: object): h is TrickleHandle {
  return 'trickle' in h && typeof h.trickle === 'function';
}

/**
 * Sends `candidates` (one request for all of them), then the end of candidates when `completed`.
 * Each Janus acknowledgement is awaited with `timeoutMs`.
 */
export async function trickle(h: TrickleHandle, candidates: readonly ClientCandidate[], completed: boolean, timeoutMs: number): Promise<void> {
  const send = async (what: string, payload: unknown): Promise<void> => {
    try {
      await withTimeout(h.trickle(payload), timeoutMs, what);
    } catch (err) {
      throw toCdnError(err, what);
    }
  };
  if (candidates.length > 0) {
    // Janode sends an array as `candidates`; Janus wants sdpMid and sdpMLineIndex only when known.
    const payload = candidates.map((c) => ({
      candidate: c.candidate,
      ...(c.sdpMid === undefined ? {} : { sdpMid: c.sdpMid }),
      ...(c.sdpMLineIndex === undefined ? {} : { sdpMLineIndex: c.sdpMLineIndex }),
    }));
    await send(`trickle ${candidates.length} candidate(s)`, payload);
  }
  if (completed) await send('trickle completed', { completed: true });
}
