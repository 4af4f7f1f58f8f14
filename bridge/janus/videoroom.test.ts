import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import type { Jsep } from 'janode';
import { createRoom, joinAndConfigure, listRooms, publishRemotely, type JanusHandle } from './videoroom.ts';

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
    await expect(listRooms(h, undefined, opts)).rejects.toMatchObject({ code: 'INTERNAL', message: expect.stringContaining('plugindata.data.list[0].room') });
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
