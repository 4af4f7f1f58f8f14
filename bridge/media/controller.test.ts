/**
 * The registry's id contract against the fake Janus (./fake-janus.ts): the requester names each
 * publish and play, an id in use is refused, and unpublish, stop and trickle reach a publish or play
 * whose request is still running, ending it without leaving anything behind.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { newMediaId } from '../../protocol/index.ts';
import { closeMedia, OFFER, owner, settle, setup, type World } from './fake-janus.ts';

afterEach(closeMedia);

/** Holds every request of `request` (on `node`, when given) until `release()`; `reached` resolves when the first one arrives. */
function holdRequests(world: World, request: string, node?: string): { reached: Promise<void>; release: () => void } {
  let release!: () => void;
  let reached!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const arrived = new Promise<void>((r) => (reached = r));
  world.hold = (n, body) => {
    if (body['request'] !== request || (node !== undefined && n.id !== node)) return undefined;
    reached();
    return gate;
  };
  return { reached: arrived, release };
}

const CANDIDATE = { candidate: 'candidate:1 1 udp 2122260223 127.0.0.2 50000 typ host', sdpMid: '0' };

describe('media ids (fake Janus)', () => {
  it('a publish or play whose id is in use, by a publish or a play, is ALREADY_EXISTS and changes nothing', async () => {
    const { world, media } = setup();
    const publishId = newMediaId('pub');
    await media.publish(owner(), { publishId, node: 'origin', stream: 'cam', sdp: OFFER });
    await settle();
    const playId = newMediaId('play');
    await media.play(owner('v'), { playId, node: 'edge-1', stream: 'cam' });
    const rooms = world.rooms();
    for (const id of [publishId, playId]) {
      await expect(media.publish(owner('x'), { publishId: id, node: 'origin', stream: 'other', sdp: OFFER })).rejects.toMatchObject({
        code: 'ALREADY_EXISTS',
        message: `id "${id}" is already in use`,
      });
      await expect(media.play(owner('x'), { playId: id, node: 'edge-2', stream: 'cam' })).rejects.toMatchObject({ code: 'ALREADY_EXISTS' });
    }
    expect(world.rooms()).toEqual(rooms);
    expect(world.node('edge-2').load.subscribers).toBe(0);
  });

  it('unpublish of a publish still being set up ends it: unpublish answers {}, the publish fails with FAILED_PRECONDITION, nothing is left, the name and id are free', async () => {
    const { world, media } = setup();
    const o = owner();
    const publishId = newMediaId('pub');
    const gate = holdRequests(world, 'joinandconfigure');
    const publishing = media.publish(o, { publishId, node: 'origin', stream: 'cam', sdp: OFFER });
    const refused = expect(publishing).rejects.toMatchObject({ code: 'FAILED_PRECONDITION', message: `publish "${publishId}" was ended before it started` });
    await gate.reached;
    const unpublished = media.unpublish(o, { publishId });
    gate.release();
    await expect(unpublished).resolves.toEqual({});
    await refused;
    expect(world.rooms()).toEqual([]);
    expect(world.origin.handles.size).toBe(0);
    expect(world.origin.load.publishers).toBe(0);
    expect(o.events).toEqual([]);
    world.hold = () => undefined;
    await expect(media.publish(o, { publishId, node: 'origin', stream: 'cam', sdp: OFFER })).resolves.toMatchObject({ sdp: expect.any(String) });
  });

  it('stop of a play still being set up ends it: stop answers {}, the play fails with FAILED_PRECONDITION, no handle or mountpoint is left', async () => {
    const { world, media } = setup();
    await media.publish(owner(), { publishId: newMediaId('pub'), node: 'origin', stream: 'cam', sdp: OFFER });
    await settle();
    const viewer = owner('v');
    const playId = newMediaId('play');
    const gate = holdRequests(world, 'watch', 'edge-1');
    const playing = media.play(viewer, { playId, node: 'edge-1', stream: 'cam' });
    const refused = expect(playing).rejects.toMatchObject({ code: 'FAILED_PRECONDITION', message: `play "${playId}" was ended before it started` });
    await gate.reached;
    expect(world.node('edge-1').load.subscribers).toBe(1);
    const stopped = media.stop(viewer, { playId });
    gate.release();
    await expect(stopped).resolves.toEqual({});
    await refused;
    await settle();
    const edge = world.node('edge-1');
    expect(edge.handles.size).toBe(0);
    expect(edge.load.subscribers).toBe(0);
    expect(world.mountpoints()).toEqual([]);
    expect(world.forwarders()).toBe(0);
    expect(viewer.events).toEqual([]);
  });

  it('stop of a play waiting for the cascade to its edge answers at once, and the play fails with FAILED_PRECONDITION', async () => {
    const { world, media } = setup();
    const gate = holdRequests(world, 'add_remote_publisher', 'edge-2');
    await media.publish(owner(), { publishId: newMediaId('pub'), node: 'origin', stream: 'cam', sdp: OFFER });
    await gate.reached;
    const viewer = owner('v');
    const playId = newMediaId('play');
    const playing = media.play(viewer, { playId, node: 'edge-2', stream: 'cam' });
    const refused = expect(playing).rejects.toMatchObject({ code: 'FAILED_PRECONDITION' });
    await settle();
    await media.stop(viewer, { playId });
    await refused;
    gate.release();
    await settle();
    expect(world.node('edge-2').handles.size).toBe(0);
    await expect(media.stop(viewer, { playId })).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('a trickle for a publish still being set up waits for its handle and reaches Janus there', async () => {
    const { world, media } = setup();
    const o = owner();
    const publishId = newMediaId('pub');
    const gate = holdRequests(world, 'create', 'origin');
    const publishing = media.publish(o, { publishId, node: 'origin', stream: 'cam', sdp: OFFER });
    await gate.reached;
    const trickled = media.trickle(o, { id: publishId, candidates: [CANDIDATE], ended: true });
    await settle();
    expect(world.log).not.toContain('origin trickle');
    gate.release();
    await expect(trickled).resolves.toEqual({});
    await publishing;
    const [handle] = [...world.origin.handles];
    expect(handle?.trickled).toEqual([[{ candidate: CANDIDATE.candidate, sdpMid: '0' }], { completed: true }]);
    await expect(media.trickle(owner('other'), { id: publishId, candidates: [CANDIDATE] })).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('a closed connection releases its publishes still being set up, and their requests fail', async () => {
    const { world, media } = setup();
    const o = owner();
    const gate = holdRequests(world, 'joinandconfigure');
    const publishing = media.publish(o, { publishId: newMediaId('pub'), node: 'origin', stream: 'cam', sdp: OFFER });
    const failed = expect(publishing).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    await gate.reached;
    const released = media.release(o);
    gate.release();
    await released;
    await failed;
    expect(world.rooms()).toEqual([]);
    expect(world.origin.handles.size).toBe(0);
  });

  it('every event about a publish or play carries its id: slowlink on the publisher and on a player', async () => {
    const { world, media } = setup();
    const o = owner();
    const publishId = newMediaId('pub');
    await media.publish(o, { publishId, node: 'origin', stream: 'cam', sdp: OFFER });
    const [pubHandle] = [...world.origin.handles];
    pubHandle!.emit('handle_slowlink', { uplink: true, lost: 3 });
    expect(o.events).toEqual([{ event: 'slowlink', id: publishId, stream: 'cam', uplink: true, lost: 3 }]);
    await settle();
    const viewer = owner('v');
    const playId = newMediaId('play');
    await media.play(viewer, { playId, node: 'edge-1', stream: 'cam' });
    const sub = [...world.node('edge-1').handles].find((h) => h.plugin === 'streaming');
    sub!.emit('handle_slowlink', { uplink: false, lost: 7 });
    expect(viewer.events).toEqual([{ event: 'slowlink', id: playId, stream: 'cam', uplink: false, lost: 7 }]);
  });
});
