/**
 * The one table of error codes that cross Fanout's process boundaries (bridge, worker, clients):
 * each code's HTTP status and whether a retry can help. A status comes from the code alone; a case
 * that needs another status gets another code. Call sites build errors with the named
 * constructors in `Errors`, so one message has one home.
 * Pure: no runtime imports, shared by every side.
 */
import type * as v from 'valibot';

export const ERROR_CODES = {
  INVALID_ARGUMENT: { status: 400, retryable: false },
  /** A client's own credentials are missing, invalid or expired (a stream token). */
  UNAUTHENTICATED: { status: 401, retryable: false },
  /** A valid credential that does not allow this (another stream, node or action). */
  PERMISSION_DENIED: { status: 403, retryable: false },
  NOT_FOUND: { status: 404, retryable: false },
  METHOD_NOT_ALLOWED: { status: 405, retryable: false },
  ALREADY_EXISTS: { status: 409, retryable: false },
  /** The name exists but is not live yet (a WHEP play of a stream nobody publishes yet): retry later. */
  NOT_LIVE: { status: 409, retryable: true },
  /** An `If-Match` that names another version of the resource (a WHIP/WHEP session's ETag). */
  PRECONDITION_FAILED: { status: 412, retryable: false },
  PAYLOAD_TOO_LARGE: { status: 413, retryable: false },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, retryable: false },
  /** Well-formed, but asks for what Fanout does not do (a WHIP/WHEP ICE restart). */
  UNPROCESSABLE: { status: 422, retryable: false },
  /** A plain HTTP request to an endpoint that speaks WebSocket only. */
  UPGRADE_REQUIRED: { status: 426, retryable: false },
  /** The request needs a precondition header it lacks (WHIP's `If-Match: *` for an ICE restart). */
  PRECONDITION_REQUIRED: { status: 428, retryable: false },
  RESOURCE_EXHAUSTED: { status: 429, retryable: true },
  FAILED_PRECONDITION: { status: 500, retryable: false },
  INTERNAL: { status: 500, retryable: false },
  /** Janus refused a request (`janusCode` says why). */
  JANUS: { status: 502, retryable: false },
  /** The bridge refused the worker's own secret: an operator's misconfiguration, not the client's. */
  BRIDGE_UNAUTHENTICATED: { status: 502, retryable: false },
  UNAVAILABLE: { status: 503, retryable: true },
  TIMEOUT: { status: 504, retryable: true },
} as const satisfies Record<string, { status: number; retryable: boolean }>;

export type ErrorCode = keyof typeof ERROR_CODES;

export const ERROR_CODE_NAMES = Object.keys(ERROR_CODES) as [ErrorCode, ...ErrorCode[]];

/** Seconds a client should wait before retrying a 503. */
export const RETRY_AFTER_SECONDS = 5;

/** The HTTP status of a code: the table's, and only the table's. */
export function httpStatus(code: ErrorCode): number {
  return ERROR_CODES[code].status;
}

/** A typed error with a string code, converted to the wire in one place (`toWire`). */
export class CdnError extends Error {
  override readonly name = 'CdnError';
  readonly code: ErrorCode;
  /** The numeric Janus error code, when Janus refused the request. */
  readonly janusCode: number | undefined;

  constructor(code: ErrorCode, message: string, options?: { janusCode?: number; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.janusCode = options?.janusCode;
  }

  get retryable(): boolean {
    return ERROR_CODES[this.code].retryable;
  }

  get status(): number {
    return httpStatus(this.code);
  }

  toWire(): WireError {
    return this.janusCode === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, janusCode: this.janusCode };
  }

  static from(err: unknown): CdnError {
    if (err instanceof CdnError) return err;
    return new CdnError('INTERNAL', errorText(err), { cause: err });
  }
}

export interface WireError {
  code: ErrorCode;
  message: string;
  janusCode?: number;
}

/** The one JSON shape of an HTTP error answer, from the worker and the bridge alike. */
export interface ErrorBody {
  error: { code: ErrorCode; message: string; retryable: boolean };
}

export function errorBody(code: ErrorCode, message: string): ErrorBody {
  return { error: { code, message, retryable: ERROR_CODES[code].retryable } };
}

/**
 * An unknown thrown value as one line of text: a CdnError as `CODE: message`, an Error as its
 * message, anything else as JSON (never "[object Object]").
 */
export function errorText(err: unknown): string {
  if (err instanceof CdnError) return `${err.code}: ${err.message}`;
  if (err instanceof Error) return err.message === '' ? err.name : err.message;
  if (typeof err === 'string') return err;
  if (typeof err === 'object' && err !== null) {
    // An event that carries an error (a WebSocket ErrorEvent: its fields are getters JSON skips).
    const inner: unknown = Reflect.get(err, 'error');
    if (inner instanceof Error) return errorText(inner);
    const message: unknown = Reflect.get(err, 'message');
    if (typeof message === 'string' && message !== '') return message;
    try {
      return JSON.stringify(err) ?? String(err);
    } catch {
      return Object.prototype.toString.call(err);
    }
  }
  return String(err);
}

/**
 * A valibot issue as `path: rule` in the message's own terms (`data[0].name: <rule>`, or
 * `<path> is required` for a missing field).
 */
export function issueText(issue: v.BaseIssue<unknown> | undefined, fallback = 'the value is invalid'): string {
  if (issue === undefined) return fallback;
  const path = (issue.path ?? []).reduce<string>((acc, p) => {
    const key: unknown = p.key;
    return typeof key === 'number' ? `${acc}[${key}]` : acc === '' ? String(key) : `${acc}.${String(key)}`;
  }, '');
  const missing = issue.kind === 'schema' && issue.received === 'undefined' && path !== '';
  if (missing && (issue.type === 'object' || issue.type === 'loose_object' || issue.type === 'strict_object' || issue.type === 'loose_tuple' || issue.type === 'tuple')) {
    return `${path} is required`;
  }
  return path === '' ? issue.message : `${path}: ${issue.message}`;
}

/** Named errors: each message has one home. */
export const Errors = {
  invalid: (message: string) => new CdnError('INVALID_ARGUMENT', message),
  streamNotFound: (stream: string) => new CdnError('NOT_FOUND', `stream "${stream}" is not published`),
  streamNameInUse: (stream: string) => new CdnError('ALREADY_EXISTS', `stream "${stream}" is already published`),
  /** The stream's record holds the name for a publish on `node` (the CDN-wide publish lock). */
  streamHeld: (stream: string, node: string) => new CdnError('ALREADY_EXISTS', `stream "${stream}" is already published (on ${node})`),
  /** The record's holder could not be checked: it may be live, so the name stays held for now. */
  streamHolderUnknown: (stream: string, node: string, reason: string) =>
    new CdnError('UNAVAILABLE', `stream "${stream}" is held by a publish on ${node}, whose agent cannot be asked whether it is still live (${reason}); retry shortly`),
  idInUse: (id: string) => new CdnError('ALREADY_EXISTS', `id "${id}" is already in use`),
  publishNotFound: (publishId: string) => new CdnError('NOT_FOUND', `no publish with id "${publishId}"`),
  playNotFound: (playId: string) => new CdnError('NOT_FOUND', `no play with id "${playId}"`),
  nodeUnknown: (node: string) => new CdnError('NOT_FOUND', `unknown node "${node}"`),
  /** An agent drives one node: a request for another node went to the wrong agent. */
  nodeElsewhere: (node: string, here: string) => new CdnError('NOT_FOUND', `node "${node}" is driven by its own agent, not by this one (${here})`),
  nodeDown: (node: string) => new CdnError('UNAVAILABLE', `node ${node} is down`),
  closed: (what: string) => new CdnError('UNAVAILABLE', `${what} is closed`),
  timeout: (what: string, ms: number) => new CdnError('TIMEOUT', `${what} got no answer within ${ms} ms`),
  internal: (message: string) => new CdnError('INTERNAL', message),
  // -- the worker's HTTP and signalling cases (one home per message)
  /** The bridge (or its node list) cannot be had: why, as the caller learnt it. */
  bridgeUnavailable: (reason: string) => new CdnError('UNAVAILABLE', `the bridge is unavailable: ${reason}`),
  /** The bridge refused the worker's own BRIDGE_SECRET: the operator's to fix, never the client's token. */
  bridgeSecretRefused: (apiUrl: string, httpStatus: number) =>
    new CdnError('BRIDGE_UNAUTHENTICATED', `the bridge at ${apiUrl} refused the worker's BRIDGE_SECRET (HTTP ${httpStatus}); it must equal the bridge's BRIDGE_SECRET`),
  /** A client's token refused: UNAUTHENTICATED (no valid token) or PERMISSION_DENIED (a valid one for something else). */
  restricted: (code: 'UNAUTHENTICATED' | 'PERMISSION_DENIED', reason: string) => new CdnError(code, `Restricted access: ${reason}`),
  /** An operator route (POST /admin/...) without the worker's BRIDGE_SECRET as its bearer. */
  operatorOnly: (path: string) => new CdnError('UNAUTHENTICATED', `${path} is for the operator: send the worker's BRIDGE_SECRET as "Authorization: Bearer <secret>"`),
  methodNotAllowed: (message: string) => new CdnError('METHOD_NOT_ALLOWED', message),
  payloadTooLarge: (what: string, limit: number) => new CdnError('PAYLOAD_TOO_LARGE', `${what} is larger than ${limit} bytes`),
  unsupportedMediaType: (message: string) => new CdnError('UNSUPPORTED_MEDIA_TYPE', message),
  unprocessable: (message: string) => new CdnError('UNPROCESSABLE', message),
  upgradeRequired: (message: string) => new CdnError('UPGRADE_REQUIRED', message),
  preconditionRequired: (message: string) => new CdnError('PRECONDITION_REQUIRED', message),
  preconditionFailed: (message: string) => new CdnError('PRECONDITION_FAILED', message),
  /** A WHIP/WHEP session URL that names no live session. */
  sessionNotFound: (kind: string, id: string) => new CdnError('NOT_FOUND', `no ${kind} session "${id}" (it ended, or never existed)`),
  notLive: (stream: string, why: string) => new CdnError('NOT_LIVE', `stream "${stream}" is not live: ${why}`),
} as const;
