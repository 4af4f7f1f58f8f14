/**
 * The coordinator of cross-node work (./coordinator.ts) against in-memory agents
 * (./coordinator-harness.ts) that answer from a model of what their node holds. Runtime-free: the
 * orderings real agents rarely produce on cue (a stream that ends while its relay is under way, an
 * edge that goes down mid-relay, a link lost while a stream ends) are set up by hand here.
 */
import { describe, expect, it } from 'vitest';
import { CdnError, type SourceInfo } from '../../protocol/index.ts';
import { carried, edge, end, flush, forwardTo, goLive, target, world, type World } from './coordinator-harness.ts';

const CAM: SourceInfo = {
  stream: 'cam1',
  publishId: 'pub_cam1_first',
  node: 'origin-1',
  room: 1234,
  streams: [
    { type: 'audio', mindex: 0, mid: '0', codec: 'opus' },
    { type: 'video', mindex: 1, mid: '1', codec: 'vp8' },
  ],
};
/** The same stream name published again: another publish, another room. */
const CAM_AGAIN: SourceInfo = { ...CAM, publishId: 'pub_cam1_second', room: 5678 };

/** A world with every agent linked and read, and CAM relayed to every edge that is up. */
async function relayed(opts: Parameters<typeof world>[0] = {}): Promise<World> {
  const w = world(opts);
  await w.coordinator.tick();
  await goLive(w, CAM);
  return w;
}

describe('Coordinator relays each live stream from its origin to every edge that is up', () => {
  it('a `source` event: `relay` on each up edge with the room and streams, then `forward` on the origin to that edge\'s answer with a fresh forwardId; a down edge gets nothing', async () => {
    const w = await relayed({ edges: ['edge-1', 'edge-2', 'edge-3'], down: ['edge-3'] });
    const ids = new Set<string>();
    for (const id of ['edge-1', 'edge-2']) {
      const e = edge(w, id);
      expect(e.requests('relay')).toEqual([{ node: id, stream: 'cam1', room: CAM.room, streams: CAM.streams }]);
      const fwds = w.origin.requests('forward').filter((f) => f.edge === id);
      expect(fwds).toEqual([{ publishId: CAM.publishId, forwardId: expect.stringMatching(/^fwd_/), edge: id, ...target(e, 0) }]);
      ids.add(forwardTo(w, id).forwardId);
      expect(e.relays).toEqual([{ node: id, stream: 'cam1', room: CAM.room }]);
    }
    expect(ids.size).toBe(2);
    expect(edge(w, 'edge-3').work()).toEqual([]);
    expect(w.origin.forwardsOf('cam1').map((f) => f.edge).sort()).toEqual(['edge-1', 'edge-2']);
    expect(carried(w)).toEqual({ 'edge-1': ['cam1'], 'edge-2': ['cam1'] });
  });

  it('`source-ended`: `unrelay` on every edge that has the copy, with info "the stream ended: <info>"; the copies are gone', async () => {
    const w = await relayed();
    await end(w, CAM, 'Unpublished by the publisher');
    for (const id of ['edge-1', 'edge-2']) {
      expect(edge(w, id).requests('unrelay')).toEqual([{ node: id, stream: 'cam1', info: 'the stream ended: Unpublished by the publisher' }]);
      expect(edge(w, id).relays).toEqual([]);
    }
    expect(carried(w)).toEqual({});
  });

  it('a `source-ended` that failed (its origin went down): `unrelay` says so, so the edges tell their players FAILED, which they retry', async () => {
    const w = await relayed();
    await end(w, CAM, 'the origin node "origin-1" went down', true);
    for (const id of ['edge-1', 'edge-2']) {
      expect(edge(w, id).requests('unrelay')).toEqual([{ node: id, stream: 'cam1', info: 'the stream ended: the origin node "origin-1" went down', failed: true }]);
    }
    expect(carried(w)).toEqual({});
  });

  it('a `source-ended` of another publish of the same name (an older one) removes nothing', async () => {
    const w = await relayed();
    w.origin.emit({ event: 'source-ended', stream: 'cam1', publishId: 'pub_cam1_older', node: 'origin-1', info: 'Unpublished' });
    await flush();
    expect(edge(w, 'edge-1').work()).toEqual(['relay']);
    expect(carried(w)).toEqual({ 'edge-1': ['cam1'], 'edge-2': ['cam1'] });
  });

  // The coordinator keeps nothing of its own: a new one learns from `sources` what is live and who carries it.
  it.each([
    ['the origin\'s agent read first', false],
    ['the edges\' agents read first', true],
  ])('a coordinator starting while a stream is live (%s) relays it only to the edge that lacks it: no second forward to the edge that has it', async (_, edgesFirst) => {
    const w = world({ edgesFirst });
    w.origin.streams = [{ ...structuredClone(CAM), forwards: [{ forwardId: 'fwd_old1', edge: 'edge-1' }] }];
    edge(w, 'edge-1').relays = [{ node: 'edge-1', stream: 'cam1', room: CAM.room }];
    await w.coordinator.tick();
    expect(edge(w, 'edge-1').work()).toEqual([]);
    expect(edge(w, 'edge-2').requests('relay')).toEqual([{ node: 'edge-2', stream: 'cam1', room: CAM.room, streams: CAM.streams }]);
    expect(w.origin.work()).toEqual(['forward']);
    expect(forwardTo(w, 'edge-2')).toMatchObject({ publishId: CAM.publishId, ...target(edge(w, 'edge-2'), 0) });
    expect(carried(w)).toEqual({ 'edge-1': ['cam1'], 'edge-2': ['cam1'] });
  });

  it('a copy an edge holds of a stream that is not live is unrelayed, but only once every agent was read: not while the origin\'s agent refuses to open', async () => {
    const w = world();
    edge(w, 'edge-1').relays = [{ node: 'edge-1', stream: 'ghost', room: 99 }];
    w.origin.refuse = true;
    await w.coordinator.tick();
    await flush();
    // The origin out of reach may well still publish "ghost".
    expect(edge(w, 'edge-1').requests('unrelay')).toEqual([]);
    w.origin.refuse = false;
    await w.coordinator.tick();
    await flush();
    expect(edge(w, 'edge-1').requests('unrelay')).toEqual([{ node: 'edge-1', stream: 'ghost', info: 'the stream ended' }]);
    expect(edge(w, 'edge-1').relays).toEqual([]);
  });

  it('a copy an edge holds of a live stream\'s older publish (another room) is unrelayed, then the stream relayed afresh', async () => {
    const w = world({ edges: ['edge-1'] });
    w.origin.streams = [structuredClone(CAM_AGAIN)];
    edge(w, 'edge-1').relays = [{ node: 'edge-1', stream: 'cam1', room: CAM.room }];
    await w.coordinator.tick();
    await flush();
    expect(edge(w, 'edge-1').work()).toEqual(['unrelay', 'relay']);
    expect(edge(w, 'edge-1').relays).toEqual([{ node: 'edge-1', stream: 'cam1', room: CAM_AGAIN.room }]);
    expect(forwardTo(w, 'edge-1').publishId).toBe(CAM_AGAIN.publishId);
  });

  it('an edge that goes down: `unforward` on the origin for its copies; up again: relayed afresh (a new relay and a new forward)', async () => {
    const w = await relayed();
    const old = forwardTo(w, 'edge-1');
    edge(w, 'edge-1').setUp('edge-1', false);
    await flush();
    expect(w.origin.requests('unforward')).toEqual([{ publishId: CAM.publishId, forwardId: old.forwardId }]);
    expect(carried(w)).toEqual({ 'edge-2': ['cam1'] });
    edge(w, 'edge-1').setUp('edge-1', true);
    await flush();
    expect(edge(w, 'edge-1').requests('relay')).toHaveLength(2);
    const fresh = forwardTo(w, 'edge-1');
    expect(fresh.forwardId).not.toBe(old.forwardId);
    expect(fresh).toMatchObject(target(edge(w, 'edge-1'), 1));
    expect(w.origin.forwardsOf('cam1').filter((f) => f.edge === 'edge-1')).toEqual([{ forwardId: fresh.forwardId, edge: 'edge-1' }]);
    // edge-2 was never touched again.
    expect(edge(w, 'edge-2').work()).toEqual(['relay']);
    expect(carried(w)).toEqual({ 'edge-1': ['cam1'], 'edge-2': ['cam1'] });
  });

  it('the origin\'s link lost and, while it is away, the stream ended: after tick() the edges get `unrelay`', async () => {
    const w = await relayed();
    w.origin.lose();
    // Ended while nobody listened: no `source-ended` reaches the coordinator.
    w.origin.streams = [];
    await flush();
    expect(edge(w, 'edge-1').requests('unrelay')).toEqual([]);
    await w.coordinator.tick();
    await flush();
    for (const id of ['edge-1', 'edge-2']) {
      expect(edge(w, id).requests('unrelay')).toEqual([{ node: id, stream: 'cam1', info: expect.stringMatching(/^the stream ended: /) }]);
    }
    expect(carried(w)).toEqual({});
  });

  it('the origin\'s link lost and back with the stream still live: the edges keep their copies, nothing is relayed or forwarded again', async () => {
    const w = await relayed();
    w.origin.lose();
    await w.coordinator.tick();
    await flush();
    expect(w.origin.links).toHaveLength(2);
    expect(w.origin.work()).toEqual(['forward', 'forward']);
    expect(edge(w, 'edge-1').work()).toEqual(['relay']);
    expect(edge(w, 'edge-2').work()).toEqual(['relay']);
    expect(carried(w)).toEqual({ 'edge-1': ['cam1'], 'edge-2': ['cam1'] });
  });

  it('an edge agent back without a copy the origin still forwards to (its Janus restarted): `unforward` of the old forward, then relay and forward afresh', async () => {
    const w = await relayed();
    const old = forwardTo(w, 'edge-1');
    edge(w, 'edge-1').lose();
    edge(w, 'edge-1').relays = [];
    await w.coordinator.tick();
    await flush();
    expect(w.origin.requests('unforward')).toEqual([{ publishId: CAM.publishId, forwardId: old.forwardId }]);
    expect(edge(w, 'edge-1').work()).toEqual(['relay', 'relay']);
    // The old forward stops before the new one starts: never two forwards to one copy.
    expect(w.origin.work().slice(-2)).toEqual(['unforward', 'forward']);
    const fresh = forwardTo(w, 'edge-1');
    expect(fresh.forwardId).not.toBe(old.forwardId);
    expect(w.origin.forwardsOf('cam1').filter((f) => f.edge === 'edge-1')).toEqual([{ forwardId: fresh.forwardId, edge: 'edge-1' }]);
    expect(edge(w, 'edge-2').work()).toEqual(['relay']);
  });

  it('an edge agent back still holding its copy (Janus kept it): nothing is unforwarded or relayed again', async () => {
    const w = await relayed();
    edge(w, 'edge-1').lose();
    await w.coordinator.tick();
    await flush();
    expect(w.origin.work()).toEqual(['forward', 'forward']);
    expect(edge(w, 'edge-1').work()).toEqual(['relay']);
  });

  it('a relay the edge agent refuses is tried again at the next tick(); the other edge is unaffected', async () => {
    const w = world();
    await w.coordinator.tick();
    edge(w, 'edge-1').failNext('relay', new CdnError('UNAVAILABLE', 'the room could not be created'));
    await goLive(w, CAM);
    expect(edge(w, 'edge-1').requests('relay')).toHaveLength(1);
    expect(w.origin.requests('forward').map((f) => f.edge)).toEqual(['edge-2']);
    expect(carried(w)).toEqual({ 'edge-2': ['cam1'] });
    await w.coordinator.tick();
    await flush();
    expect(edge(w, 'edge-1').requests('relay')).toHaveLength(2);
    expect(forwardTo(w, 'edge-1')).toMatchObject({ publishId: CAM.publishId, ...target(edge(w, 'edge-1'), 0) });
    expect(edge(w, 'edge-2').requests('relay')).toHaveLength(1);
    expect(carried(w)).toEqual({ 'edge-1': ['cam1'], 'edge-2': ['cam1'] });
  });

  // Still being made, the agent drops the copy and the relay fails; made, only the coordinator can
  // see that the stream it is about to forward has ended.
  it.each([
    ['the copy still being made', 'hold'],
    ['the copy made, its answer on the way', 'holdReply'],
  ] as const)('a stream that ended while its relay was under way (%s): its copy is unrelayed and no forward is asked', async (_, how) => {
    const w = world({ edges: ['edge-1'] });
    await w.coordinator.tick();
    const relay = edge(w, 'edge-1')[how]('relay');
    await goLive(w, CAM);
    await end(w, CAM);
    relay.release();
    await flush();
    expect(edge(w, 'edge-1').requests('relay')).toHaveLength(1);
    expect(edge(w, 'edge-1').requests('unrelay')[0]).toEqual({ node: 'edge-1', stream: 'cam1', info: 'the stream ended: Unpublished by the publisher' });
    expect(edge(w, 'edge-1').relays).toEqual([]);
    expect(w.origin.requests('forward')).toEqual([]);
    expect(carried(w)).toEqual({});
  });

  it('a lost link asks for a tick soon; a late close of a link already replaced asks nothing and leaves the new link in use', async () => {
    const w = await relayed();
    expect(w.soon).not.toHaveBeenCalled();
    const lost = edge(w, 'edge-2').link();
    edge(w, 'edge-2').lose();
    expect(w.soon).toHaveBeenCalledTimes(1);
    await w.coordinator.tick();
    expect(edge(w, 'edge-2').links).toHaveLength(2);
    lost.handlers.onClose(new CdnError('UNAVAILABLE', 'a late close'));
    expect(w.soon).toHaveBeenCalledTimes(1);
    await w.coordinator.tick();
    expect(edge(w, 'edge-2').links).toHaveLength(2);
  });
});

// Orderings that leave an edge without the stream, or the origin forwarding where nobody listens.
describe('Coordinator under races', () => {
  // Whether the missing copy is noticed must not hang on the order the agents' `sources` come back in.
  it.each([
    ['the origin\'s agent answers first', false],
    ['the edges\' agents answer first', true],
  ])('a coordinator starting while an edge lacks a copy its origin forwards to (%s) stops that forward and relays the stream afresh', async (_, edgesFirst) => {
    const w = world({ edgesFirst });
    w.origin.streams = [{ ...structuredClone(CAM), forwards: [{ forwardId: 'fwd_old1', edge: 'edge-1' }, { forwardId: 'fwd_old2', edge: 'edge-2' }] }];
    // edge-2 still holds its copy; edge-1's Janus restarted and lost it.
    edge(w, 'edge-2').relays = [{ node: 'edge-2', stream: 'cam1', room: CAM.room }];
    await w.coordinator.tick();
    // A second tick reads nothing again (every link is up), so it cannot mend what the first missed.
    await w.coordinator.tick();
    await flush();
    expect(w.origin.requests('unforward')).toEqual([{ publishId: CAM.publishId, forwardId: 'fwd_old1' }]);
    expect(edge(w, 'edge-1').relays).toEqual([{ node: 'edge-1', stream: 'cam1', room: CAM.room }]);
    expect(w.origin.forwardsOf('cam1').map((f) => f.edge).sort()).toEqual(['edge-1', 'edge-2']);
  });

  it('a stream published again while its first publish\'s relay was under way keeps its new copy on the edge', async () => {
    const w = world({ edges: ['edge-1'] });
    await w.coordinator.tick();
    const first = edge(w, 'edge-1').hold('relay');
    await goLive(w, CAM);
    await end(w, CAM);
    await goLive(w, CAM_AGAIN);
    expect(forwardTo(w, 'edge-1').publishId).toBe(CAM_AGAIN.publishId);
    first.release();
    await flush();
    expect(carried(w)).toEqual({ 'edge-1': ['cam1'] });
    expect(edge(w, 'edge-1').relays).toEqual([{ node: 'edge-1', stream: 'cam1', room: CAM_AGAIN.room }]);
  });

  it('an edge that goes down while the origin\'s forward to it is under way is left no forward on the origin', async () => {
    const w = world({ edges: ['edge-1'] });
    await w.coordinator.tick();
    const forward = w.origin.hold('forward');
    await goLive(w, CAM);
    expect(w.origin.requests('forward')).toHaveLength(1);
    edge(w, 'edge-1').setUp('edge-1', false);
    await flush();
    forward.release();
    await flush();
    expect(w.origin.forwardsOf('cam1')).toEqual([]);
  });

  it('an edge that went down while the origin\'s link was away is relayed afresh once up again, and the forward it missed is stopped', async () => {
    const w = await relayed({ edges: ['edge-1'] });
    const old = forwardTo(w, 'edge-1');
    w.origin.lose();
    edge(w, 'edge-1').setUp('edge-1', false);
    await flush();
    await w.coordinator.tick();
    await flush();
    edge(w, 'edge-1').setUp('edge-1', true);
    await w.coordinator.tick();
    await flush();
    expect(edge(w, 'edge-1').relays).toEqual([{ node: 'edge-1', stream: 'cam1', room: CAM.room }]);
    expect(w.origin.requests('unforward')).toEqual([{ publishId: CAM.publishId, forwardId: old.forwardId }]);
    expect(w.origin.forwardsOf('cam1')).toEqual([{ forwardId: forwardTo(w, 'edge-1').forwardId, edge: 'edge-1' }]);
  });
});
