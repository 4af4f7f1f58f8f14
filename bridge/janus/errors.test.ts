import { describe, expect, it } from 'vitest';
import { CdnError } from '../../protocol/errors.ts';
import { isBenignTeardownError, sdpError, toCdnError } from './errors.ts';

describe('toCdnError', () => {
  it('turns Janode\'s "<code> <reason>" into a JANUS error that keeps the numeric code', () => {
    const e = toCdnError(new Error('426 No such room (12)'), 'list participants');
    expect([e.code, e.janusCode, e.message]).toEqual(['JANUS', 426, 'list participants: Janus error 426: No such room (12)']);
  });

  it('maps a transaction timeout to TIMEOUT, a lost connection or handle to UNAVAILABLE, anything else to INTERNAL', () => {
    expect(toCdnError(new Error('Transaction timed out!'), 'x').code).toBe('TIMEOUT');
    expect(toCdnError(new Error('connection closed'), 'x').code).toBe('UNAVAILABLE');
    expect(toCdnError(new Error('unable to send request because handle has been detached'), 'x').code).toBe('UNAVAILABLE');
    expect(toCdnError('boom', 'x')).toMatchObject({ code: 'INTERNAL', message: 'x: boom' });
  });

  it('passes a CdnError through unchanged', () => {
    const e = new CdnError('NOT_FOUND', 'gone');
    expect(toCdnError(e, 'x')).toBe(e);
  });
});

describe('sdpError', () => {
  it('makes a Janus refusal of the SDP (465, 437, 431, 464, 469) an INVALID_ARGUMENT naming sdp, with the code kept', () => {
    for (const code of [465, 437, 431, 464, 469]) {
      const e = sdpError(toCdnError(new Error(`${code} bad things`), 'publish'));
      expect([e.code, e.janusCode]).toEqual(['INVALID_ARGUMENT', code]);
      expect(e.message).toBe(`sdp: Janus cannot use this session description (${code} bad things)`);
    }
  });

  it('leaves other errors alone', () => {
    const e = toCdnError(new Error('426 No such room'), 'x');
    expect(sdpError(e)).toBe(e);
    const t = new CdnError('TIMEOUT', 'slow');
    expect(sdpError(t)).toBe(t);
  });
});

describe('isBenignTeardownError', () => {
  it('is true for what only says "already gone": no such room/feed/session/handle, node unreachable', () => {
    for (const m of ['426 No such room', '428 No such feed', '458 No such session', '459 No such handle', 'connection closed']) {
      expect([m, isBenignTeardownError(new Error(m))]).toEqual([m, true]);
    }
  });

  it('is false for real failures', () => {
    expect(isBenignTeardownError(new Error('433 Unauthorized'))).toBe(false);
    expect(isBenignTeardownError(new Error('Transaction timed out!'))).toBe(false);
  });
});
