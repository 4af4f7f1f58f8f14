/**
 * The plugin-neutral handle code: typed events with contained listener errors, the destroyed event
 * by plugin, and the merging of Janus's trickled candidates into its SDP.
 */
import { EventEmitter } from 'node:events';
import { describe, expect, it, vi } from 'vitest';
import { addCandidates, CandidateCollector, watchHandle } from './handle.ts';
import type { JanusHandle } from './request.ts';

/** A handle that only emits what a test makes it emit. */
class EmittingHandle extends EventEmitter implements JanusHandle {
  readonly id = 1;
  message(): Promise<unknown> {
    return Promise.reject(new Error('not used'));
  }
  detach(): Promise<void> {
    return Promise.resolve();
  }
}

describe('watchHandle', () => {
  it('delivers validated events, reports a bad payload or a throwing listener to onError, and unsubscribes', () => {
    const h = new EmittingHandle();
    const media = vi.fn();
    const errors: string[] = [];
    const stop = watchHandle(
      h,
      'videoroom',
      {
        media,
        hangup: () => {
          throw new Error('listener broke');
        },
      },
      (err, event) => errors.push(`${event}: ${String(err)}`),
    );
    h.emit('handle_media', { type: 'video', receiving: true, mid: '1' });
    h.emit('handle_media', { type: 'video' });
    h.emit('handle_hangup', { reason: 'DTLS alert' });
    expect(media).toHaveBeenCalledOnce();
    expect(media).toHaveBeenCalledWith({ type: 'video', receiving: true, mid: '1' });
    expect(errors).toEqual([expect.stringContaining('handle_media: Error: unexpected handle_media event'), 'handle_hangup: Error: listener broke']);
    stop();
    expect(h.listenerCount('handle_media')).toBe(0);
    expect(h.listenerCount('handle_hangup')).toBe(0);
  });
});

describe('trickled candidates', () => {
  const sdp = ['v=0', 'o=- 1 1 IN IP4 127.0.0.2', 's=x', 't=0 0', 'm=audio 9 UDP/TLS/RTP/SAVPF 111', 'a=mid:0', 'm=video 9 UDP/TLS/RTP/SAVPF 96', 'a=mid:1', ''].join('\r\n');

  it('adds each candidate to the m-section it names (by mid, else index), once, with end-of-candidates when complete', () => {
    const out = addCandidates(
      sdp,
      [
        { candidate: 'candidate:1 1 udp 1 127.0.0.2 20000 typ host', sdpMLineIndex: 0 },
        { candidate: 'candidate:2 1 udp 1 127.0.0.2 20002 typ host', sdpMid: '1', sdpMLineIndex: 0 },
        { candidate: 'candidate:1 1 udp 1 127.0.0.2 20000 typ host', sdpMLineIndex: 0 },
      ],
      true,
    );
    expect(out.split('\r\n')).toEqual([
      'v=0',
      'o=- 1 1 IN IP4 127.0.0.2',
      's=x',
      't=0 0',
      'm=audio 9 UDP/TLS/RTP/SAVPF 111',
      'a=mid:0',
      'a=candidate:1 1 udp 1 127.0.0.2 20000 typ host',
      'a=end-of-candidates',
      'm=video 9 UDP/TLS/RTP/SAVPF 96',
      'a=mid:1',
      'a=candidate:2 1 udp 1 127.0.0.2 20002 typ host',
      'a=end-of-candidates',
      '',
    ]);
    expect(addCandidates(sdp, [], true)).toBe(sdp);
  });

  it('the collector takes candidates trickled before the reply and waits for the end of gathering after it', async () => {
    const h = new EmittingHandle();
    const c = new CandidateCollector(h);
    h.emit('handle_trickle', { sdpMLineIndex: 0, candidate: 'candidate:1 1 udp 1 127.0.0.2 20000 typ host' });
    setTimeout(() => h.emit('handle_trickle', { completed: true }), 20);
    const started = Date.now();
    const out = await c.complete(sdp, 2000);
    expect(Date.now() - started).toBeLessThan(1000);
    expect(out).toContain('a=candidate:1 1 udp 1 127.0.0.2 20000 typ host\r\na=end-of-candidates\r\n');
    expect(h.listenerCount('handle_trickle')).toBe(0);
  });

  it('the collector gives up waiting after waitMs and uses what came, without end-of-candidates', async () => {
    const h = new EmittingHandle();
    const c = new CandidateCollector(h);
    h.emit('handle_trickle', { sdpMLineIndex: 0, candidate: 'candidate:1 1 udp 1 127.0.0.2 20000 typ host' });
    const out = await c.complete(sdp, 50);
    expect(out).toContain('a=candidate:1');
    expect(out).not.toContain('end-of-candidates');
  });
});

describe('watchHandle destroyed', () => {
  it('on a Streaming handle fires on the "stopped" status Janus 1.1.2 sends a destroyed mountpoint\'s viewers, and on streaming_destroyed; not on other statuses or videoroom_destroyed', () => {
    const h = new EmittingHandle();
    const destroyed = vi.fn();
    watchHandle(h, 'streaming', { destroyed }, () => undefined);
    h.emit('videoroom_destroyed', { room: 1 });
    h.emit('streaming_status', { status: 'started', id: null });
    expect(destroyed).not.toHaveBeenCalled();
    h.emit('streaming_status', { status: 'stopped', id: null });
    expect(destroyed).toHaveBeenCalledOnce();
    h.emit('streaming_destroyed', { id: 7 });
    expect(destroyed).toHaveBeenCalledTimes(2);
  });

  it('on a VideoRoom handle fires on videoroom_destroyed', () => {
    const h = new EmittingHandle();
    const destroyed = vi.fn();
    watchHandle(h, 'videoroom', { destroyed }, () => undefined);
    h.emit('streaming_destroyed', { id: 7 });
    h.emit('videoroom_destroyed', { room: 1 });
    expect(destroyed).toHaveBeenCalledOnce();
  });
});
