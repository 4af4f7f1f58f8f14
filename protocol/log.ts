/**
 * The one logger interface of the worker and the bridge, and the redaction both apply. Call
 * sites write `log.warn('bridge link lost', { session, err })`: the message first, then the ids
 * that matter as fields. Errors go in as values (`err`), and `scrub` turns them into text with
 * their code (see errorText), so a line never says "[object Object]".
 *
 * Secrets and session descriptions never reach a line above debug, whatever a call site passes:
 * fields named like an SDP, a candidate, a token or a secret, and any string that is an SDP, are
 * replaced. At debug they are kept (that is what debug is for).
 * Pure: no runtime imports; each side writes the lines its own way (console in workerd, pino in Node).
 */
import { errorText } from './errors.ts';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** A logger that adds `fields` to every line. */
  child(fields: LogFields): Logger;
}

/** Field names whose values are never logged above debug. */
const SENSITIVE_KEY =
  /^(sdp|offer|answer|jsep|candidate|candidates|token|authtoken|auth_token|secret|apisecret|api_secret|bridgesecret|bridge_secret|admin_key|adminkey|password|pwd|authorization)$/i;
export const REDACTED = '[redacted]';

/** A copy of `value` without SDPs and secrets (objects and arrays a few levels deep); errors become text. */
export function scrub(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return /^v=0\r?\n/.test(value) ? REDACTED : value;
  if (value instanceof Error) return errorText(value);
  if (depth > 4 || typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) return value.map((x) => scrub(x, depth + 1));
  const out: LogFields = {};
  for (const [k, x] of Object.entries(value)) out[k] = SENSITIVE_KEY.test(k) ? REDACTED : scrub(x, depth + 1);
  return out;
}

/** Fields as a line may carry them at `level`: scrubbed above debug; errors as text at every level. */
export function fieldsFor(level: LogLevel, fields: LogFields | undefined): LogFields {
  if (fields === undefined) return {};
  if (level !== 'debug') return scrub(fields) as LogFields;
  const out: LogFields = {};
  for (const [k, x] of Object.entries(fields)) out[k] = x instanceof Error ? errorText(x) : x;
  return out;
}

/** A logger that prints nothing (tests, and callers that do not care). */
export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  child: () => silentLogger,
};
