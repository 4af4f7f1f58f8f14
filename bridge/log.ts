/**
 * The bridge's structured logger: pino, one JSON object a line on stderr, with the level set by
 * FANOUT_LOG_LEVEL (debug, info, warn, error, silent; default info). Call sites pass the ids that
 * matter (owner, stream, node, publishId, playId) as fields; `child` adds them to every line.
 *
 * Secrets and session descriptions never reach a line above debug, whatever a call site passes:
 * fields named like an SDP, a token or a secret, and any string that is an SDP, are replaced.
 * At debug they are kept (that is what debug is for).
 */
import { pino, type DestinationStream, type Logger as PinoLogger } from 'pino';

const LEVELS = { debug: 20, info: 30, warn: 40, error: 50, silent: Infinity } as const;
export type LogLevel = keyof typeof LEVELS;

type Fields = Record<string, unknown>;

export interface Logger {
  debug(fields: Fields, msg: string): void;
  info(fields: Fields, msg: string): void;
  warn(fields: Fields, msg: string): void;
  error(fields: Fields, msg: string): void;
  child(fields: Fields): Logger;
}

/** Field names whose values are never logged above debug. */
const SENSITIVE_KEY = /^(sdp|offer|answer|jsep|candidate|token|authtoken|auth_token|secret|apisecret|api_secret|bridgesecret|bridge_secret|admin_key|adminkey|password|pwd|authorization)$/i;
export const REDACTED = '[redacted]';

/** A copy of `value` without SDPs and secrets (objects and arrays a few levels deep). */
export function scrub(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return /^v=0\r?\n/.test(value) ? REDACTED : value;
  if (depth > 4 || typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) return value.map((x) => scrub(x, depth + 1));
  if (value instanceof Error) return value;
  const out: Fields = {};
  for (const [k, x] of Object.entries(value)) out[k] = SENSITIVE_KEY.test(k) ? REDACTED : scrub(x, depth + 1);
  return out;
}

function wrap(p: PinoLogger, keepSensitive: boolean): Logger {
  return {
    debug: (f, m) => p.debug(f, m),
    info: (f, m) => p.info(f, m),
    warn: (f, m) => p.warn(f, m),
    error: (f, m) => p.error(f, m),
    // A child's fields are on every line it writes, debug or not: scrubbed unless the level is debug.
    child: (f) => wrap(p.child(keepSensitive ? f : (scrub(f) as Fields)), keepSensitive),
  };
}

/**
 * A logger at `level` with `base` on every line.
 * @param destination where lines go (default: stderr, written synchronously so a crash loses none)
 */
export function createLogger(level: LogLevel = 'info', base: Fields = {}, destination?: DestinationStream): Logger {
  const p = pino(
    {
      level,
      base: { pid: process.pid, ...(level === 'debug' ? base : (scrub(base) as Fields)) },
      messageKey: 'msg',
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      hooks: {
        logMethod(args, method, lvl) {
          if (lvl > LEVELS.debug) {
            const [first, ...rest] = args;
            if (typeof first === 'object' && first !== null) return method.apply(this, [scrub(first) as object, ...rest] as Parameters<typeof method>);
          }
          return method.apply(this, args);
        },
      },
    },
    destination ?? pino.destination({ dest: 2, sync: true }),
  );
  return wrap(p, level === 'debug');
}

export function parseLogLevel(value: string | undefined): LogLevel {
  if (value === undefined || value === '') return 'info';
  if (value in LEVELS) return value as LogLevel;
  throw new Error(`FANOUT_LOG_LEVEL must be one of ${Object.keys(LEVELS).join(', ')}, got "${value}"`);
}
