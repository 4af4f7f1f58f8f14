import { describe, expect, it } from 'vitest';
import { LossWindow, lossCounters } from './bandwidth.ts';

describe('LossWindow', () => {
  it('stays quiet while the loss is under the threshold', () => {
    const w = new LossWindow('inbound', { threshold: 0.1, windowMs: 5000, minPackets: 50 });
    let received = 0;
    let lost = 0;
    for (let t = 0; t <= 10_000; t += 1000) {
      received += 100;
      lost += 5; // 4.8 %
      expect(w.push(t, lost, received)).toBeUndefined();
    }
  });

  it('fires with the figures of the window when the loss crosses the threshold', () => {
    const w = new LossWindow('inbound', { threshold: 0.1, windowMs: 5000, minPackets: 50 });
    expect(w.push(0, 0, 0)).toBeUndefined();
    expect(w.push(1000, 0, 100)).toBeUndefined();
    const r = w.push(2000, 30, 170); // window 0..2000: 30 lost, 170 received -> 15 %
    expect(r).toEqual({
      source: 'client',
      direction: 'inbound',
      packetsLost: 30,
      packets: 170,
      lossPercent: 15,
      windowMs: 2000,
      thresholdPercent: 10,
    });
  });

  it('fires once per crossing, then at most once per window while above', () => {
    const w = new LossWindow('inbound', { threshold: 0.1, windowMs: 3000, minPackets: 10 });
    const fired: number[] = [];
    let received = 0;
    let lost = 0;
    for (let t = 0; t <= 10_000; t += 1000) {
      received += 80;
      lost += 20; // 20 %
      if (w.push(t, lost, received) !== undefined) fired.push(t);
    }
    expect(fired).toEqual([1000, 4000, 7000, 10_000]);
  });

  it('forgets loss older than the window', () => {
    const w = new LossWindow('inbound', { threshold: 0.1, windowMs: 2000, minPackets: 10 });
    w.push(0, 0, 0);
    expect(w.push(1000, 50, 50)).toBeDefined(); // a 50 % burst
    // Then no loss at all: once the window (2 s) has slid past the burst, the loss is 0 and
    // the state resets, so a later burst fires at once.
    expect(w.push(3000, 50, 250)).toBeUndefined(); // 1000..3000: 0 lost
    expect(w.push(4000, 50, 350)).toBeUndefined();
    expect(w.push(5000, 100, 400)).toBeDefined(); // 3000..5000: 50 lost of 200
  });

  it('ignores windows with too few packets', () => {
    const w = new LossWindow('inbound', { threshold: 0.1, minPackets: 50 });
    w.push(0, 0, 0);
    expect(w.push(1000, 10, 10)).toBeUndefined();
  });

  it('restarts when the counters go backwards', () => {
    const w = new LossWindow('inbound', { threshold: 0.1, minPackets: 10 });
    w.push(0, 100, 1000);
    expect(w.push(1000, 0, 10)).toBeUndefined();
    expect(w.push(2000, 0, 100)).toBeUndefined();
  });

  it('for a publisher measures lost against sent', () => {
    const w = new LossWindow('outbound', { threshold: 0.1, minPackets: 10 });
    w.push(0, 0, 0);
    const r = w.push(1000, 20, 100);
    expect(r?.lossPercent).toBe(20);
    expect(r?.direction).toBe('outbound');
  });
});

describe('lossCounters', () => {
  const report = [
    { type: 'inbound-rtp', kind: 'video', packetsLost: 3, packetsReceived: 100 },
    { type: 'inbound-rtp', kind: 'audio', packetsLost: 1, packetsReceived: 50 },
    { type: 'outbound-rtp', kind: 'video', packetsSent: 400 },
    { type: 'remote-inbound-rtp', kind: 'video', packetsLost: 7 },
    { type: 'candidate-pair', packetsLost: 99 },
    { type: 'inbound-rtp', packetsLost: 'x' },
  ];
  it('sums inbound-rtp for a player', () => {
    expect(lossCounters(report, 'inbound')).toEqual({ lost: 4, packets: 150 });
  });
  it('sums remote-inbound-rtp loss against outbound-rtp sent for a publisher', () => {
    expect(lossCounters(report, 'outbound')).toEqual({ lost: 7, packets: 400 });
  });
});
