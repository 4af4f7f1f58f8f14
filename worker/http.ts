/**
 * JSON errors for HTTP answers: one body shape and one code-to-status table, used by every route.
 *   { "error": { "code": "NOT_FOUND", "message": "...", "retryable": false } }
 */
import { CdnError, ERROR_CODES, type ErrorCode } from '../bridge/protocol/index.ts';

const STATUS: Record<ErrorCode, number> = {
  INVALID_ARGUMENT: 400,
  NOT_FOUND: 404,
  ALREADY_EXISTS: 409,
  FAILED_PRECONDITION: 500,
  UNAUTHENTICATED: 502,
  PERMISSION_DENIED: 403,
  RESOURCE_EXHAUSTED: 429,
  UNAVAILABLE: 503,
  TIMEOUT: 504,
  JANUS: 502,
  INTERNAL: 500,
};

/** Seconds a client should wait before retrying a 503. */
export const RETRY_AFTER_SECONDS = 5;

export function httpStatus(code: ErrorCode): number {
  return STATUS[code];
}

export interface ErrorBody {
  error: { code: ErrorCode; message: string; retryable: boolean };
}

export function errorBody(code: ErrorCode, message: string): ErrorBody {
  return { error: { code, message, retryable: ERROR_CODES[code].retryable } };
}

/** A JSON error response; 503s carry Retry-After. */
export function errorResponse(err: CdnError, headers: Record<string, string> = {}, status = httpStatus(err.code)): Response {
  const extra: Record<string, string> = status === 503 ? { 'Retry-After': String(RETRY_AFTER_SECONDS) } : {};
  return Response.json(errorBody(err.code, err.message), {
    status,
    headers: { 'Cache-Control': 'no-store', ...extra, ...headers },
  });
}
