/**
 * `npm run token` arguments: what to mint, parsed and checked with messages that name the flag.
 *
 *   --publish [NAME]   publish rights          --play [NAME]   play rights (both: one token for both)
 *   --prefix PREFIX    any stream starting with PREFIX, instead of NAME ("" for every stream)
 *   --ttl DURATION     lifetime: 90s, 30m, 1h (default), 7d
 *   --node ID          only on that node (a play token also pins /lb and the origin's redirect to it)
 *   --key KEY          signing key (default: the first of FANOUT_TOKEN_KEYS, else from .dev.vars)
 *   --new-key          print a fresh random key instead
 */
import * as v from 'valibot';
import { NodeId, StreamName, STREAM_NAME_RULE } from '../../protocol/index.ts';
import { TokenClaims, type TokenAction } from '../../worker/auth/token.ts';

export const USAGE = `usage:
  npm run token -- --publish NAME [--ttl 1h] [--node ID]
  npm run token -- --play NAME [--ttl 1h] [--node EDGE]
  npm run token -- --publish --play NAME            one token for both
  npm run token -- --play --prefix PREFIX           every stream whose name starts with PREFIX
  npm run token -- --new-key                        a random signing key for FANOUT_TOKEN_KEYS
options: --ttl 90s|30m|1h|7d (default 1h), --node ID, --key KEY (default: first of FANOUT_TOKEN_KEYS, else .dev.vars)`;

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export type TokenCommand =
  | { kind: 'new-key' }
  | { kind: 'mint'; actions: TokenAction[]; stream?: string; prefix?: string; ttlSeconds: number; node?: string; key?: string };

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };
const MAX_TTL_SECONDS = 366 * 86400;

export function parseDuration(text: string): number {
  const m = /^(\d{1,6})([smhd])$/.exec(text.trim());
  if (m === null || m[1] === undefined || m[2] === undefined) throw new UsageError(`--ttl must be a number with s, m, h or d (e.g. 1h), got "${text}"`);
  const seconds = Number(m[1]) * (UNITS[m[2]] ?? 1);
  if (seconds < 1 || seconds > MAX_TTL_SECONDS) throw new UsageError(`--ttl must be from 1s to 366d, got "${text}"`);
  return seconds;
}

export function parseTokenArgs(argv: readonly string[]): TokenCommand {
  const actions: TokenAction[] = [];
  const names: string[] = [];
  let prefix: string | undefined;
  let ttlSeconds = 3600;
  let node: string | undefined;
  let key: string | undefined;
  let newKey = false;
  const value = (i: number, flag: string): string => {
    const next = argv[i + 1];
    if (next === undefined || next.startsWith('--')) throw new UsageError(`${flag} needs a value`);
    return next;
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    switch (arg) {
      case '--publish':
      case '--play': {
        actions.push(arg === '--publish' ? 'publish' : 'play');
        const next = argv[i + 1];
        if (next !== undefined && !next.startsWith('--')) {
          names.push(next);
          i++;
        }
        break;
      }
      case '--prefix':
        // An empty prefix ("") is allowed: every stream.
        if (argv[i + 1] === undefined) throw new UsageError('--prefix needs a value ("" for every stream)');
        prefix = argv[++i];
        break;
      case '--ttl':
        ttlSeconds = parseDuration(value(i++, arg));
        break;
      case '--node':
        node = value(i++, arg);
        break;
      case '--key':
        key = value(i++, arg);
        break;
      case '--new-key':
        newKey = true;
        break;
      case '--help':
      case '-h':
        throw new UsageError(USAGE);
      default:
        throw new UsageError(`unknown argument "${arg}"\n${USAGE}`);
    }
  }
  if (newKey) return { kind: 'new-key' };
  if (actions.length === 0) throw new UsageError(`say what the token allows: --publish and/or --play\n${USAGE}`);
  const distinct = [...new Set(names)];
  if (distinct.length > 1) throw new UsageError(`one token names one stream; got ${distinct.map((n) => `"${n}"`).join(' and ')}`);
  const stream = distinct[0];
  if (stream === undefined && prefix === undefined) throw new UsageError('name the stream (--publish NAME / --play NAME) or a --prefix');
  if (stream !== undefined && prefix !== undefined) throw new UsageError('give a stream NAME or a --prefix, not both');
  if (stream !== undefined && !v.is(StreamName, stream)) throw new UsageError(`stream "${stream}": ${STREAM_NAME_RULE}`);
  if (node !== undefined && !v.is(NodeId, node)) throw new UsageError(`--node "${node}" is not a node id such as "edge-1"`);
  return {
    kind: 'mint',
    actions: [...new Set(actions)],
    ...(stream === undefined ? {} : { stream }),
    ...(prefix === undefined ? {} : { prefix }),
    ttlSeconds,
    ...(node === undefined ? {} : { node }),
    ...(key === undefined ? {} : { key }),
  };
}

/** The claims of a mint command at `nowMs`. */
export function claimsOf(cmd: Extract<TokenCommand, { kind: 'mint' }>, nowMs: number): TokenClaims {
  const iat = Math.floor(nowMs / 1000);
  const [first] = cmd.actions;
  const claims = {
    v: 1 as const,
    act: cmd.actions.length === 1 && first !== undefined ? first : cmd.actions,
    ...(cmd.stream === undefined ? {} : { stream: cmd.stream }),
    ...(cmd.prefix === undefined ? {} : { prefix: cmd.prefix }),
    exp: iat + cmd.ttlSeconds,
    ...(cmd.node === undefined ? {} : { node: cmd.node }),
    iat,
  };
  const parsed = v.safeParse(TokenClaims, claims);
  if (!parsed.success) throw new UsageError(`token: ${parsed.issues[0].message}`);
  return parsed.output;
}
