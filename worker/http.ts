/**
 * JSON errors for HTTP answers: the one body shape and the one code-to-status table
 * (protocol/errors.ts), used by every route.
 *   { "error": { "code": "NOT_FOUND", "message": "...", "retryable": false } }
 */
import { errorBody, httpStatus, RETRY_AFTER_SECONDS, type CdnError } from '../protocol/index.ts';

export { errorBody, httpStatus, RETRY_AFTER_SECONDS };
export type { ErrorBody } from '../protocol/index.ts';

/** A JSON error response with the status of its code; 503s carry Retry-After. */
export function errorResponse(err: CdnError, headers: Record<string, string> = {}, status = httpStatus(err.code)): Response {
  const extra: Record<string, string> = status === 503 ? { 'Retry-After': String(RETRY_AFTER_SECONDS) } : {};
  return Response.json(errorBody(err.code, err.message), {
    status,
    headers: { 'Cache-Control': 'no-store', ...extra, ...headers },
  });
}
