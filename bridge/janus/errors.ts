/**
 * Where Janode errors enter the bridge. Janode folds the Janus code into the message text
 * ("<code> <reason>"); this turns it back into a CdnError that keeps the numeric code, and maps
 * Janode's transaction timeout to a TIMEOUT error.
 */
import { CdnError, errorText } from '../../protocol/errors.ts';

/** Janus VideoRoom error codes the bridge reacts to (janus_videoroom.c, 1.1.2). */
export const JANUS_VIDEOROOM_ERROR = {
  NO_SUCH_ROOM: 426,
  ROOM_EXISTS: 427,
  NO_SUCH_FEED: 428,
  MISSING_ELEMENT: 429,
  INVALID_ELEMENT: 430,
  INVALID_SDP_TYPE: 431,
  PUBLISHERS_FULL: 432,
  UNAUTHORIZED: 433,
  ALREADY_PUBLISHED: 434,
  NOT_PUBLISHED: 435,
  ID_EXISTS: 436,
  INVALID_SDP: 437,
} as const;

/** Janus Streaming error codes the bridge reacts to (janus_streaming.c, 1.1.2). */
export const JANUS_STREAMING_ERROR = {
  NO_SUCH_MOUNTPOINT: 455,
  CANT_CREATE: 456,
} as const;

/** Janus core error codes the bridge reacts to (apierror.h). */
export const JANUS_CORE_ERROR = {
  SESSION_NOT_FOUND: 458,
  HANDLE_NOT_FOUND: 459,
  JSEP_UNKNOWN_TYPE: 464,
  JSEP_INVALID_SDP: 465,
  UNEXPECTED_ANSWER: 469,
  WEBRTC_STATE: 471,
} as const;

/** Codes that mean "the session description the client gave is not usable". */
const SDP_ERRORS: ReadonlySet<number> = new Set([
  JANUS_VIDEOROOM_ERROR.INVALID_SDP_TYPE,
  JANUS_VIDEOROOM_ERROR.INVALID_SDP,
  JANUS_CORE_ERROR.JSEP_UNKNOWN_TYPE,
  JANUS_CORE_ERROR.JSEP_INVALID_SDP,
  JANUS_CORE_ERROR.UNEXPECTED_ANSWER,
]);

/** Janus gave no answer to `what` within `ms` (the bridge's own timeout, not Janode's). */
export function janusTimeout(what: string, ms: number): CdnError {
  return new CdnError('TIMEOUT', `${what}: Janus did not answer within ${ms} ms`);
}

export function toCdnError(err: unknown, what: string): CdnError {
  if (err instanceof CdnError) return err;
  const message = errorText(err);
  if (/timed out/i.test(message)) {
    return new CdnError('TIMEOUT', `${what}: Janus did not answer in time`, { cause: err });
  }
  const m = /^(\d{3})\s+(.*)$/s.exec(message);
  if (m !== null) {
    const janusCode = Number(m[1]);
    return new CdnError('JANUS', `${what}: Janus error ${janusCode}: ${m[2]}`, { janusCode, cause: err });
  }
  if (/detach/i.test(message)) {
    return new CdnError('UNAVAILABLE', `${what}: the Janus handle is gone (${message})`, { cause: err });
  }
  if (/closed|not connected|connection/i.test(message)) {
    return new CdnError('UNAVAILABLE', `${what}: the Janus node is not reachable (${message})`, { cause: err });
  }
  return new CdnError('INTERNAL', `${what}: ${message}`, { cause: err });
}

/**
 * A Janus refusal of the client's SDP becomes INVALID_ARGUMENT naming the `sdp` field, with the
 * Janus code kept; anything else passes through unchanged.
 */
export function sdpError(err: CdnError): CdnError {
  if (err.janusCode === undefined || !SDP_ERRORS.has(err.janusCode)) return err;
  const reason = err.message.replace(/^.*?Janus error \d+: /s, '');
  return new CdnError('INVALID_ARGUMENT', `sdp: Janus cannot use this session description (${err.janusCode} ${reason})`, {
    janusCode: err.janusCode,
    cause: err,
  });
}

/** Teardown errors that only say the thing is already gone: expected, not failures. */
export function isBenignTeardownError(err: unknown): boolean {
  const e = toCdnError(err, 'teardown');
  if (e.code === 'UNAVAILABLE') return true;
  if (e.janusCode === JANUS_VIDEOROOM_ERROR.NO_SUCH_ROOM || e.janusCode === JANUS_VIDEOROOM_ERROR.NO_SUCH_FEED) return true;
  if (e.janusCode === JANUS_STREAMING_ERROR.NO_SUCH_MOUNTPOINT) return true;
  return e.janusCode === JANUS_CORE_ERROR.SESSION_NOT_FOUND || e.janusCode === JANUS_CORE_ERROR.HANDLE_NOT_FOUND;
}
