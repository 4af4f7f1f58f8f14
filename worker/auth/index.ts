/**
 * Who may publish and play: the worker's one gate over the signed tokens (./token.ts has the
 * format). With no key configured (FANOUT_TOKEN_KEYS) everything is open and the isolate says so
 * loudly once.
 *
 * Where a token comes from:
 *   WCS WebSocket      the `connection` frame's `authToken`, else `custom.token`     (wcs/session-tokens.ts)
 *   HTTP (WHIP/WHEP)   `Authorization: Bearer <token>`, else `?token=`               (tokenOf)
 *   GET /lb            the same                                                      (app.ts)
 * Every one of them decides with `gate` (a verified token against what is wanted, and the node
 * the token pins players to). A refusal is "Restricted access" (WCS's wording) on the WebSocket;
 * over HTTP it is UNAUTHENTICATED (401, no valid token) or PERMISSION_DENIED (403, a valid token
 * for something else), with the challenge RFC 6750 asks for. Nothing reaches the bridge.
 */
import { Errors, type Logger } from '../../protocol/index.ts';
import { errorResponse } from '../http.ts';
import { createLogger } from '../log.ts';
import type { Auth } from './gate.ts';
import { importKeys, verifyToken, type TokenDenial } from './token.ts';

export * from './gate.ts';
export * from './token.ts';

/** The info string WCS uses when a stream is refused for want of rights. */
export const RESTRICTED_ACCESS = 'Restricted access';

const OPEN: Auth = {
  required: false,
  verify: () => Promise.resolve({ ok: true, claims: undefined }),
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

/** The HTTP answer to a denial: the table's 401 or 403, with WWW-Authenticate as RFC 6750 has it. */
export function denialResponse(denial: TokenDenial): Response {
  const challenge =
    denial.code === 'PERMISSION_DENIED'
      ? 'Bearer realm="fanout", error="insufficient_scope"'
      : denial.reason === 'no token'
        ? 'Bearer realm="fanout"'
        : 'Bearer realm="fanout", error="invalid_token"';
  return errorResponse(Errors.restricted(denial.code, denial.reason), { 'WWW-Authenticate': challenge });
}
