/**
 * A WCS session's side of the token gate (../auth/gate.ts): the `connection` frame's token is
 * verified once, when it arrives, and every publish or play the session starts is then decided by
 * the same `gate` WHIP/WHEP and /lb use. Runtime-free.
 *
 * The token is the connection's `authToken`, else `custom.token` (WCS puts app data in custom).
 */
import { errorText, type ConnectionData } from '../../protocol/index.ts';
import { gate, type Auth, type GateVerdict, type Verified } from '../auth/gate.ts';
import type { TokenRequest } from '../auth/token.ts';
import type * as v from 'valibot';

export class SessionTokens {
  readonly #auth: Auth | undefined;
  readonly #now: () => number;
  /** The `connection` token, verified (when tokens are required). */
  #verified: Promise<Verified> | undefined;

  constructor(auth: Auth | undefined, now: () => number) {
    this.#auth = auth;
    this.#now = now;
  }

  /** Tokens are required: a publish or play needs one that allows it. */
  get required(): boolean {
    return this.#auth?.required === true;
  }

  /**
   * Verifies the connection's token. Resolves true when the session may use the bridge at all
   * (always, when tokens are not required): a client without a valid token never gets to it.
   */
  connect(data: v.InferOutput<typeof ConnectionData>): Promise<boolean> {
    const auth = this.#auth;
    if (auth === undefined || !auth.required) return Promise.resolve(true);
    const verified = auth.verify(tokenOf(data), this.#now()).catch(
      (err: unknown): Verified => ({ ok: false, denial: { code: 'UNAUTHENTICATED', reason: `the token could not be checked (${errorText(err)})` } }),
    );
    this.#verified = verified;
    return verified.then((result) => result.ok);
  }

  /** Whether the session's token allows `want`, and the node it pins players to. */
  async admit(want: TokenRequest): Promise<GateVerdict> {
    const auth = this.#auth;
    if (auth === undefined || !auth.required) return { ok: true, pinnedNode: undefined };
    const verified = await (this.#verified ?? auth.verify(undefined, this.#now()));
    return gate(verified, want, this.#now());
  }
}

/** The token a `connection` frame carries: `authToken`, else `custom.token`. */
function tokenOf(d: v.InferOutput<typeof ConnectionData>): string | undefined {
  if (typeof d.authToken === 'string' && d.authToken !== '') return d.authToken;
  const custom: unknown = typeof d.custom === 'object' && d.custom !== null ? Reflect.get(d.custom, 'token') : undefined;
  return typeof custom === 'string' && custom !== '' ? custom : undefined;
}
