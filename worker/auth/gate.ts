/**
 * The one token gate of the worker, runtime-free: what a verified token allows (`gate`), for the
 * WCS session (which verifies the `connection` token once), WHIP/WHEP and /lb (which verify the
 * token each request carries, `check`). ./index.ts makes the `Auth` for the configured keys.
 */
import { permits, type TokenDenial, type TokenRequest, type TokenVerdict } from './token.ts';

/** A token's form, signature and expiry: checked, with its claims (none in the open mode). */
export type Verified = TokenVerdict | { ok: true; claims: undefined };

export interface Auth {
  /** A key is configured: publishing and playing need a token. */
  readonly required: boolean;
  /** Form, signature and expiry of a token (open: always ok, with no claims). */
  verify(token: string | undefined, nowMs: number): Promise<Verified>;
}

/** What the gate decides: go on (pinned to the node a play token names, if any), or why not. */
export type GateVerdict = { ok: true; pinnedNode: string | undefined } | { ok: false; denial: TokenDenial };

/**
 * The one token rule: a verified token allows `want` (action, stream, node), and a token that
 * names a node pins the players it admits to that node.
 */
export function gate(verified: Verified, want: TokenRequest, nowMs: number): GateVerdict {
  if (!verified.ok) return { ok: false, denial: verified.denial };
  if (verified.claims === undefined) return { ok: true, pinnedNode: undefined };
  const denial = permits(verified.claims, want, nowMs);
  return denial === undefined ? { ok: true, pinnedNode: verified.claims.node } : { ok: false, denial };
}

/** Verifies `token` and applies the gate in one step (HTTP routes, where each request carries its token). */
export async function check(auth: Auth, token: string | undefined, want: TokenRequest, nowMs = Date.now()): Promise<GateVerdict> {
  if (!auth.required) return { ok: true, pinnedNode: undefined };
  return gate(await auth.verify(token, nowMs), want, nowMs);
}

