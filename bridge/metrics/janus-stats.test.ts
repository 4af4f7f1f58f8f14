import { describe, expect, it } from 'vitest';
import { JanusStats, sumBitrates } from './janus-stats.ts';

/** A stats event as Janus 1.1.2's sample event handler posts it (one stream of one handle). */
function statsEvent(handle: number, media: 'audio' | 'video', inBytes: number, outBytes: number, mid = media === 'audio' ? '0' : '1', timestampUs = 1, emitter = 'fanout-origin'): unknown {
  return {
    emitter,
    type: 32,
    subtype: 3,
    timestamp: timestampUs,
    session_id: 7,
    handle_id: handle,
    opaque_id: null,
    event: { mid, mindex: Number(mid), media, codec: 'vp8', base: 90000, lost: 0, 'bytes-received': 1, 'bytes-sent': 1, 'bytes-received-lastsec': inBytes, 'bytes-sent-lastsec': outBytes },
  };
}

describe('JanusStats', () => {
  it('turns the latest bytes-per-second of each stream of a handle into bits per second by kind', () => {
    const stats = new JanusStats({ now: () => 1000 });
    expect(stats.ingest([statsEvent(11, 'audio', 4000, 0), statsEvent(11, 'video', 60_000, 0)])).toBe(2);
    expect(stats.bitrate(11)).toEqual({ in: { audio: 32_000, video: 480_000 }, out: { audio: 0, video: 0 }, at: 1000 });
    stats.ingest(statsEvent(11, 'video', 50_000, 0));
    expect(stats.bitrate(11)?.in.video).toBe(400_000);
  });

  it('reads combined stats (combine_media_stats) and single posts (grouping off)', () => {
    const stats = new JanusStats();
    stats.ingest({ type: 32, handle_id: 5, event: { media: [(statsEvent(5, 'audio', 0, 1000) as { event: unknown }).event, (statsEvent(5, 'video', 0, 9000) as { event: unknown }).event] } });
    expect(stats.bitrate(5)?.out).toEqual({ audio: 8000, video: 72_000 });
  });

  it('ignores media state changes, other event types and items that are not Janus events, counting the latter', () => {
    const stats = new JanusStats();
    expect(stats.ingest([{ type: 32, handle_id: 1, event: { media: 'video', receiving: true } }, { type: 1, session_id: 3, event: { name: 'created' } }, 'junk', null])).toBe(0);
    expect(stats.bitrate(1)).toBeUndefined();
    expect(stats.counts).toEqual({ events: 2, rejected: 2 });
  });

  it('forgets a handle whose stats are older than maxAgeMs', () => {
    let now = 0;
    const stats = new JanusStats({ maxAgeMs: 5000, now: () => now });
    stats.ingest(statsEvent(9, 'video', 1000, 0));
    now = 5001;
    expect(stats.bitrate(9)).toBeUndefined();
    stats.ingest([]);
    expect(stats.size).toBe(0);
  });
});

describe('JanusStats dating', () => {
  it('dates a report when Janus made it: one queued while the bridge was away arrives late and is as old as it was made, per emitter clock', () => {
    let now = 50_000;
    const stats = new JanusStats({ now: () => now });
    // Janus's clock runs 1,000,000 ms behind the bridge's on one host and 5,000 ms ahead on another.
    const janusA = (local: number): number => (local - 1_000_000) * 1000;
    const janusB = (local: number): number => (local + 5000) * 1000;
    stats.ingest([statsEvent(1, 'video', 100, 0, '1', janusA(now)), statsEvent(2, 'video', 100, 0, '1', janusB(now), 'fanout-edge-1')]);
    expect(stats.bitrate(1)?.at).toBe(50_000);
    expect(stats.bitrate(2)?.at).toBe(50_000);
    // Made at 51,000 and 51,500 (a hangup in between), delivered together at 58,000.
    now = 58_000;
    stats.ingest([statsEvent(3, 'video', 0, 100, '1', janusA(51_000)), statsEvent(1, 'video', 100, 0, '1', janusA(51_500))]);
    expect(stats.bitrate(3)?.at).toBe(51_000);
    expect(stats.bitrate(1)?.at).toBe(51_500);
    // A prompt report is dated now; an older one arriving after it does not overwrite it.
    stats.ingest(statsEvent(1, 'video', 7, 0, '1', janusA(58_000)));
    stats.ingest(statsEvent(1, 'video', 9, 0, '1', janusA(52_000)));
    expect(stats.bitrate(1)).toMatchObject({ at: 58_000, in: { video: 56 } });
    // The other emitter's clock is learnt on its own.
    stats.ingest(statsEvent(2, 'video', 100, 0, '1', janusB(57_000), 'fanout-edge-1'));
    expect(stats.bitrate(2)?.at).toBe(57_000);
  });

  it('learns the offset again after the Janus clock steps back', () => {
    let now = 0;
    const stats = new JanusStats({ now: () => now });
    stats.ingest(statsEvent(1, 'video', 1, 0, '1', 1_000_000 * 1000));
    // The clock stepped back 10 s: every report now looks 10 s late, until the reference is old.
    now = 2000;
    stats.ingest(statsEvent(1, 'video', 1, 0, '1', (1_000_000 - 8000) * 1000));
    expect(stats.bitrate(1)?.at).toBe(0);
    now = 40_000;
    stats.ingest(statsEvent(1, 'video', 1, 0, '1', (1_000_000 + 30_000) * 1000));
    expect(stats.bitrate(1)?.at).toBe(40_000);
  });
});

describe('sumBitrates', () => {
  it('adds what is known and stays undefined when nothing is', () => {
    expect(sumBitrates([undefined, undefined])).toBeUndefined();
    expect(sumBitrates([{ audio: 1, video: 2 }, undefined, { audio: 10, video: 20 }])).toEqual({ audio: 11, video: 22 });
  });
});
