import { EventEmitter } from 'node:events';
import { describe, expect, it, vi } from 'vitest';
import type { Jsep } from 'janode';
import {
  addCandidates,
  CandidateCollector,
  createRoom,
  joinAndConfigure,
  listRooms,
  publishRemotely,
  watchHandle,
  type JanusHandle,
} from './videoroom.ts';

/** A handle whose replies a test scripts; records what was sent. */
class ScriptedHandle extends EventEmitter implements JanusHandle {
  readonly id = 1;
  readonly sent: Array<{ body: Record<string, unknown>; jsep: Jsep | undefined }> = [];
  constructor(readonly reply: (body: Record<string, unknown>) => Promise<unknown>) {
    super();
  }
  message(body: Record<string, unknown>, jsep?: Jsep): Promise<unknown> {
    this.sent.push({ body, jsep });
    return this.reply(body);
  }
  detach(): Promise<void> {
    return Promise.resolve();
  }
}

const ok = (data: unknown, jsep?: Jsep) => () => Promise.resolve({ janus: 'success', plugindata: { plugin: 'janus.plugin.videoroom', data }, jsep });
const opts = { timeoutMs: 200 };

describe('VideoRoom requests', () => {
  it('createRoom sends the settings with the admin key and returns the room Janus confirms', async () => {
    const h = new ScriptedHandle(ok({ videoroom: 'created', room: 42, permanent: false }));
    const room = await createRoom(h, { room: 42, description: 'fanout:a', adminKey: 'k', publishers: 1, audiocodec: 'opus', videocodec: 'vp8,h264' }, opts);
    expect(room).toBe(42);
    expect(h.sent[0]?.body).toEqual({
      request: 'create',
      room: 42,
      description: 'fanout:a',
      publishers: 1,
      audiocodec: 'opus',
      videocodec: 'vp8,h264',
      permanent: false,
      admin_key: 'k',
    });
  });

  it('a Janus refusal becomes a JANUS error with its code and what was asked', async () => {
    const h = new ScriptedHandle(() => Promise.reject(new Error('427 Room 42 already exists')));
    await expect(createRoom(h, { room: 42, description: '', adminKey: undefined, publishers: 1, audiocodec: 'opus', videocodec: 'vp8' }, opts)).rejects.toMatchObject({
      code: 'JANUS',
      janusCode: 427,
      message: 'create room 42: Janus error 427: Room 42 already exists',
    });
  });

  it('a reply that does not match the schema is an INTERNAL error naming the field, never a cast', async () => {
    const h = new ScriptedHandle(ok({ videoroom: 'success', list: [{ room: 'not-a-number' }] }));
    await expect(listRooms(h, undefined, opts)).rejects.toMatchObject({ code: 'INTERNAL', message: expect.stringContaining('plugindata.data.list.0.room') });
  });

  it('a request Janus never answers fails with TIMEOUT after timeoutMs', async () => {
    const h = new ScriptedHandle(() => new Promise(() => undefined));
    const started = Date.now();
    await expect(listRooms(h, undefined, opts)).rejects.toMatchObject({ code: 'TIMEOUT' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
  });

  it('joinAndConfigure sends the offer as JSEP and needs Janus\'s answer back', async () => {
    const joined = { videoroom: 'joined', room: 7, id: 99, streams: [{ type: 'video', mindex: 0, mid: '0', codec: 'vp8' }] };
    const h = new ScriptedHandle(ok(joined, { type: 'answer', sdp: 'v=0\r\nanswer' }));
    const r = await joinAndConfigure(h, { room: 7, display: 's', offer: 'v=0\r\noffer' }, opts);
    expect(r).toEqual({ id: 99, streams: joined.streams, answer: 'v=0\r\nanswer' });
    expect(h.sent[0]).toEqual({
      body: { request: 'joinandconfigure', room: 7, ptype: 'publisher', display: 's' },
      jsep: { type: 'offer', sdp: 'v=0\r\noffer' },
    });
    const noJsep = new ScriptedHandle(ok(joined));
    await expect(joinAndConfigure(noJsep, { room: 7, display: 's', offer: 'v=0' }, opts)).rejects.toMatchObject({ code: 'INTERNAL', message: expect.stringContaining('no answer') });
  });

  it('publishRemotely always sends rtcp_port, and the admin key', async () => {
    const h = new ScriptedHandle(ok({ videoroom: 'success', room: 7, id: 99, remote_id: 'r' }));
    await publishRemotely(h, { room: 7, publisherId: 99, remoteId: 'r', adminKey: 'k', host: '127.0.0.1', port: 10000, rtcpPort: 10001 }, opts);
    expect(h.sent[0]?.body).toMatchObject({ request: 'publish_remotely', port: 10000, rtcp_port: 10001, admin_key: 'k', remote_id: 'r' });
  });
});

describe('watchHandle', () => {
  it('delivers validated events, reports a bad payload or a throwing listener to onError, and unsubscribes', () => {
    const h = new ScriptedHandle(ok({}));
    const media = vi.fn();
    const errors: string[] = [];
    const stop = watchHandle(
      h,
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
    const h = new ScriptedHandle(ok({}));
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
    const h = new ScriptedHandle(ok({}));
    const c = new CandidateCollector(h);
    h.emit('handle_trickle', { sdpMLineIndex: 0, candidate: 'candidate:1 1 udp 1 127.0.0.2 20000 typ host' });
    const out = await c.complete(sdp, 50);
    expect(out).toContain('a=candidate:1');
    expect(out).not.toContain('end-of-candidates');
  });
});
