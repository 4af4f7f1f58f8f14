/** Client candidates to Janus: one request for all of them, the end of candidates, timeouts and errors. */
import { describe, expect, it } from 'vitest';
import { canTrickle, trickle, type TrickleHandle } from './trickle.ts';

class RecordingHandle implements TrickleHandle {
  readonly sent: unknown[] = [];
  constructor(readonly reply: () => Promise<unknown> = () => Promise.resolve({ janus: 'ack' })) {}
  trickle(candidate: unknown): Promise<unknown> {
    this.sent.push(candidate);
    return this.reply();
  }
}

const A = { candidate: 'candidate:1 1 udp 2122260223 127.0.0.2 50000 typ host', sdpMid: '0', sdpMLineIndex: 0 };
const B = { candidate: 'candidate:2 1 tcp 1518280447 127.0.0.2 9 typ host tcptype active', sdpMLineIndex: 1 };

describe('trickle', () => {
  it('sends every candidate in one array, keeping sdpMid/sdpMLineIndex only where given, then completed', async () => {
    const h = new RecordingHandle();
    await trickle(h, [A, B], true, 200);
    expect(h.sent).toEqual([[A, { candidate: B.candidate, sdpMLineIndex: 1 }], { completed: true }]);
  });

  it('sends nothing for no candidates and no end', async () => {
    const h = new RecordingHandle();
    await trickle(h, [], false, 200);
    expect(h.sent).toEqual([]);
  });

  it('a Janus refusal becomes a CdnError with the Janus code', async () => {
    const h = new RecordingHandle(() => Promise.reject(new Error('467 Trickle error: invalid candidate')));
    await expect(trickle(h, [A], false, 200)).rejects.toMatchObject({ name: 'CdnError', janusCode: 467 });
  });

  it('no acknowledgement within the timeout is TIMEOUT', async () => {
    const h = new RecordingHandle(() => new Promise(() => undefined));
    await expect(trickle(h, [A], false, 30)).rejects.toMatchObject({ code: 'TIMEOUT', message: expect.stringContaining('within 30 ms') });
  });

  it('canTrickle tells a handle with trickle() from one without', () => {
    expect(canTrickle(new RecordingHandle())).toBe(true);
    expect(canTrickle({ message: () => undefined })).toBe(false);
  });
});
