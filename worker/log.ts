/**
 * The worker's side of the one logger interface (protocol/log.ts): one-line JSON on the console
 * (wrangler prints it; `wrangler tail` in production), with the same redaction as the bridge
 * (`fieldsFor`: no SDP, candidate, token or secret above debug; errors as text with their code).
 * Debug lines are dropped: workerd has no log level to turn them on. Never throws: a line that
 * cannot be serialised is replaced by its message.
 */
import { fieldsFor, type LogFields, type Logger, type LogLevel } from '../protocol/index.ts';

function emit(level: LogLevel, msg: string, base: LogFields, fields: LogFields | undefined): void {
  if (level === 'debug') return;
  let text: string;
  try {
    text = JSON.stringify({ level, msg, component: 'worker', ...base, ...fieldsFor(level, fields) });
  } catch {
    text = JSON.stringify({ level, msg, component: 'worker' });
  }
  if (level === 'error') console.error(text);
  else if (level === 'warn') console.warn(text);
  else console.log(text);
}

/** A logger that adds `base` to every line (scrubbed like any other field). */
export function createLogger(base: LogFields = {}): Logger {
  const fixed = fieldsFor('info', base);
  return {
    debug: (msg, fields) => emit('debug', msg, fixed, fields),
    info: (msg, fields) => emit('info', msg, fixed, fields),
    warn: (msg, fields) => emit('warn', msg, fixed, fields),
    error: (msg, fields) => emit('error', msg, fixed, fields),
    child: (fields) => createLogger({ ...base, ...fields }),
  };
}
