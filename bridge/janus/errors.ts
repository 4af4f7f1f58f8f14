/**
 * Where Janode errors enter the bridge. Janode folds the Janus code into the message text
 * ("<code> <reason>"); this turns it back into a CdnError that keeps the numeric code, and maps
 * Janode's transaction timeout to a TIMEOUT error.
 */
import { CdnError } from '../protocol/errors.ts';

/** Janus VideoRoom error codes the bridge reacts to (janus_videoroom.c). */
export const JANUS_VIDEOROOM_ERROR = {
  NO_SUCH_ROOM: 426,
  ROOM_EXISTS: 427,
  NO_SUCH_FEED: 428,
  INVALID_SDP: 431,
  ID_EXISTS: 436,
  INVALID_ELEMENT: 430,
  MISSING_ELEMENT: 429,
} as const;

export function toCdnError(err: unknown, what: string): CdnError {
  if (err instanceof CdnError) return err;
  const message = err instanceof Error ? err.message : String(err);
  if (/timed out/i.test(message)) {
    return new CdnError('TIMEOUT', `${what}: Janus did not answer in time`, { cause: err });
  }
  const m = /^(\d{3})\s+(.*)$/s.exec(message);
  if (m !== null) {
    const janusCode = Number(m[1]);
    return new CdnError('JANUS', `${what}: Janus error ${janusCode}: ${m[2]}`, { janusCode, cause: err });
  }
  if (/closed|not connected|connection/i.test(message)) {
    return new CdnError('UNAVAILABLE', `${what}: the Janus node is not reachable (${message})`, { cause: err });
  }
  return new CdnError('INTERNAL', `${what}: ${message}`, { cause: err });
}

/** Teardown errors that only say the thing is already gone: expected, not failures. */
export function isBenignTeardownError(err: unknown): boolean {
  const e = toCdnError(err, 'teardown');
  if (e.code === 'UNAVAILABLE') return true;
  if (e.janusCode === JANUS_VIDEOROOM_ERROR.NO_SUCH_ROOM || e.janusCode === JANUS_VIDEOROOM_ERROR.NO_SUCH_FEED) return true;
  // Core errors: 458 no such session, 459 no such handle.
  return e.janusCode === 458 || e.janusCode === 459;
}
