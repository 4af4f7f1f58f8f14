/**
 * Who may publish and play: the worker's side of the signed tokens (./token.ts has the format).
 * With no key configured (FANOUT_TOKEN_KEYS) everything is open and the isolate says so loudly once.
 *
 * Where a token comes from:
 *   WCS WebSocket      the `connection` frame's `authToken`, else `custom.token`     (wcs/session.ts)
 *   HTTP (WHIP/WHEP)   `Authorization: Bearer <token>`                               (authorizeHttp)
 *   GET /lb            `?token=<token>` (or the Bearer header)                       (app.ts)
 * A refusal is "Restricted access" (WCS's wording) on the WebSocket, 401 (no valid token) or
 * 403 (a valid token for something else) over HTTP; nothing reaches the bridge.
 */
import { CdnError } from '../../protocol/index.ts';
import { errorResponse } from '../http.ts';
import { createLogger, type Logger } from '../log.ts';
import { importKeys, permits, verifyToken, type TokenDenial, type TokenRequest, type TokenVerdict } from './token.ts';

export * from './token.ts';

/** The info string WCS uses when a stream is refused for want of rights. */
export const RESTRICTED_ACCESS = 'Restricted access';

export interface Auth {
  /** A key is configured: publishing and playing need a token. */
  readonly required: boolean;
  /** Form, signature and expiry of a token (open: always ok, with no claims). */
  verify(token: string | undefined, nowMs: number): Promise<TokenVerdict | { ok: true; claims: undefined }>;
  /** Whether `token` allows `req`; undefined when it does (or when no key is configured). */
  authorize(token: string | undefined, req: TokenRequest, nowMs: number): Promise<TokenDenial | undefined>;
}

const OPEN: Auth = {
  required: false,
  verify: () => Promise.resolve({ ok: true, claims: undefined }),
  authorize: () => Promise.resolve(undefined),
};

/** Whether this isolate has said that everything is open (exported for its test). */
export const openWarning = { given: false };
const cache = new Map<string, Auth>();

/**
 * The Auth for a configured key list (cached per isolate). An empty list is the open mode, logged
 * once per isolate as a warning.
 */
export function authFor(keys: readonly string[], log: Logger = createLogger({ unit: 'auth' })): Auth {
  if (keys.length === 0) {
    if (!openWarning.given) {
      openWarning.given = true;
      log.warn(
        '!!! FANOUT_TOKEN_KEYS is not set: ANYONE can publish and play any stream. Set it (wrangler secret put FANOUT_TOKEN_KEYS; .dev.vars locally) to require signed tokens. !!!',
      );
    }
    return OPEN;
  }
  const id = keys.join('\n');
  const hit = cache.get(id);
  if (hit !== undefined) return hit;
  const imported = importKeys(keys);
  const auth: Auth = {
    required: true,
    verify: async (token, nowMs) => verifyToken(await imported, token, nowMs),
    authorize: async (token, req, nowMs) => {
      const verdict = await verifyToken(await imported, token, nowMs);
      return verdict.ok ? permits(verdict.claims, req, nowMs) : verdict.denial;
    },
  };
  // A few key sets at most live in an isolate (one per configuration); keep the map from growing anyway.
  if (cache.size >= 8) cache.clear();
  cache.set(id, auth);
  return auth;
}

/** The token of an HTTP request: `Authorization: Bearer <token>`, else the `token` query parameter. */
export function tokenOf(request: Request): string | undefined {
  const header = request.headers.get('authorization');
  if (header !== null) {
    const m = /^Bearer[ ]+(\S+)\s*$/i.exec(header);
    if (m?.[1] !== undefined) return m[1];
  }
  const query = new URL(request.url).searchParams.get('token');
  return query === null || query === '' ? undefined : query;
}

/** The 401 / 403 answer for a denial (JSON body, WWW-Authenticate as RFC 6750 has it). */
export function denialResponse(denial: TokenDenial, headers: Record<string, string> = {}): Response {
  const unauthenticated = denial.code === 'UNAUTHENTICATED';
  const challenge = unauthenticated
    ? denial.reason === 'no token'
      ? 'Bearer realm="fanout"'
      : 'Bearer realm="fanout", error="invalid_token"'
    : 'Bearer realm="fanout", error="insufficient_scope"';
  return errorResponse(new CdnError(denial.code, `${RESTRICTED_ACCESS}: ${denial.reason}`), { 'WWW-Authenticate': challenge, ...headers }, unauthenticated ? 401 : 403);
}

/**
 * The check WHIP/WHEP (and any HTTP route that publishes or plays) call first: undefined when the
 * request may go on, else the 401/403 response to send. The token comes from `tokenOf`.
 *
 * @example
 * const refused = await authorizeHttp(c.req.raw, authFor(config.tokenKeys), { action: 'publish', stream, node: node.id });
 * if (refused !== undefined) return refused;
 */
export async function authorizeHttp(request: Request, auth: Auth, req: TokenRequest, nowMs = Date.now(), headers: Record<string, string> = {}): Promise<Response | undefined> {
  if (!auth.required) return undefined;
  const denial = await auth.authorize(tokenOf(request), req, nowMs);
  return denial === undefined ? undefined : denialResponse(denial, headers);
}
