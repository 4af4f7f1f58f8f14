/**
 * The status names the SDK reports, as the Flashphoner WebSDK spells them (`src/constants.js`):
 * a page written for WCS keeps working with `SESSION_STATUS.ESTABLISHED`, `STREAM_STATUS.PLAYING`...
 */

/**
 * Session statuses.
 *
 * @example
 * session.on(SESSION_STATUS.ESTABLISHED, (s) => console.log('connected to', s.getServerUrl()));
 */
export const SESSION_STATUS = {
  /** Created, looking up the load balancer or opening the WebSocket. */
  PENDING: 'PENDING',
  /** The WebSocket is open; the `connection` frame is sent, `getUserData` not yet received. */
  CONNECTED: 'CONNECTED',
  /** The server accepted the session: streams can be created. */
  ESTABLISHED: 'ESTABLISHED',
  /** The WebSocket closed (by `disconnect()` or by the server). Final. */
  DISCONNECTED: 'DISCONNECTED',
  /** The WebSocket could not be opened, or broke. Final. */
  FAILED: 'FAILED',
  /** The server reported a problem that does not end the session (a `fail` frame, a bad frame). */
  WARN: 'WARN',
} as const;
export type SessionStatus = (typeof SESSION_STATUS)[keyof typeof SESSION_STATUS];

/**
 * Stream statuses.
 *
 * @example
 * stream.on(STREAM_STATUS.PLAYING, () => console.log('playing'));
 */
export const STREAM_STATUS = {
  /** Created by `session.createStream()`, not yet published or played. */
  NEW: 'NEW',
  /** `publish()` or `play()` was called; the server has not confirmed yet. */
  PENDING: 'PENDING',
  /** Media flows to the server. */
  PUBLISHING: 'PUBLISHING',
  /** Media flows from the server. */
  PLAYING: 'PLAYING',
  /** Publishing ended (`stop()`, or the server ended it). Final. */
  UNPUBLISHED: 'UNPUBLISHED',
  /** Playing ended (`stop()`, or the stream was unpublished). Final. */
  STOPPED: 'STOPPED',
  /** The stream failed; `getInfo()` says why. Final. */
  FAILED: 'FAILED',
  /**
   * An event, not a state: the connection loses too many packets (the player's or publisher's own
   * statistics, or the server's). `status()` keeps PLAYING or PUBLISHING.
   */
  NOT_ENOUGH_BANDWIDTH: 'NOT_ENOUGH_BANDWIDTH',
} as const;
export type StreamStatus = (typeof STREAM_STATUS)[keyof typeof STREAM_STATUS];

/** Statuses after which a stream is released and cannot be used again. */
export const FINAL_STREAM_STATUSES: ReadonlySet<StreamStatus> = new Set([
  STREAM_STATUS.UNPUBLISHED,
  STREAM_STATUS.STOPPED,
  STREAM_STATUS.FAILED,
]);
