/**
 * `npm run token`: mints a Fanout publish/play token (worker/auth/token.ts has the format), or a new
 * signing key. The token goes to stdout alone (so `$(npm run -s token -- ...)` works); what it
 * allows goes to stderr.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { MIN_KEY_LENGTH, signToken } from '../../worker/auth/token.ts';
import { parseEnvFile } from '../launch/janus-config.ts';
import { UsageError, claimsOf, parseTokenArgs } from './args.ts';
import { errorText } from '../../protocol/index.ts';

const ROOT = resolve(new URL('../..', import.meta.url).pathname);

/** The signing key: --key, else the first of FANOUT_TOKEN_KEYS, else FANOUT_TOKEN_KEYS in .dev.vars. */
function signingKey(flag: string | undefined): { key: string; from: string } {
  if (flag !== undefined) return { key: flag, from: '--key' };
  const first = (list: string | undefined): string | undefined =>
    list
      ?.replace(/^(["'])(.*)\1$/, '$2')
      .split(',')
      .map((k) => k.trim())
      .find((k) => k !== '');
  const fromEnv = first(process.env['FANOUT_TOKEN_KEYS']);
  if (fromEnv !== undefined) return { key: fromEnv, from: 'FANOUT_TOKEN_KEYS' };
  const devVars = join(ROOT, '.dev.vars');
  const fromFile = existsSync(devVars) ? first(parseEnvFile(readFileSync(devVars, 'utf8'))['FANOUT_TOKEN_KEYS']) : undefined;
  if (fromFile !== undefined) return { key: fromFile, from: '.dev.vars' };
  throw new UsageError('no signing key: set FANOUT_TOKEN_KEYS (the worker\'s keys; the first one signs), put it in .dev.vars, or pass --key (npm run token -- --new-key makes one)');
}

async function main(): Promise<void> {
  const cmd = parseTokenArgs(process.argv.slice(2));
  if (cmd.kind === 'new-key') {
    process.stdout.write(`${randomBytes(32).toString('base64url')}\n`);
    return;
  }
  const { key, from } = signingKey(cmd.key);
  if (key.length < MIN_KEY_LENGTH) throw new UsageError(`the signing key (from ${from}) is shorter than ${MIN_KEY_LENGTH} characters; the worker would refuse it`);
  const claims = claimsOf(cmd, Date.now());
  const token = await signToken(key, claims);
  process.stdout.write(`${token}\n`);
  process.stderr.write(`claims: ${JSON.stringify(claims)} (expires ${new Date(claims.exp * 1000).toISOString()}; signed with the key from ${from})\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`token: ${errorText(err)}\n`);
  process.exit(err instanceof UsageError ? 2 : 1);
});
