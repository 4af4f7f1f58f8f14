/**
 * The bridge's logger: the protocol `Logger` (`log.info(msg, fields?)`, `child(fields)`) written by
 * pino, one JSON object a line on stderr, with the level set by FANOUT_LOG_LEVEL (debug, info,
 * warn, error, silent; default info). Call sites pass the ids that matter (owner, stream, node,
 * publishId, playId) as fields; `child` adds them to every line.
 *
 * Redaction is the worker's own (`fieldsFor`/`scrub` in protocol/log.ts): above debug no SDP,
 * candidate, token or secret reaches a line, and errors given as field values are written as text
 * with their code at every level, never "[object Object]".
 */
import { pino, type DestinationStream, type Logger as PinoLogger } from 'pino';
import { fieldsFor, type LogFields, type Logger, type LogLevel as LineLevel } from '../protocol/log.ts';

export type { LogFields, Logger } from '../protocol/log.ts';

const LEVELS = { debug: 20, info: 30, warn: 40, error: 50, silent: Infinity } as const;
/** A line's level, or `silent` for a logger that writes none. */
export type LogLevel = keyof typeof LEVELS;

/**
 * Fields that go on every line a logger writes (base and child fields), whatever the line's level:
 * scrubbed unless the logger itself is at debug, where they are kept (that is what debug is for).
 */
function everyLine(level: LogLevel, fields: LogFields): LogFields {
  return fieldsFor(level === 'debug' ? 'debug' : 'info', fields);
}

function wrap(p: PinoLogger, level: LogLevel): Logger {
  // pino's own order is (obj, msg); the protocol's is (msg, fields).
  const line = (lvl: LineLevel) => (msg: string, fields?: LogFields): void => {
    if (p.isLevelEnabled(lvl)) p[lvl](fieldsFor(lvl, fields), msg);
  };
  return {
    debug: line('debug'),
    info: line('info'),
    warn: line('warn'),
    error: line('error'),
    child: (fields) => wrap(p.child(everyLine(level, fields)), level),
  };
}

/**
 * A logger at `level` with `base` on every line.
 * @param destination where lines go (default: stderr, written synchronously so a crash loses none)
 */
export function createLogger(level: LogLevel = 'info', base: LogFields = {}, destination?: DestinationStream): Logger {
  const p = pino(
    {
      level,
      base: { pid: process.pid, ...everyLine(level, base) },
      messageKey: 'msg',
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination ?? pino.destination({ dest: 2, sync: true }),
  );
  return wrap(p, level);
}

export function parseLogLevel(value: string | undefined): LogLevel {
  if (value === undefined || value === '') return 'info';
  // hasOwn, not `in`: "toString" is no level.
  if (Object.hasOwn(LEVELS, value)) return value as LogLevel;
  throw new Error(`FANOUT_LOG_LEVEL must be one of ${Object.keys(LEVELS).join(', ')}, got "${value}"`);
}
