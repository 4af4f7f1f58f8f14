/**
 * One-line JSON logs for the worker (wrangler prints them; `wrangler tail` in production).
 * Never throws: a log line that cannot be serialised is replaced by its message.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFields = Record<string, string | number | boolean | undefined>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
}

function emit(level: LogLevel, msg: string, base: LogFields, fields: LogFields | undefined): void {
  const line = { level, msg, component: 'worker', ...base, ...fields };
  const text = JSON.stringify(line);
  if (level === 'error') console.error(text);
  else if (level === 'warn') console.warn(text);
  else if (level !== 'debug') console.log(text);
}

/** A logger that adds `base` to every line; debug lines are dropped. */
export function createLogger(base: LogFields = {}): Logger {
  return {
    debug: (msg, fields) => emit('debug', msg, base, fields),
    info: (msg, fields) => emit('info', msg, base, fields),
    warn: (msg, fields) => emit('warn', msg, base, fields),
    error: (msg, fields) => emit('error', msg, base, fields),
  };
}

/** A logger that prints nothing (tests, and callers that do not care). */
export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };
