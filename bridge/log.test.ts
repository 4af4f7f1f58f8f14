import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { CdnError, Errors } from '../protocol/errors.ts';
import { REDACTED, scrub } from '../protocol/log.ts';
import { createLogger, parseLogLevel } from './log.ts';

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
    log.info('player joined', { stream: 's1', node: 'edge-1' });
    const [line] = out.lines();
    expect(line).toMatchObject({ level: 'info', component: 'bridge', owner: 'w1', stream: 's1', node: 'edge-1', msg: 'player joined' });
    expect(typeof line?.['time']).toBe('string');
    expect(Number.isNaN(Date.parse(String(line?.['time'])))).toBe(false);
  });

  it('drops lines below the level and keeps those at or above it', () => {
    const out = capture();
    const log = createLogger('warn', {}, out.stream);
    log.debug('d');
    log.info('i', {});
    log.warn('w');
    log.error('e', {});
    expect(out.lines().map((l) => l['msg'])).toEqual(['w', 'e']);
  });

  it('above debug, replaces SDP and secret fields (call fields, child fields, nested) and SDP-looking strings', () => {
    const out = capture();
    const log = createLogger('info', {}, out.stream).child({ token: 'tok-123' });
    log.info('published', { sdp: SDP, stream: 's', nested: { apisecret: 'x', list: [SDP] }, note: SDP });
    const [line] = out.lines();
    expect(line).toMatchObject({ token: REDACTED, sdp: REDACTED, stream: 's', nested: { apisecret: REDACTED, list: [REDACTED] }, note: REDACTED });
    expect(JSON.stringify(out.lines())).not.toContain('v=0');
    expect(JSON.stringify(out.lines())).not.toContain('tok-123');
  });

  it('at debug, keeps the SDP for whoever is debugging', () => {
    const out = capture();
    createLogger('debug', {}, out.stream).debug('offer', { sdp: SDP });
    expect(out.lines()[0]?.['sdp']).toBe(SDP);
  });

  it('writes errors given as fields as their message with the code, never "[object Object]"', () => {
    const out = capture();
    const log = createLogger('info', {}, out.stream);
    log.warn('janus node unreachable', { err: new Error('connect ECONNREFUSED 127.0.0.1:8188') });
    log.error('request failed', { err: Errors.nodeDown('edge-1'), nested: { cause: new CdnError('TIMEOUT', 'no answer') } });
    log.warn('odd value', { err: { code: 'E_ODD', reason: 'plain object' } });
    const lines = out.lines();
    expect(lines[0]?.['err']).toBe('connect ECONNREFUSED 127.0.0.1:8188');
    expect(lines[1]?.['err']).toBe('UNAVAILABLE: node edge-1 is down');
    expect(lines[1]?.['nested']).toEqual({ cause: 'TIMEOUT: no answer' });
    expect(lines[2]?.['err']).toEqual({ code: 'E_ODD', reason: 'plain object' });
    expect(JSON.stringify(lines)).not.toContain('[object Object]');
  });

  it('at debug, still writes an error field as its text with the code (a child\'s too)', () => {
    const out = capture();
    createLogger('debug', {}, out.stream).child({ cause: Errors.internal('boom') }).debug('x', { err: new CdnError('JANUS', '433 unauthorized', { janusCode: 433 }) });
    expect(out.lines()[0]).toMatchObject({ cause: 'INTERNAL: boom', err: 'JANUS: 433 unauthorized' });
  });

  it('silent writes nothing', () => {
    const out = capture();
    createLogger('silent', {}, out.stream).error('x');
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
    expect(() => parseLogLevel('toString')).toThrow('FANOUT_LOG_LEVEL must be one of');
  });
});
