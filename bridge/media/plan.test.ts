import { describe, expect, it } from 'vitest';
import { h264Profile, newRoomId, remotePublisherStreams, Serial, usableStreams, within } from './plan.ts';

describe('remotePublisherStreams', () => {
  it('mirrors audio + video at the origin publisher\'s mindexes', () => {
    expect(
      remotePublisherStreams([
        { type: 'audio', mindex: 0, mid: '0', codec: 'opus' },
        { type: 'video', mindex: 1, mid: '1', codec: 'vp8' },
      ]),
    ).toEqual([
      { type: 'audio', mindex: 0, mid: '0', codec: 'opus' },
      { type: 'video', mindex: 1, mid: '1', codec: 'vp8' },
    ]);
  });

  it('fills gaps (a data channel, a disabled m-line) with disabled placeholders, so position i stays mindex i', () => {
    expect(
      remotePublisherStreams([
        { type: 'data', mindex: 0, mid: '0' },
        { type: 'audio', mindex: 1, mid: 'a', disabled: true },
        { type: 'video', mindex: 2, mid: 'v', codec: 'h264', h264_profile: '42e01f' },
      ]),
    ).toEqual([
      { type: 'audio', mindex: 0, mid: '0', codec: 'opus', disabled: true },
      { type: 'audio', mindex: 1, mid: '1', codec: 'opus', disabled: true },
      { type: 'video', mindex: 2, mid: 'v', codec: 'h264' },
    ]);
  });

  it('is empty when nothing is usable', () => {
    expect(remotePublisherStreams([{ type: 'data', mindex: 0, mid: '0' }])).toEqual([]);
    expect(usableStreams([{ type: 'video', mindex: 0, mid: '0' }])).toEqual([]);
  });
});

describe('h264Profile', () => {
  it('is the profile of an H264 video stream, for the edge rooms; none for VP8', () => {
    expect(h264Profile([{ type: 'video', mindex: 0, mid: '0', codec: 'h264', h264_profile: '42e01f' }])).toBe('42e01f');
    expect(h264Profile([{ type: 'video', mindex: 0, mid: '0', codec: 'vp8' }])).toBeUndefined();
  });
});

describe('Serial', () => {
  it('runs tasks one at a time in order, and a failing task does not stop the queue', async () => {
    const serial = new Serial();
    const order: string[] = [];
    const slow = serial.run(async () => {
      await new Promise((r) => setTimeout(r, 30));
      order.push('slow');
    });
    const failing = serial.run(async () => {
      order.push('failing');
      throw new Error('no');
    });
    const last = serial.run(async () => {
      order.push('last');
      return 3;
    });
    await slow;
    await expect(failing).rejects.toThrow('no');
    expect(await last).toBe(3);
    expect(order).toEqual(['slow', 'failing', 'last']);
  });
});

describe('ids', () => {
  it('newRoomId gives a JavaScript-safe positive id not taken', () => {
    const taken = new Set<number>();
    for (let i = 0; i < 200; i++) {
      const room = newRoomId((r) => taken.has(r));
      expect(Number.isSafeInteger(room) && room > 0 && !taken.has(room)).toBe(true);
      taken.add(room);
    }
  });

  it('within tells whether a promise settled in time', async () => {
    expect(await within(Promise.resolve(), 50)).toBe(true);
    expect(await within(Promise.reject(new Error('x')), 50)).toBe(true);
    expect(await within(new Promise(() => undefined), 20)).toBe(false);
  });
});
