/**
 * The worker's HTTP plumbing shared by every route: the one CdnError-to-response helper (the one
 * JSON body shape and the status of the error table, protocol/errors.ts; no call site picks a
 * status) and the one CORS configuration (`hono/cors`) of the cross-origin APIs (/lb, WHIP, WHEP).
 *   { "error": { "code": "NOT_FOUND", "message": "...", "retryable": false } }
 */
import type { Context } from 'hono';
import { cors } from 'hono/cors';
import * as v from 'valibot';
import { errorBody, Errors, httpStatus, RETRY_AFTER_SECONDS, STREAM_NAME_RULE, StreamName, type CdnError } from '../protocol/index.ts';

export type { ErrorBody } from '../protocol/index.ts';

/** A JSON error response with the status of its code; 503s carry Retry-After. `headers` add to it (Allow, WWW-Authenticate, ...). */
/** The request's waitUntil, where the runtime gives one (Hono throws when there is no execution context). */
export function waitUntilOf(c: Context): ((promise: Promise<unknown>) => void) | undefined {
  try {
    const ctx = c.executionCtx;
    return (promise) => ctx.waitUntil(promise);
  } catch {
    return undefined;
  }
}

export function errorResponse(err: CdnError, headers: Record<string, string> = {}): Response {
  const status = httpStatus(err.code);
  const extra: Record<string, string> = status === 503 ? { 'Retry-After': String(RETRY_AFTER_SECONDS) } : {};
  return Response.json(errorBody(err.code, err.message), {
    status,
    headers: { 'Cache-Control': 'no-store', ...extra, ...headers },
  });
}

/**
 * A stream name from a URL (`/lb?stream=`, `/whip/{stream}`), checked by the one rule.
 * @throws CdnError INVALID_ARGUMENT naming the rule
 */
export function checkStreamParam(stream: string): string {
  if (!v.is(StreamName, stream)) throw Errors.invalid(`stream: ${STREAM_NAME_RULE}`);
  return stream;
}

const WHIP_WHEP_PATH = /(?:^|\/)wh[ie]p\//;

/**
 * CORS for the APIs browsers on other origins call: any origin, the headers WHIP/WHEP clients send
 * (@eyevinn/whip-web-client sends its PATCHes with an ETag header) and read. Preflights are
 * answered here (204); the methods offered are the route's: GET for /lb, POST/PATCH/DELETE for
 * WHIP and WHEP (PATCH on the endpoint too: clients read it there to decide to trickle).
 */
export const corsMiddleware = cors({
  origin: '*',
  allowMethods: (_origin, c) => (WHIP_WHEP_PATH.test(c.req.path) ? ['POST', 'PATCH', 'DELETE', 'OPTIONS'] : ['GET', 'OPTIONS']),
  allowHeaders: ['Authorization', 'Content-Type', 'If-Match', 'ETag'],
  exposeHeaders: ['Location', 'ETag', 'Link', 'Accept-Post', 'Accept-Patch', 'Allow', 'Retry-After', 'WWW-Authenticate'],
  maxAge: 86400,
});
