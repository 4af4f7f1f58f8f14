/**
 * The bridge's structured logger: one JSON object a line on stderr, with the level set by
 * FANOUT_LOG_LEVEL (debug, info, warn, error; default info).
 */
const LEVELS = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 } as const;
export type LogLevel = keyof typeof LEVELS;

type Fields = Record<string, unknown>;

export interface Logger {
  debug(fields: Fields, msg: string): void;
  info(fields: Fields, msg: string): void;
  warn(fields: Fields, msg: string): void;
  error(fields: Fields, msg: string): void;
  child(fields: Fields): Logger;
}

export function createLogger(level: LogLevel = 'info', base: Fields = {}): Logger {
  const min = LEVELS[level];
  const write = (lvl: Exclude<LogLevel, 'silent'>, fields: Fields, msg: string): void => {
    if (LEVELS[lvl] < min) return;
    process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), level: lvl, ...base, ...fields, msg })}\n`);
  };
  return {
    debug: (f, m) => write('debug', f, m),
    info: (f, m) => write('info', f, m),
    warn: (f, m) => write('warn', f, m),
    error: (f, m) => write('error', f, m),
    child: (f) => createLogger(level, { ...base, ...f }),
  };
}

export function parseLogLevel(value: string | undefined): LogLevel {
  if (value === undefined || value === '') return 'info';
  if (value in LEVELS) return value as LogLevel;
  throw new Error(`FANOUT_LOG_LEVEL must be one of ${Object.keys(LEVELS).join(', ')}, got "${value}"`);
}
