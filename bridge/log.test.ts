import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, parseLogLevel, REDACTED, scrub } from './log.ts';

const SDP = 'v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\n';

function capture(): { lines: () => Array<Record<string, unknown>>; stream: Writable } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  return { stream, lines: () => chunks.join('').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>) };
}

describe('createLogger', () => {
  it('writes one JSON object a line with time, level name, base and child fields, and the message', () => {
    const out = capture();
    const log = createLogger('info', { component: 'bridge' }, out.stream).child({ owner: 'w1' });
    log.info({ stream: 's1', node: 'edge-1' }, 'player joined');
    const [line] = out.lines();
    expect(line).toMatchObject({ level: 'info', component: 'bridge', owner: 'w1', stream: 's1', node: 'edge-1', msg: 'player joined' });
    expect(typeof line?.['time']).toBe('string');
    expect(Number.isNaN(Date.parse(String(line?.['time'])))).toBe(false);
  });

  it('drops lines below the level and keeps those at or above it', () => {
    const out = capture();
    const log = createLogger('warn', {}, out.stream);
    log.debug({}, 'd');
    log.info({}, 'i');
    log.warn({}, 'w');
    log.error({}, 'e');
    expect(out.lines().map((l) => l['msg'])).toEqual(['w', 'e']);
  });

  it('above debug, replaces SDP and secret fields (call fields, child fields, nested) and SDP-looking strings', () => {
    const out = capture();
    const log = createLogger('info', {}, out.stream).child({ token: 'tok-123' });
    log.info({ sdp: SDP, stream: 's', nested: { apisecret: 'x', list: [SDP] }, note: SDP }, 'published');
    const [line] = out.lines();
    expect(line).toMatchObject({ token: REDACTED, sdp: REDACTED, stream: 's', nested: { apisecret: REDACTED, list: [REDACTED] }, note: REDACTED });
    expect(JSON.stringify(out.lines())).not.toContain('v=0');
    expect(JSON.stringify(out.lines())).not.toContain('tok-123');
  });

  it('at debug, keeps the SDP for whoever is debugging', () => {
    const out = capture();
    createLogger('debug', {}, out.stream).debug({ sdp: SDP }, 'offer');
    expect(out.lines()[0]?.['sdp']).toBe(SDP);
  });

  it('silent writes nothing', () => {
    const out = capture();
    createLogger('silent', {}, out.stream).error({}, 'x');
    expect(out.lines()).toEqual([]);
  });
});

describe('scrub', () => {
  it('leaves other values alone and does not change its input', () => {
    const input = { a: 1, b: 'text', c: null, authorization: 'Bearer x' };
    expect(scrub(input)).toEqual({ a: 1, b: 'text', c: null, authorization: REDACTED });
    expect(input.authorization).toBe('Bearer x');
  });
});

describe('parseLogLevel', () => {
  it('defaults to info and rejects an unknown level naming FANOUT_LOG_LEVEL', () => {
    expect(parseLogLevel(undefined)).toBe('info');
    expect(parseLogLevel('debug')).toBe('debug');
    expect(() => parseLogLevel('verbose')).toThrow('FANOUT_LOG_LEVEL must be one of debug, info, warn, error, silent, got "verbose"');
  });
});
