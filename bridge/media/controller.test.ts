/**
 * The registry's id contract against the fake Janus (./fake-janus.ts): the requester names each
 * publish and play, an id in use is refused, and unpublish, stop and trickle reach a publish or play
 * whose request is still running, ending it without leaving anything behind. With several origins
 * (one bridge), a publish on any origin cascades from it to every edge, and one on an edge is
 * refused naming every origin.
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

describe('several origins (one bridge, fake Janus)', () => {
  it('a publish on the second origin cascades from it to every edge, and players on both edges play it; the first origin holds nothing', async () => {
    const { world, media } = setup({ origins: ['origin', 'origin-2'] });
    await media.publish(owner(), { publishId: newMediaId('pub'), node: 'origin-2', stream: 'cam', sdp: OFFER });
    await settle();
    expect(world.rooms().sort()).toEqual(['edge-1:fanout:cam:1', 'edge-2:fanout:cam:1', 'origin-2:fanout:cam:1']);
    expect(world.log.filter((l) => l.endsWith(' publish_remotely')).sort()).toEqual(['origin-2 publish_remotely', 'origin-2 publish_remotely']);
    expect(media.cascadeReadyMs('cam')).toEqual(expect.any(Number));
    for (const edge of ['edge-1', 'edge-2']) {
      await expect(media.play(owner(`v-${edge}`), { playId: newMediaId('play'), node: edge, stream: 'cam' })).resolves.toMatchObject({ type: 'offer' });
    }
    expect([world.node('origin').load, world.node('origin-2').load]).toEqual([
      { publishers: 0, subscribers: 0 },
      { publishers: 1, subscribers: 0 },
    ]);
    expect(world.node('origin').handles.size).toBe(0);
  });

  it('one stream on each origin: each cascades from its own origin, and one origin going down fails only its own stream', async () => {
    const { world, media } = setup({ origins: ['origin', 'origin-2'] });
    const first = owner('a');
    const second = owner('b');
    const firstId = newMediaId('pub');
    const secondId = newMediaId('pub');
    await media.publish(first, { publishId: firstId, node: 'origin', stream: 'one', sdp: OFFER });
    await media.publish(second, { publishId: secondId, node: 'origin-2', stream: 'two', sdp: OFFER });
    await settle();
    expect(world.rooms().sort()).toEqual([
      'edge-1:fanout:one:1', 'edge-1:fanout:two:1', 'edge-2:fanout:one:1', 'edge-2:fanout:two:1', 'origin-2:fanout:two:1', 'origin:fanout:one:1',
    ]);
    const origin2 = world.node('origin-2');
    origin2.up = false;
    world.emit('down', origin2);
    await settle();
    expect(second.events).toContainEqual({ event: 'publisher', publishId: secondId, stream: 'two', status: 'FAILED', info: 'the origin node "origin-2" went down' });
    expect(first.events.filter((e) => e.event === 'publisher' && e.status === 'FAILED')).toEqual([]);
    expect(world.rooms().filter((r) => !r.startsWith('origin-2:')).sort()).toEqual(['edge-1:fanout:one:1', 'edge-2:fanout:one:1', 'origin:fanout:one:1']);
    await expect(media.play(owner('v'), { playId: newMediaId('play'), node: 'edge-1', stream: 'one' })).resolves.toMatchObject({ type: 'offer' });
  });

  it('a publish on an edge fails with FAILED_PRECONDITION naming every origin and leaves nothing', async () => {
    const { world, media } = setup({ origins: ['origin', 'origin-2'] });
    await expect(media.publish(owner(), { publishId: newMediaId('pub'), node: 'edge-1', stream: 'cam', sdp: OFFER })).rejects.toMatchObject({
      code: 'FAILED_PRECONDITION',
      message: 'publishing is accepted only on the origins ("origin", "origin-2"), not on edge "edge-1"',
    });
    expect(world.rooms()).toEqual([]);
  });

  it('with one origin the refusal names it as before', async () => {
    const { media } = setup();
    await expect(media.publish(owner(), { publishId: newMediaId('pub'), node: 'edge-2', stream: 'cam', sdp: OFFER })).rejects.toMatchObject({
      code: 'FAILED_PRECONDITION',
      message: 'publishing is accepted only on the origin ("origin"), not on edge "edge-2"',
    });
  });
});
