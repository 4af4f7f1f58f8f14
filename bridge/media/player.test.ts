/**
 * Players and mountpoints against the fake VideoRoom and Streaming plugin (./fake-janus.ts):
 * offers and answers, shared mountpoints, forwarders, and how a player ends.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { newMediaId } from '../../protocol/index.ts';
import { closeMedia, fixture, OFFER, owner, settle, setup } from './fake-janus.ts';

afterEach(closeMedia);

describe('player and mountpoint (fake Janus)', () => {
  it('a player that never answers is ended with FAILED after answerTimeoutMs', async () => {
    const { world, media } = setup({ answerTimeoutMs: 50 });
    await media.publish(owner(), { publishId: newMediaId('pub'), node: 'origin', stream: 'cam', sdp: OFFER });
    await settle();
    const viewer = owner('v');
    const playId = newMediaId('play');
    await media.play(viewer, { playId, node: 'edge-2', stream: 'cam' });
    await settle(120);
    expect(viewer.events).toContainEqual({ event: 'player', playId, stream: 'cam', status: 'FAILED', info: 'no answer to the offer within 50 ms' });
    expect(world.node('edge-2').handles.size).toBe(0);
    await expect(media.answer(viewer, { playId, sdp: 'v=0\r\n' })).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('webrtcup + media make the publisher PUBLISHING and the player PLAYING; answer twice is refused', async () => {
    const { world, media } = setup();
    const o = owner();
    const publishId = newMediaId('pub');
    await media.publish(o, { publishId, node: 'origin', stream: 'cam', sdp: OFFER });
    const [pubHandle] = [...world.origin.handles];
    pubHandle!.emit('handle_webrtcup', {});
    expect(o.events).toEqual([]);
    pubHandle!.emit('handle_media', { type: 'audio', receiving: true, mid: '0' });
    expect(o.events).toEqual([{ event: 'publisher', publishId, stream: 'cam', status: 'PUBLISHING' }]);

    await settle();
    const viewer = owner('v');
    const playId = newMediaId('play');
    await media.play(viewer, { playId, node: 'origin', stream: 'cam' });
    await media.answer(viewer, { playId, sdp: 'v=0\r\nanswer\r\n' });
    await expect(media.answer(viewer, { playId, sdp: 'v=0\r\nanswer\r\n' })).rejects.toMatchObject({ code: 'FAILED_PRECONDITION' });
    const sub = [...world.origin.handles].find((h) => h !== pubHandle)!;
    sub.emit('handle_webrtcup', {});
    expect(viewer.events).toEqual([{ event: 'player', playId, stream: 'cam', status: 'PLAYING' }]);
    // Someone else's playId is not yours.
    await expect(media.stop(owner('other'), { playId })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await media.stop(viewer, { playId });
    expect(world.origin.load.subscribers).toBe(0);
  });

  it('a play on the origin waits for the publisher\'s WebRTC to be up (Janus refuses subscribers to it before: 428)', async () => {
    const { world, media } = setup();
    await media.publish(owner(), { publishId: newMediaId('pub'), node: 'origin', stream: 'cam', sdp: OFFER });
    const [pubHandle] = [...world.origin.handles];
    const playing = media.play(owner('v'), { playId: newMediaId('play'), node: 'origin', stream: 'cam' });
    await settle();
    expect(world.log).not.toContain('origin join');
    pubHandle!.emit('handle_webrtcup', {});
    await expect(playing).resolves.toMatchObject({ type: 'offer' });
  });

  it('a client offer gets an answer from a mountpoint made with its payload types, fed from the edge\'s remote publisher with RTCP for video', async () => {
    const { world, media } = setup();
    await media.publish(owner(), { publishId: newMediaId('pub'), node: 'origin', stream: 'cam', sdp: OFFER });
    await settle();
    const viewer = owner('v');
    const playId = newMediaId('play');
    const r = await media.play(viewer, { playId, node: 'edge-1', stream: 'cam', sdp: fixture('chromium-websdk-legacy') });
    expect(r.type).toBe('answer');
    const edge = world.node('edge-1');
    expect([...edge.mountpoints.values()]).toEqual([
      {
        description: 'fanout:cam',
        media: [
          { type: 'audio', mid: '0', pt: 111 },
          { type: 'video', mid: '1', pt: 96 },
        ],
      },
    ]);
    // The remote publisher numbers its streams by mindex; RTCP (keyframe requests) for video only.
    expect(world.forwards).toEqual([
      { node: 'edge-1', mid: '0', port: 40000, rtcpPort: undefined },
      { node: 'edge-1', mid: '1', port: 40004, rtcpPort: 40005 },
    ]);
    expect(r.sdp).toMatch(/a=group:BUNDLE 0 1\r\n/);
    expect(r.sdp).toMatch(/a=setup:active\r\n/);
    expect(r.sdp).toMatch(/a=msid:fanout fanout-video-1\r\n/);
    expect(r.sdp).toMatch(/\r\na=candidate:1 1 udp 2015363327 127\.0\.0\.2 \d+ typ host\r\n/);
    const viewerHandle = [...edge.handles].find((h) => h.plugin === 'streaming');
    expect(viewerHandle?.answer).toMatch(/a=setup:passive\r\n/);
    expect(viewerHandle?.answer).toMatch(/a=ice-ufrag:cWxf\r\n/);
    expect(edge.load.subscribers).toBe(1);
    // Started on its behalf: there is nothing for the client to answer.
    await expect(media.answer(viewer, { playId, sdp: 'v=0\r\n' })).rejects.toMatchObject({ code: 'FAILED_PRECONDITION' });
  });

  it('players of one profile share a mountpoint, a server-offer player takes it too, and it goes with its forwarders when the last one leaves', async () => {
    const { world, media } = setup();
    await media.publish(owner(), { publishId: newMediaId('pub'), node: 'origin', stream: 'cam', sdp: OFFER });
    await settle();
    const edge = world.node('edge-2');
    const [a, b, c] = [{ playId: newMediaId('play') }, { playId: newMediaId('play') }, { playId: newMediaId('play') }];
    await media.play(owner('a'), { ...a, node: 'edge-2', stream: 'cam', sdp: fixture('chromium-websdk-legacy') });
    await media.play(owner('b'), { ...b, node: 'edge-2', stream: 'cam', sdp: fixture('chromium-transceivers-av') });
    const cr = await media.play(owner('c'), { ...c, node: 'edge-2', stream: 'cam' });
    expect(cr.type).toBe('offer');
    expect(world.log.filter((l) => l === 'edge-2 streaming create')).toHaveLength(1);
    expect(edge.load.subscribers).toBe(3);
    await media.stop(owner('a'), { playId: a.playId });
    await media.stop(owner('b'), { playId: b.playId });
    await settle();
    expect(world.mountpoints()).toEqual(['edge-2:fanout:cam']);
    await media.stop(owner('c'), { playId: c.playId });
    await settle();
    expect(world.mountpoints()).toEqual([]);
    expect(world.forwarders()).toBe(0);
    expect(edge.load.subscribers).toBe(0);
    expect(edge.handles.size).toBe(0);
  });

  it('a player on the origin watches a mountpoint fed from the publisher itself, by its own mids', async () => {
    const { world, media } = setup();
    await media.publish(owner(), { publishId: newMediaId('pub'), node: 'origin', stream: 'cam', sdp: OFFER });
    const [pubHandle] = [...world.origin.handles];
    pubHandle!.emit('handle_webrtcup', {});
    const r = await media.play(owner('v'), { playId: newMediaId('play'), node: 'origin', stream: 'cam', sdp: fixture('chromium-websdk-legacy') });
    expect(r.type).toBe('answer');
    expect(world.forwards.filter((f) => f.node === 'origin').map((f) => f.mid)).toEqual(['0', '1']);
    expect(world.origin.mountpoints.size).toBe(1);
  });

  it('a bad client offer is INVALID_ARGUMENT naming the rule and leaves nothing; an unknown stream is "stream not found"', async () => {
    const { world, media } = setup();
    await media.publish(owner(), { publishId: newMediaId('pub'), node: 'origin', stream: 'cam', sdp: OFFER });
    await settle();
    await expect(media.play(owner(), { playId: newMediaId('play'), node: 'edge-1', stream: 'cam', sdp: 'v=0\r\ngarbage\r\n' })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: 'sdp: the offer has no media (no m= line)',
    });
    // Audio only, and the player offers video only.
    await expect(media.play(owner(), { playId: newMediaId('play'), node: 'edge-1', stream: 'cam', sdp: fixture('chromium-h264-only').replace(/m=audio[\s\S]*?(?=m=video)/, '') })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringContaining('sdp: no m-line of the offer can receive this stream (it sends audio opus + video vp8'),
    });
    expect(world.mountpoints()).toEqual([]);
    expect(world.node('edge-1').handles.size).toBe(0);
    expect(world.node('edge-1').load.subscribers).toBe(0);
    await expect(media.play(owner(), { playId: newMediaId('play'), node: 'edge-1', stream: 'nope', sdp: OFFER })).rejects.toMatchObject({ code: 'NOT_FOUND', message: 'stream "nope" is not published' });
    await expect(media.play(owner(), { playId: newMediaId('play'), node: 'edge-1', stream: 'nope' })).rejects.toMatchObject({ code: 'NOT_FOUND', message: 'stream "nope" is not published' });
  });

  it('a forwarder Janus refuses fails the play and takes its new mountpoint with it', async () => {
    const { world, media } = setup();
    await media.publish(owner(), { publishId: newMediaId('pub'), node: 'origin', stream: 'cam', sdp: OFFER });
    await settle();
    world.fail = (node, body) => (node.id === 'edge-1' && body['request'] === 'rtp_forward' ? new Error('433 Unauthorized (wrong admin_key)') : undefined);
    await expect(media.play(owner(), { playId: newMediaId('play'), node: 'edge-1', stream: 'cam' })).rejects.toMatchObject({ code: 'JANUS', janusCode: 433 });
    expect(world.mountpoints()).toEqual([]);
    expect(world.node('edge-1').load.subscribers).toBe(0);
    world.fail = () => undefined;
    await expect(media.play(owner(), { playId: newMediaId('play'), node: 'edge-1', stream: 'cam' })).resolves.toMatchObject({ type: 'offer' });
  });

  it('a forward meeting "428 no such feed" while Janus still registers the remote publisher is retried, and the play goes on', async () => {
    const { world, media } = setup();
    await media.publish(owner(), { publishId: newMediaId('pub'), node: 'origin', stream: 'cam', sdp: OFFER });
    await settle();
    let refusals = 2;
    world.fail = (node, body) =>
      node.id === 'edge-1' && body['request'] === 'rtp_forward' && refusals-- > 0 ? new Error('428 No such feed (1234)') : undefined;
    await expect(media.play(owner(), { playId: newMediaId('play'), node: 'edge-1', stream: 'cam' })).resolves.toMatchObject({ type: 'offer' });
    expect(refusals).toBe(-1);
    expect(world.mountpoints()).toHaveLength(1);
  });

  it('a feed that stays missing fails the play after the retries and leaves no mountpoint', async () => {
    const { world, media } = setup();
    await media.publish(owner(), { publishId: newMediaId('pub'), node: 'origin', stream: 'cam', sdp: OFFER });
    await settle();
    world.fail = (node, body) => (node.id === 'edge-1' && body['request'] === 'rtp_forward' ? new Error('428 No such feed (1234)') : undefined);
    await expect(media.play(owner(), { playId: newMediaId('play'), node: 'edge-1', stream: 'cam' })).rejects.toMatchObject({ code: 'JANUS', janusCode: 428 });
    expect(world.mountpoints()).toEqual([]);
  });
});

describe('player whose mountpoint is destroyed under it (fake Janus)', () => {
  it('the "stopped" status on its handle ends it with STOPPED and its playId, detaches it, and the mountpoint record goes', async () => {
    const { world, media } = setup();
    await media.publish(owner(), { publishId: newMediaId('pub'), node: 'origin', stream: 'cam', sdp: OFFER });
    await settle();
    const viewer = owner('v');
    const playId = newMediaId('play');
    await media.play(viewer, { playId, node: 'edge-1', stream: 'cam' });
    await media.answer(viewer, { playId, sdp: 'v=0\r\nanswer\r\n' });
    const edge = world.node('edge-1');
    const sub = [...edge.handles].find((h) => h.plugin === 'streaming')!;
    sub.emit('handle_webrtcup', {});
    // As Janus 1.1.2 does: the mountpoint is gone, then its viewers get a "stopped" status (Janode's streaming_status).
    edge.mountpoints.clear();
    sub.emit('streaming_status', { status: 'stopped', id: null });
    await settle();
    expect(viewer.events).toEqual([
      { event: 'player', playId, stream: 'cam', status: 'PLAYING' },
      { event: 'player', playId, stream: 'cam', status: 'STOPPED', info: 'its mountpoint was destroyed' },
    ]);
    expect(edge.handles.size).toBe(0);
    expect(edge.load.subscribers).toBe(0);
    expect(world.forwarders()).toBe(0);
    // A new player makes a new mountpoint.
    await expect(media.play(viewer, { playId: newMediaId('play'), node: 'edge-1', stream: 'cam' })).resolves.toMatchObject({ type: 'offer' });
    expect(world.mountpoints()).toEqual(['edge-1:fanout:cam']);
  });
});
