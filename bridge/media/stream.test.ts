/**
 * Streams against the fake VideoRoom (./fake-janus.ts): publish, the cascade to every edge, node
 * health, timers, teardown order and what a closed connection releases.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { newMediaId } from '../../protocol/index.ts';
import { closeMedia, OFFER, owner, settle, setup } from './fake-janus.ts';

afterEach(closeMedia);

describe('stream (fake VideoRoom)', () => {
  it('a publish creates a "fanout:<name>" room on every node, a remote publisher per edge mirroring the mindexes, and records the cascade time', async () => {
    const { world, media } = setup();
    const o = owner();
    const r = await media.publish(o, { publishId: newMediaId('pub'), node: 'origin', stream: 'cam', sdp: OFFER });
    expect(r.sdp).toBe('v=0\r\nanswer\r\n');
    await settle();
    expect(world.rooms().sort()).toEqual(['edge-1:fanout:cam:1', 'edge-2:fanout:cam:1', 'origin:fanout:cam:1']);
    expect(world.remoteStreams).toEqual([
      [
        { type: 'audio', mindex: 0, mid: '0', codec: 'opus' },
        { type: 'video', mindex: 1, mid: '1', codec: 'vp8' },
      ],
      [
        { type: 'audio', mindex: 0, mid: '0', codec: 'opus' },
        { type: 'video', mindex: 1, mid: '1', codec: 'vp8' },
      ],
    ]);
    expect(media.cascadeReadyMs('cam')).toEqual(expect.any(Number));
    expect(world.origin.load.publishers).toBe(1);
  });

  it('unpublish: players told, then per edge unpublish_remotely before remove_remote_publisher, the publisher leaves, every room goes', async () => {
    const { world, media } = setup();
    const o = owner();
    const publishId = newMediaId('pub');
    await media.publish(o, { publishId, node: 'origin', stream: 'cam', sdp: OFFER });
    await settle();
    const viewer = owner('w2');
    const playId = newMediaId('play');
    await media.play(viewer, { playId, node: 'edge-1', stream: 'cam' });
    expect(world.node('edge-1').load.subscribers).toBe(1);
    world.log.length = 0;
    await media.unpublish(o, { publishId });
    expect(viewer.events).toContainEqual({ event: 'player', playId, stream: 'cam', status: 'STOPPED', info: 'the stream ended: unpublished' });
    expect(o.events).toContainEqual({ event: 'publisher', publishId, stream: 'cam', status: 'UNPUBLISHED', info: 'unpublished' });
    for (const edge of ['edge-1', 'edge-2']) {
      const forward = world.log.findIndex((l) => l === 'origin unpublish_remotely');
      const remove = world.log.indexOf(`${edge} remove_remote_publisher`);
      const destroy = world.log.indexOf(`${edge} destroy`);
      expect(forward).toBeGreaterThanOrEqual(0);
      expect(forward < remove && remove < destroy).toBe(true);
    }
    expect(world.log.indexOf('origin leave')).toBeLessThan(world.log.lastIndexOf('origin destroy'));
    expect(world.rooms()).toEqual([]);
    expect(world.mountpoints()).toEqual([]);
    expect(world.forwarders()).toBe(0);
    expect(world.log.indexOf('edge-1 stop_rtp_forward')).toBeLessThan(world.log.indexOf('edge-1 remove_remote_publisher'));
    expect([world.origin.load, world.node('edge-1').load]).toEqual([
      { publishers: 0, subscribers: 0 },
      { publishers: 0, subscribers: 0 },
    ]);
    expect(world.origin.handles.size + world.node('edge-1').handles.size).toBe(0);
    expect(media.cascadeReadyMs('cam')).toBeUndefined();
  });

  it('an edge refusing the remote publisher (430) leaves it without the stream: play there is UNAVAILABLE naming why, its room is gone, the other edge plays', async () => {
    const { world, media } = setup();
    world.fail = (node, body) => (node.id === 'edge-2' && body['request'] === 'add_remote_publisher' ? new Error('430 Invalid element (streams)') : undefined);
    await media.publish(owner(), { publishId: newMediaId('pub'), node: 'origin', stream: 'cam', sdp: OFFER });
    await settle();
    expect(world.rooms().sort()).toEqual(['edge-1:fanout:cam:1', 'origin:fanout:cam:1']);
    expect(media.cascadeReadyMs('cam')).toBeUndefined();
    await expect(media.play(owner('v'), { playId: newMediaId('play'), node: 'edge-2', stream: 'cam' })).rejects.toMatchObject({ code: 'UNAVAILABLE', message: expect.stringContaining('not relayed to edge-2') });
    await expect(media.play(owner('v'), { playId: newMediaId('play'), node: 'edge-1', stream: 'cam' })).resolves.toMatchObject({ type: 'offer' });
  });

  it('the origin refusing publish_remotely removes that edge\'s remote publisher and room again', async () => {
    const { world, media } = setup();
    world.fail = (node, body) =>
      node.id === 'origin' && body['request'] === 'publish_remotely' && String(body['remote_id']).includes('edge-1') ? new Error('433 Unauthorized') : undefined;
    await media.publish(owner(), { publishId: newMediaId('pub'), node: 'origin', stream: 'cam', sdp: OFFER });
    await settle();
    expect(world.rooms().sort()).toEqual(['edge-2:fanout:cam:1', 'origin:fanout:cam:1']);
    expect(world.log).toContain('edge-1 remove_remote_publisher');
  });

  it('a room id already taken on the origin (427) makes the publish pick another id', async () => {
    const { world, media } = setup();
    let refused = false;
    world.fail = (node, body) => {
      if (node.id !== 'origin' || body['request'] !== 'create' || refused) return undefined;
      refused = true;
      return new Error(`427 Room ${String(body['room'])} already exists`);
    };
    await media.publish(owner(), { publishId: newMediaId('pub'), node: 'origin', stream: 'cam', sdp: OFFER });
    expect(world.log.filter((l) => l === 'origin create')).toHaveLength(2);
    expect(world.rooms()).toContain('origin:fanout:cam:1');
  });

  it('a failed publish leaves nothing: the handle is detached and the room destroyed; the name stays free', async () => {
    const { world, media } = setup();
    world.fail = (node, body) => (body['request'] === 'joinandconfigure' ? new Error('437 Invalid SDP') : undefined);
    const o = owner();
    await expect(media.publish(o, { publishId: newMediaId('pub'), node: 'origin', stream: 'cam', sdp: OFFER })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', janusCode: 437 });
    expect(world.rooms()).toEqual([]);
    expect(world.origin.handles.size).toBe(0);
    expect(o.events).toEqual([]);
    world.fail = () => undefined;
    await expect(media.publish(o, { publishId: newMediaId('pub'), node: 'origin', stream: 'cam', sdp: OFFER })).resolves.toMatchObject({ sdp: expect.any(String) });
  });

  it('publish errors: an edge node, an unknown node, a live name', async () => {
    const { media } = setup();
    await expect(media.publish(owner(), { publishId: newMediaId('pub'), node: 'edge-1', stream: 'cam', sdp: OFFER })).rejects.toMatchObject({ code: 'FAILED_PRECONDITION' });
    await expect(media.publish(owner(), { publishId: newMediaId('pub'), node: 'edge-7', stream: 'cam', sdp: OFFER })).rejects.toMatchObject({ code: 'NOT_FOUND', message: 'unknown node "edge-7"' });
    await media.publish(owner(), { publishId: newMediaId('pub'), node: 'origin', stream: 'cam', sdp: OFFER });
    await expect(media.publish(owner('w2'), { publishId: newMediaId('pub'), node: 'origin', stream: 'cam', sdp: OFFER })).rejects.toMatchObject({
      code: 'ALREADY_EXISTS',
      message: 'stream "cam" is already published',
    });
  });

  it('an edge going down fails its players and stops the origin forwarding to it; back up, it is swept and cascaded again', async () => {
    const { world, media } = setup();
    await media.publish(owner(), { publishId: newMediaId('pub'), node: 'origin', stream: 'cam', sdp: OFFER });
    await settle();
    const viewer = owner('v');
    const playId = newMediaId('play');
    await media.play(viewer, { playId, node: 'edge-1', stream: 'cam' });
    const edge = world.node('edge-1');
    edge.up = false;
    world.emit('down', edge);
    await settle();
    expect(viewer.events).toContainEqual({ event: 'player', playId, stream: 'cam', status: 'FAILED', info: 'node "edge-1" went down' });
    expect(world.log).toContain('origin unpublish_remotely');
    await expect(media.play(viewer, { playId: newMediaId('play'), node: 'edge-1', stream: 'cam' })).rejects.toMatchObject({ code: 'UNAVAILABLE' });

    // Back (same Janus, new connection): the stale room is swept, then the stream is relayed again.
    edge.up = true;
    edge.generation++;
    world.log.length = 0;
    world.emit('up', edge);
    await settle();
    expect(world.log.filter((l) => l.startsWith('edge-1'))).toEqual([
      'edge-1 streaming list',
      'edge-1 streaming destroy',
      'edge-1 list',
      'edge-1 listparticipants',
      'edge-1 remove_remote_publisher',
      'edge-1 destroy',
      'edge-1 create',
      'edge-1 add_remote_publisher',
    ]);
    expect(world.rooms().filter((r) => r.startsWith('edge-1'))).toEqual(['edge-1:fanout:cam:1']);
    await expect(media.play(viewer, { playId: newMediaId('play'), node: 'edge-1', stream: 'cam' })).resolves.toMatchObject({ type: 'offer' });
  });

  it('the origin going down fails its publishers and removes the edges\' copies', async () => {
    const { world, media } = setup();
    const o = owner();
    const publishId = newMediaId('pub');
    await media.publish(o, { publishId, node: 'origin', stream: 'cam', sdp: OFFER });
    await settle();
    world.origin.up = false;
    world.emit('down', world.origin);
    await settle();
    expect(o.events).toContainEqual({ event: 'publisher', publishId, stream: 'cam', status: 'FAILED', info: 'the origin node "origin" went down' });
    expect(world.rooms().filter((r) => !r.startsWith('origin'))).toEqual([]);
    await expect(media.play(owner('v'), { playId: newMediaId('play'), node: 'edge-1', stream: 'cam' })).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('a publisher whose WebRTC never comes up is ended with FAILED after mediaTimeoutMs', async () => {
    const { world, media } = setup({ mediaTimeoutMs: 50 });
    const o = owner();
    const publishId = newMediaId('pub');
    await media.publish(o, { publishId, node: 'origin', stream: 'cam', sdp: OFFER });
    await settle(120);
    expect(o.events).toContainEqual({ event: 'publisher', publishId, stream: 'cam', status: 'FAILED', info: 'WebRTC did not come up within 50 ms' });
    expect(world.rooms()).toEqual([]);
  });

  it('release ends the streams and players of one connection only', async () => {
    const { world, media } = setup();
    const a = owner('a');
    const b = owner('b');
    await media.publish(a, { publishId: newMediaId('pub'), node: 'origin', stream: 'one', sdp: OFFER });
    await media.publish(b, { publishId: newMediaId('pub'), node: 'origin', stream: 'two', sdp: OFFER });
    await settle();
    const playId = newMediaId('play');
    await media.play(b, { playId, node: 'edge-1', stream: 'one' });
    await media.play(a, { playId: newMediaId('play'), node: 'edge-1', stream: 'two' });
    await media.release(a);
    expect(b.events).toContainEqual({ event: 'player', playId, stream: 'one', status: 'STOPPED', info: 'the stream ended: the publisher disconnected' });
    expect(world.rooms().filter((r) => r.includes(':one:'))).toEqual([]);
    expect(world.rooms().filter((r) => r.includes(':two:'))).toHaveLength(3);
    expect(world.node('edge-1').load.subscribers).toBe(0);
  });
});
