/**
 * Fanout's publish/play tokens: HMAC-SHA256 over a small JSON claim set, with Web Crypto only, so
 * the same code runs in the worker (workerd) and in the minting script (Node).
 *
 *   token   = base64url(JSON claims) "." base64url(HMAC-SHA256(key, base64url(JSON claims)))
 *   claims  = { "v": 1,
 *               "act": "publish" | "play" | ["publish", "play"],
 *               "stream": "<exact stream name>"   or   "prefix": "<stream name prefix, may be empty>",
 *               "exp": <expiry, seconds since the epoch>,
 *               "node": "<node id>"?,              (only on that node; a play token also pins /lb
 *                                                   and the origin's redirect to it)
 *               "iat": <issued at, seconds>? }
 *
 * The key is the UTF-8 bytes of the configured string. Several keys may be configured (rotation):
 * a token is valid when any of them signed it. Unknown claims make a token invalid, so a claim a
 * later version adds to restrict a token is never silently ignored.
 */
import * as v from 'valibot';
import { issueText, NodeId, StreamName } from '../../protocol/index.ts';

export const TOKEN_VERSION = 1;
/** Longest token looked at; longer ones are refused before any crypto. */
export const MAX_TOKEN_LENGTH = 2048;
/** Shortest signing key accepted (characters). `npm run token -- --new-key` makes 43. */
export const MIN_KEY_LENGTH = 32;
/** Most keys verified at once (the current one, the next one during a rotation, ...). */
export const MAX_KEYS = 4;

export type TokenAction = 'publish' | 'play';
const Action = v.picklist(['publish', 'play'], 'act must be "publish" or "play"');

const Seconds = v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(2 ** 40));

export const TokenClaims = v.pipe(
  v.strictObject({
    v: v.literal(TOKEN_VERSION),
    act: v.union([Action, v.pipe(v.array(Action), v.minLength(1), v.maxLength(2))]),
    stream: v.optional(StreamName),
    prefix: v.optional(v.pipe(v.string(), v.regex(/^[A-Za-z0-9_.~-]{0,128}$/, 'prefix must be 0-128 stream name characters'))),
    exp: Seconds,
    node: v.optional(NodeId),
    iat: v.optional(Seconds),
  }),
  v.check((c) => (c.stream === undefined) !== (c.prefix === undefined), 'a token names exactly one of stream and prefix'),
);
export type TokenClaims = v.InferOutput<typeof TokenClaims>;

/** What a request wants to do. */
export interface TokenRequest {
  action: TokenAction;
  /** The stream; undefined when any stream the token names will do (the load balancer without ?stream). */
  stream?: string | undefined;
  /** The node it happens on; undefined when the node does not matter (the origin redirecting a player). */
  node?: string | undefined;
}

/** Why a token does not allow a request: UNAUTHENTICATED (no valid token) or PERMISSION_DENIED (not this). */
export interface TokenDenial {
  code: 'UNAUTHENTICATED' | 'PERMISSION_DENIED';
  reason: string;
}

export type TokenVerdict = { ok: true; claims: TokenClaims } | { ok: false; denial: TokenDenial };

const encoder = new TextEncoder();

export function base64url(bytes: Uint8Array): string {
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** Decodes base64url (no padding); undefined when the text is not base64url. */
export function fromBase64url(text: string): Uint8Array<ArrayBuffer> | undefined {
  if (!/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1) return undefined;
  const bin = atob(text.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (text.length % 4)) % 4));
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** Imports signing keys (the UTF-8 bytes of each string) for HMAC-SHA256. */
export async function importKeys(keys: readonly string[]): Promise<CryptoKey[]> {
  return Promise.all(
    keys.map((k) => crypto.subtle.importKey('raw', encoder.encode(k), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify'])),
  );
}

/** Signs `claims` with `key` (a key string, as configured). */
export async function signToken(key: string, claims: TokenClaims): Promise<string> {
  const parsed = v.safeParse(TokenClaims, claims);
  if (!parsed.success) throw new TypeError(`token claims: ${issueText(parsed.issues[0])}`);
  const [cryptoKey] = await importKeys([key]);
  if (cryptoKey === undefined) throw new TypeError('no key');
  const payload = base64url(encoder.encode(JSON.stringify(parsed.output)));
  const sig = new Uint8Array(await crypto.subtle.sign('HMAC', cryptoKey, encoder.encode(payload)));
  return `${payload}.${base64url(sig)}`;
}

const unauthenticated = (reason: string): TokenVerdict => ({ ok: false, denial: { code: 'UNAUTHENTICATED', reason } });

/**
 * Checks a token's form and signature (constant-time, by Web Crypto) and that it has not expired.
 * What it allows is `permits`' business.
 */
export async function verifyToken(keys: readonly CryptoKey[], token: string | undefined, nowMs: number): Promise<TokenVerdict> {
  if (token === undefined || token === '') return unauthenticated('no token');
  if (token.length > MAX_TOKEN_LENGTH) return unauthenticated(`the token is longer than ${MAX_TOKEN_LENGTH} characters`);
  const parts = token.split('.');
  const payload = parts[0];
  const sig = parts.length === 2 && parts[1] !== undefined ? fromBase64url(parts[1]) : undefined;
  if (payload === undefined || sig === undefined || sig.byteLength !== 32 || fromBase64url(payload) === undefined) {
    return unauthenticated('the token is not <claims>.<signature> in base64url');
  }
  const data = encoder.encode(payload);
  let signed = false;
  for (const key of keys) {
    if (await crypto.subtle.verify('HMAC', key, sig, data)) {
      signed = true;
      break;
    }
  }
  if (!signed) return unauthenticated('the token signature is not valid');
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(fromBase64url(payload)));
  } catch {
    return unauthenticated('the token claims are not JSON');
  }
  const claims = v.safeParse(TokenClaims, json);
  if (!claims.success) return unauthenticated(`the token claims are invalid: ${issueText(claims.issues[0])}`);
  if (claims.output.exp * 1000 <= nowMs) return unauthenticated('the token has expired');
  return { ok: true, claims: claims.output };
}

/** Whether `claims` allow `req` at `nowMs`; the denial says why not. */
export function permits(claims: TokenClaims, req: TokenRequest, nowMs: number): TokenDenial | undefined {
  if (claims.exp * 1000 <= nowMs) return { code: 'UNAUTHENTICATED', reason: 'the token has expired' };
  const actions: readonly TokenAction[] = typeof claims.act === 'string' ? [claims.act] : claims.act;
  if (!actions.includes(req.action)) return { code: 'PERMISSION_DENIED', reason: `the token does not allow ${req.action}` };
  if (req.stream !== undefined && claims.stream !== undefined && claims.stream !== req.stream) {
    return { code: 'PERMISSION_DENIED', reason: `the token is for stream "${claims.stream}"` };
  }
  if (req.stream !== undefined && claims.prefix !== undefined && !req.stream.startsWith(claims.prefix)) {
    return { code: 'PERMISSION_DENIED', reason: `the token is for streams starting with "${claims.prefix}"` };
  }
  if (claims.node !== undefined && req.node !== undefined && claims.node !== req.node) {
    return { code: 'PERMISSION_DENIED', reason: `the token is for node ${claims.node}` };
  }
  return undefined;
}
