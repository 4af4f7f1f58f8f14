/** The publish lock's rule (./lock.ts), runtime-free: each row of its table, and the epoch. */
import { describe, expect, it } from 'vitest';
import { claim, release, SETTLE_MS, type Holder, type Liveness, type StreamState } from './lock.ts';

const FREE: StreamState = { epoch: 0, holder: undefined };
const held = (since: number, node = 'origin', publishId = 'pub_a'): StreamState => ({ epoch: 3, holder: { node, publishId, since } });

function want(now: number, liveness: Liveness | (() => never), node = 'origin-2', publishId = 'pub_b') {
  const asked: Holder[] = [];
  return {
    asked,
    input: {
      stream: 'cam1',
      node,
      publishId,
      now,
      isLive: (h: Holder): Promise<Liveness> => {
        asked.push(h);
        return typeof liveness === 'function' ? liveness() : Promise.resolve(liveness);
      },
    },
  };
}

describe('the publish lock of one stream name', () => {
  it('a free name is taken, with the next epoch, and nobody is asked', async () => {
    const w = want(1_000, () => {
      throw new Error('not to be asked');
    });
    expect(await claim(FREE, w.input)).toEqual({ ok: true, state: { epoch: 1, holder: { node: 'origin-2', publishId: 'pub_b', since: 1_000 } } });
  });

  it('the same publish claiming again keeps its hold and epoch (a retry, a re-claim after a reset)', async () => {
    const state = held(0, 'origin-2', 'pub_b');
    const outcome = await claim(state, want(60_000, { live: false }).input);
    expect(outcome).toEqual({ ok: true, state });
  });

  it('a holder younger than SETTLE_MS is refused without asking its origin (its publish may not be up yet)', async () => {
    const w = want(SETTLE_MS - 1, { live: false });
    const outcome = await claim(held(0), w.input);
    expect(outcome.ok).toBe(false);
    if (!outcome.ok) expect({ code: outcome.error.code, message: outcome.error.message }).toEqual({ code: 'ALREADY_EXISTS', message: 'stream "cam1" is already published (on origin)' });
    expect(w.asked).toEqual([]);
  });

  it('an older holder that its origin says is live is refused, naming the origin', async () => {
    const w = want(SETTLE_MS, { live: true });
    const outcome = await claim(held(0), w.input);
    expect(outcome.ok).toBe(false);
    if (!outcome.ok) expect(outcome.error.code).toBe('ALREADY_EXISTS');
    expect(w.asked).toEqual([{ node: 'origin', publishId: 'pub_a', since: 0 }]);
  });

  it('an older holder that its origin no longer has is taken over, with the next epoch', async () => {
    const outcome = await claim(held(0), want(SETTLE_MS, { live: false }).input);
    expect(outcome).toEqual({ ok: true, state: { epoch: 4, holder: { node: 'origin-2', publishId: 'pub_b', since: SETTLE_MS } } });
  });

  it('an older holder whose origin cannot be asked is refused, retryable, saying why', async () => {
    const outcome = await claim(held(0), want(SETTLE_MS, { live: 'unknown', reason: 'the bridge at http://x/api is unreachable' }).input);
    expect(outcome.ok).toBe(false);
    if (!outcome.ok) {
      expect(outcome.error.code).toBe('UNAVAILABLE');
      expect(outcome.error.message).toBe('stream "cam1" is held by a publish on origin, whose agent cannot be asked whether it is still live (the bridge at http://x/api is unreachable); retry shortly');
    }
  });

  it('a release by the holder frees the name and keeps the epoch; one by an earlier holder changes nothing', () => {
    const state = held(0);
    expect(release(state, 'pub_a')).toEqual({ epoch: 3, holder: undefined });
    expect(release(state, 'pub_old')).toBe(state);
    expect(release(FREE, 'pub_a')).toBe(FREE);
  });
});
