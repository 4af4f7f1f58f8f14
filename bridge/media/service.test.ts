/**
 * The media layer against an in-memory VideoRoom and Streaming plugin, for what real Janus cannot be
 * made to show on demand: a node refusing one cascade step, a room id already taken, timers that
 * take 30 s by default, and the exact order of teardown requests. The integration suite covers the
 * real thing. Viewers' offers from Janus are a real one captured from Janus 1.1.2.
 */
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import type { Jsep } from 'janode';
import type { Owner } from '../api/index.ts';
import { createLogger } from '../log.ts';
import { CdnError, type BridgeEvent } from '../../protocol/index.ts';
import type { JanusHandle } from '../janus/videoroom.ts';
import { createMedia, type Media, type MediaNode, type MediaNodes } from './index.ts';

type Body = Record<string, unknown>;

interface Room {
  description: string;
  participants: Map<number, { remote: boolean; handle: FakeHandle | undefined; remotes: Set<string>; forwarders: Set<number> }>;
}

const FIXTURES = new URL('../../test/fixtures/sdp/', import.meta.url).pathname;
const fixture = (name: string): string => readFileSync(`${FIXTURES}${name}.sdp`, 'utf8');
/** What Janus 1.1.2 offers a viewer of a VP8+opus mountpoint with the default payload types (mids 0 and 1). */
const JANUS_VIEWER_OFFER = fixture('janus-mountpoint-vp8-opus');

/** One fake Janus node: rooms, publishers, remote publishers, and a log of every request. */
class FakeNode implements MediaNode {
  readonly load = { publishers: 0, subscribers: 0 };
  readonly config: { janusUrl: string };
  readonly rooms = new Map<number, Room>();
  readonly handles = new Set<FakeHandle>();
  readonly mountpoints = new Map<number, { description: string; media: Array<{ type: string; mid: string; pt: number }> }>();
  readonly control: FakeHandle;
  readonly streamingControl: FakeHandle;
  up = true;
  generation = 1;
  nextId = 1000;

  constructor(
    readonly id: string,
    readonly role: 'origin' | 'edge',
    readonly world: World,
  ) {
    this.config = { janusUrl: `ws://127.0.0.1:${role === 'origin' ? 8188 : 8189}` };
    this.control = new FakeHandle(this);
    this.streamingControl = new FakeHandle(this, 'streaming');
  }

  attach(): Promise<JanusHandle> {
    if (!this.up) return Promise.reject(this.unavailable());
    const h = new FakeHandle(this);
    this.handles.add(h);
    return Promise.resolve(h);
  }

  attachStreaming(): Promise<JanusHandle> {
    if (!this.up) return Promise.reject(this.unavailable());
    const h = new FakeHandle(this, 'streaming');
    this.handles.add(h);
    return Promise.resolve(h);
  }

  unavailable(): CdnError {
    return new CdnError('UNAVAILABLE', `node ${this.id} is down`);
  }
}

class FakeHandle extends EventEmitter implements JanusHandle {
  static next = 1;
  readonly id = FakeHandle.next++;
  joined: { room: number; id: number } | undefined;
  /** A Streaming viewer: the mountpoint it watches, and the answer it was started with. */
  watching: number | undefined;
  answer: string | undefined;
  constructor(
    readonly node: FakeNode,
    readonly plugin: 'videoroom' | 'streaming' = 'videoroom',
  ) {
    super();
  }

  async message(body: Body, jsep?: Jsep): Promise<unknown> {
    const node = this.node;
    const request = String(body['request']);
    node.world.log.push(this.plugin === 'streaming' ? `${node.id} streaming ${request}` : `${node.id} ${request}`);
    if (!node.up) throw new Error('connection closed');
    const injected = node.world.fail(node, body);
    if (injected !== undefined) throw injected;
    if (this.plugin === 'streaming') return this.#streaming(request, body, jsep);
    const reply = (data: Body, j?: Jsep): unknown => ({ janus: 'success', plugindata: { plugin: 'janus.plugin.videoroom', data }, jsep: j });
    const roomId = Number(body['room']);
    const room = node.rooms.get(roomId);
    const needRoom = (): Room => {
      if (room === undefined) throw new Error(`426 No such room (${roomId})`);
      return room;
    };
    switch (request) {
      case 'create':
        if (room !== undefined) throw new Error(`427 Room ${roomId} already exists`);
        node.rooms.set(roomId, { description: String(body['description']), participants: new Map() });
        return reply({ videoroom: 'created', room: roomId, permanent: false });
      case 'destroy':
        needRoom();
        node.rooms.delete(roomId);
        return reply({ videoroom: 'destroyed', room: roomId });
      case 'list':
        return reply({ videoroom: 'success', list: [...node.rooms].map(([r, x]) => ({ room: r, description: x.description, num_participants: x.participants.size })) });
      case 'listparticipants':
        return reply({
          videoroom: 'participants',
          room: roomId,
          participants: [...needRoom().participants].map(([id, p]) => ({ id, publisher: true, remote: p.remote })),
        });
      case 'joinandconfigure': {
        const id = node.nextId++;
        needRoom().participants.set(id, { remote: false, handle: this, remotes: new Set(), forwarders: new Set() });
        this.joined = { room: roomId, id };
        const streams = [
          { type: 'audio', mindex: 0, mid: '0', codec: 'opus' },
          { type: 'video', mindex: 1, mid: '1', codec: 'vp8' },
        ];
        expect(jsep?.type).toBe('offer');
        return reply({ videoroom: 'joined', room: roomId, id, streams }, { type: 'answer', sdp: 'v=0\r\nanswer\r\n' });
      }
      case 'add_remote_publisher': {
        const id = node.nextId++;
        needRoom().participants.set(id, { remote: true, handle: undefined, remotes: new Set(), forwarders: new Set() });
        node.world.remoteStreams.push(body['streams']);
        return reply({ videoroom: 'success', room: roomId, id, port: 10000 + id, rtcp_port: 20000 + id });
      }
      case 'remove_remote_publisher': {
        const p = needRoom().participants.get(Number(body['id']));
        if (p?.remote !== true) throw new Error('428 No such remote publisher');
        needRoom().participants.delete(Number(body['id']));
        return reply({ videoroom: 'success' });
      }
      case 'publish_remotely': {
        expect(body['admin_key']).toBe('admin');
        expect(body['rtcp_port']).toEqual(expect.any(Number));
        const p = needRoom().participants.get(Number(body['publisher_id']));
        if (p === undefined) throw new Error('428 No such feed');
        p.remotes.add(String(body['remote_id']));
        return reply({ videoroom: 'success', room: roomId, id: body['publisher_id'], remote_id: body['remote_id'] });
      }
      case 'unpublish_remotely': {
        const p = needRoom().participants.get(Number(body['publisher_id']));
        if (p === undefined || !p.remotes.delete(String(body['remote_id']))) throw new Error('428 No such remotization');
        return reply({ videoroom: 'success', room: roomId, id: body['publisher_id'] });
      }
      case 'rtp_forward': {
        expect(body['admin_key']).toBe('admin');
        const p = needRoom().participants.get(Number(body['publisher_id']));
        if (p === undefined) throw new Error('428 No such feed');
        const streams = Array.isArray(body['streams']) ? body['streams'] : [];
        const forwarders = streams.map((x: { mid: string; port: number; rtcp_port?: number }) => {
          const streamId = node.nextId++;
          p.forwarders.add(streamId);
          node.world.forwards.push({ node: node.id, mid: x.mid, port: x.port, rtcpPort: x.rtcp_port });
          return { stream_id: streamId, type: x.mid === '0' ? 'audio' : 'video', host: body['host'], port: x.port };
        });
        return reply({ videoroom: 'rtp_forward', room: roomId, publisher_id: body['publisher_id'], forwarders });
      }
      case 'stop_rtp_forward': {
        const p = needRoom().participants.get(Number(body['publisher_id']));
        if (p === undefined) throw new Error('428 No such feed');
        if (!p.forwarders.delete(Number(body['stream_id']))) throw new Error(`428 No such stream (${String(body['stream_id'])})`);
        return reply({ videoroom: 'stop_rtp_forward', room: roomId, publisher_id: body['publisher_id'], stream_id: body['stream_id'] });
      }
      case 'leave':
        if (this.joined !== undefined) node.rooms.get(this.joined.room)?.participants.delete(this.joined.id);
        return reply({ videoroom: 'event', leaving: 'ok' });
      default:
        throw new Error(`453 unknown request ${request}`);
    }
  }

  #streaming(request: string, body: Body, jsep: Jsep | undefined): unknown {
    const node = this.node;
    const reply = (data: Body, j?: Jsep): unknown => ({ janus: 'success', plugindata: { plugin: 'janus.plugin.streaming', data }, jsep: j });
    const id = Number(body['id']);
    switch (request) {
      case 'create': {
        expect(body['admin_key']).toBe('admin');
        const mid = node.nextId++;
        const media = Array.isArray(body['media']) ? (body['media'] as Array<{ type: string; mid: string; pt: number }>) : [];
        node.mountpoints.set(mid, { description: String(body['description']), media: media.map((m) => ({ type: m.type, mid: m.mid, pt: m.pt })) });
        const ports = media.map((m, i) => ({ type: m.type, mid: m.mid, port: 40000 + 4 * i, rtcp_port: 40001 + 4 * i }));
        return reply({ streaming: 'created', created: body['description'], permanent: false, stream: { id: mid, type: 'live', description: body['description'], is_private: false, ports } });
      }
      case 'destroy':
        if (!node.mountpoints.delete(id)) throw new Error(`455 No such mountpoint/stream ${id}`);
        return reply({ streaming: 'destroyed', destroyed: id });
      case 'list':
        return reply({ streaming: 'list', list: [...node.mountpoints].map(([i, m]) => ({ id: i, description: m.description })) });
      case 'watch':
        if (!node.mountpoints.has(id)) throw new Error(`455 No such mountpoint/stream ${id}`);
        this.watching = id;
        return reply({ streaming: 'event', result: { status: 'preparing' } }, { type: 'offer', sdp: JANUS_VIEWER_OFFER });
      case 'start':
        expect(jsep?.type).toBe('answer');
        this.answer = jsep?.sdp;
        return reply({ streaming: 'event', result: { status: 'starting' } });
      default:
        throw new Error(`453 unknown request ${request}`);
    }
  }

  detach(): Promise<void> {
    this.node.world.log.push(`${this.node.id} detach`);
    if (this.joined !== undefined) this.node.rooms.get(this.joined.room)?.participants.delete(this.joined.id);
    this.node.handles.delete(this);
    this.emit('handle_detached', {});
    this.removeAllListeners();
    return Promise.resolve();
  }
}

class World extends EventEmitter implements MediaNodes {
  readonly log: string[] = [];
  readonly remoteStreams: unknown[] = [];
  readonly forwards: Array<{ node: string; mid: string; port: number; rtcpPort: number | undefined }> = [];
  readonly origin: FakeNode;
  readonly edges: FakeNode[];
  fail: (node: FakeNode, body: Body) => Error | undefined = () => undefined;

  constructor() {
    super();
    this.origin = new FakeNode('origin', 'origin', this);
    this.edges = [new FakeNode('edge-1', 'edge', this), new FakeNode('edge-2', 'edge', this)];
  }
  get(id: string): FakeNode {
    const n = [this.origin, ...this.edges].find((x) => x.id === id);
    if (n === undefined) throw new CdnError('NOT_FOUND', `unknown node "${id}"`);
    return n;
  }
  loadChanged(): void {}
  node(id: string): FakeNode {
    return this.get(id);
  }
  /** Every mountpoint left anywhere: "<node>:<description>". */
  mountpoints(): string[] {
    return [this.origin, ...this.edges].flatMap((n) => [...n.mountpoints.values()].map((m) => `${n.id}:${m.description}`));
  }
  /** Every forwarder left anywhere. */
  forwarders(): number {
    return [this.origin, ...this.edges].reduce((sum, n) => sum + [...n.rooms.values()].reduce((a, r) => a + [...r.participants.values()].reduce((b, p) => b + p.forwarders.size, 0), 0), 0);
  }
  /** Every Fanout room left anywhere. */
  rooms(): string[] {
    return [this.origin, ...this.edges].flatMap((n) => [...n.rooms.values()].map((r) => `${n.id}:${r.description}:${r.participants.size}`));
  }
}

function owner(id = 'w1'): Owner & { events: BridgeEvent[] } {
  const events: BridgeEvent[] = [];
  return { id, events, send: (e) => events.push(e) };
}

const settle = (ms = 20): Promise<void> => new Promise((r) => setTimeout(r, ms));
const OFFER = 'v=0\r\noffer\r\n';

let media: Media | undefined;
afterEach(async () => {
  await media?.close();
  media = undefined;
});

function setup(opts: { answerTimeoutMs?: number; mediaTimeoutMs?: number } = {}): { world: World; media: Media } {
  const world = new World();
  media = createMedia({ nodes: world, adminKey: 'admin', log: createLogger('silent'), candidateWaitMs: 0, ...opts });
  return { world, media };
}

describe('media layer (fake VideoRoom)', () => {
  it('a publish creates a "fanout:<name>" room on every node, a remote publisher per edge mirroring the mindexes, and records the cascade time', async () => {
    const { world, media } = setup();
    const o = owner();
    const r = await media.publish(o, { node: 'origin', stream: 'cam', sdp: OFFER });
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
    const { publishId } = await media.publish(o, { node: 'origin', stream: 'cam', sdp: OFFER });
    await settle();
    const viewer = owner('w2');
    const { playId } = await media.play(viewer, { node: 'edge-1', stream: 'cam' });
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
    await media.publish(owner(), { node: 'origin', stream: 'cam', sdp: OFFER });
    await settle();
    expect(world.rooms().sort()).toEqual(['edge-1:fanout:cam:1', 'origin:fanout:cam:1']);
    expect(media.cascadeReadyMs('cam')).toBeUndefined();
    await expect(media.play(owner('v'), { node: 'edge-2', stream: 'cam' })).rejects.toMatchObject({ code: 'UNAVAILABLE', message: expect.stringContaining('not relayed to edge-2') });
    await expect(media.play(owner('v'), { node: 'edge-1', stream: 'cam' })).resolves.toMatchObject({ type: 'offer' });
  });

  it('the origin refusing publish_remotely removes that edge\'s remote publisher and room again', async () => {
    const { world, media } = setup();
    world.fail = (node, body) =>
      node.id === 'origin' && body['request'] === 'publish_remotely' && String(body['remote_id']).includes('edge-1') ? new Error('433 Unauthorized') : undefined;
    await media.publish(owner(), { node: 'origin', stream: 'cam', sdp: OFFER });
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
    await media.publish(owner(), { node: 'origin', stream: 'cam', sdp: OFFER });
    expect(world.log.filter((l) => l === 'origin create')).toHaveLength(2);
    expect(world.rooms()).toContain('origin:fanout:cam:1');
  });

  it('a failed publish leaves nothing: the handle is detached and the room destroyed; the name stays free', async () => {
    const { world, media } = setup();
    world.fail = (node, body) => (body['request'] === 'joinandconfigure' ? new Error('437 Invalid SDP') : undefined);
    const o = owner();
    await expect(media.publish(o, { node: 'origin', stream: 'cam', sdp: OFFER })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', janusCode: 437 });
    expect(world.rooms()).toEqual([]);
    expect(world.origin.handles.size).toBe(0);
    expect(o.events).toEqual([]);
    world.fail = () => undefined;
    await expect(media.publish(o, { node: 'origin', stream: 'cam', sdp: OFFER })).resolves.toMatchObject({ sdp: expect.any(String) });
  });

  it('publish errors: an edge node, an unknown node, a live name', async () => {
    const { media } = setup();
    await expect(media.publish(owner(), { node: 'edge-1', stream: 'cam', sdp: OFFER })).rejects.toMatchObject({ code: 'FAILED_PRECONDITION' });
    await expect(media.publish(owner(), { node: 'edge-7', stream: 'cam', sdp: OFFER })).rejects.toMatchObject({ code: 'NOT_FOUND', message: 'unknown node "edge-7"' });
    await media.publish(owner(), { node: 'origin', stream: 'cam', sdp: OFFER });
    await expect(media.publish(owner('w2'), { node: 'origin', stream: 'cam', sdp: OFFER })).rejects.toMatchObject({
      code: 'ALREADY_EXISTS',
      message: 'stream already published: "cam"',
    });
  });

  it('an edge going down fails its players and stops the origin forwarding to it; back up, it is swept and cascaded again', async () => {
    const { world, media } = setup();
    await media.publish(owner(), { node: 'origin', stream: 'cam', sdp: OFFER });
    await settle();
    const viewer = owner('v');
    const { playId } = await media.play(viewer, { node: 'edge-1', stream: 'cam' });
    const edge = world.node('edge-1');
    edge.up = false;
    world.emit('down', edge);
    await settle();
    expect(viewer.events).toContainEqual({ event: 'player', playId, stream: 'cam', status: 'FAILED', info: 'node "edge-1" went down' });
    expect(world.log).toContain('origin unpublish_remotely');
    await expect(media.play(viewer, { node: 'edge-1', stream: 'cam' })).rejects.toMatchObject({ code: 'UNAVAILABLE' });

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
    await expect(media.play(viewer, { node: 'edge-1', stream: 'cam' })).resolves.toMatchObject({ type: 'offer' });
  });

  it('the origin going down fails its publishers and removes the edges\' copies', async () => {
    const { world, media } = setup();
    const o = owner();
    const { publishId } = await media.publish(o, { node: 'origin', stream: 'cam', sdp: OFFER });
    await settle();
    world.origin.up = false;
    world.emit('down', world.origin);
    await settle();
    expect(o.events).toContainEqual({ event: 'publisher', publishId, stream: 'cam', status: 'FAILED', info: 'the origin node "origin" went down' });
    expect(world.rooms().filter((r) => !r.startsWith('origin'))).toEqual([]);
    await expect(media.play(owner('v'), { node: 'edge-1', stream: 'cam' })).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('a player that never answers is ended with FAILED after answerTimeoutMs', async () => {
    const { world, media } = setup({ answerTimeoutMs: 50 });
    await media.publish(owner(), { node: 'origin', stream: 'cam', sdp: OFFER });
    await settle();
    const viewer = owner('v');
    const { playId } = await media.play(viewer, { node: 'edge-2', stream: 'cam' });
    await settle(120);
    expect(viewer.events).toContainEqual({ event: 'player', playId, stream: 'cam', status: 'FAILED', info: 'no answer to the offer within 50 ms' });
    expect(world.node('edge-2').handles.size).toBe(0);
    await expect(media.answer(viewer, { playId, sdp: 'v=0\r\n' })).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('a publisher whose WebRTC never comes up is ended with FAILED after mediaTimeoutMs', async () => {
    const { world, media } = setup({ mediaTimeoutMs: 50 });
    const o = owner();
    const { publishId } = await media.publish(o, { node: 'origin', stream: 'cam', sdp: OFFER });
    await settle(120);
    expect(o.events).toContainEqual({ event: 'publisher', publishId, stream: 'cam', status: 'FAILED', info: 'WebRTC did not come up within 50 ms' });
    expect(world.rooms()).toEqual([]);
  });

  it('webrtcup + media make the publisher PUBLISHING and the player PLAYING; answer twice is refused', async () => {
    const { world, media } = setup();
    const o = owner();
    const { publishId } = await media.publish(o, { node: 'origin', stream: 'cam', sdp: OFFER });
    const [pubHandle] = [...world.origin.handles];
    pubHandle!.emit('handle_webrtcup', {});
    expect(o.events).toEqual([]);
    pubHandle!.emit('handle_media', { type: 'audio', receiving: true, mid: '0' });
    expect(o.events).toEqual([{ event: 'publisher', publishId, stream: 'cam', status: 'PUBLISHING' }]);

    await settle();
    const viewer = owner('v');
    const { playId } = await media.play(viewer, { node: 'origin', stream: 'cam' });
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
    await media.publish(owner(), { node: 'origin', stream: 'cam', sdp: OFFER });
    const [pubHandle] = [...world.origin.handles];
    const playing = media.play(owner('v'), { node: 'origin', stream: 'cam' });
    await settle();
    expect(world.log).not.toContain('origin join');
    pubHandle!.emit('handle_webrtcup', {});
    await expect(playing).resolves.toMatchObject({ type: 'offer' });
  });

  it('a client offer gets an answer from a mountpoint made with its payload types, fed from the edge\'s remote publisher with RTCP for video', async () => {
    const { world, media } = setup();
    await media.publish(owner(), { node: 'origin', stream: 'cam', sdp: OFFER });
    await settle();
    const viewer = owner('v');
    const r = await media.play(viewer, { node: 'edge-1', stream: 'cam', sdp: fixture('chromium-websdk-legacy') });
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
    await expect(media.answer(viewer, { playId: r.playId, sdp: 'v=0\r\n' })).rejects.toMatchObject({ code: 'FAILED_PRECONDITION' });
  });

  it('players of one profile share a mountpoint, a server-offer player takes it too, and it goes with its forwarders when the last one leaves', async () => {
    const { world, media } = setup();
    await media.publish(owner(), { node: 'origin', stream: 'cam', sdp: OFFER });
    await settle();
    const edge = world.node('edge-2');
    const a = await media.play(owner('a'), { node: 'edge-2', stream: 'cam', sdp: fixture('chromium-websdk-legacy') });
    const b = await media.play(owner('b'), { node: 'edge-2', stream: 'cam', sdp: fixture('chromium-transceivers-av') });
    const c = await media.play(owner('c'), { node: 'edge-2', stream: 'cam' });
    expect(c.type).toBe('offer');
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
    await media.publish(owner(), { node: 'origin', stream: 'cam', sdp: OFFER });
    const [pubHandle] = [...world.origin.handles];
    pubHandle!.emit('handle_webrtcup', {});
    const r = await media.play(owner('v'), { node: 'origin', stream: 'cam', sdp: fixture('chromium-websdk-legacy') });
    expect(r.type).toBe('answer');
    expect(world.forwards.filter((f) => f.node === 'origin').map((f) => f.mid)).toEqual(['0', '1']);
    expect(world.origin.mountpoints.size).toBe(1);
  });

  it('a bad client offer is INVALID_ARGUMENT naming the rule and leaves nothing; an unknown stream is "stream not found"', async () => {
    const { world, media } = setup();
    await media.publish(owner(), { node: 'origin', stream: 'cam', sdp: OFFER });
    await settle();
    await expect(media.play(owner(), { node: 'edge-1', stream: 'cam', sdp: 'v=0\r\ngarbage\r\n' })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: 'sdp: the offer has no media (no m= line)',
    });
    // Audio only, and the player offers video only.
    await expect(media.play(owner(), { node: 'edge-1', stream: 'cam', sdp: fixture('chromium-h264-only').replace(/m=audio[\s\S]*?(?=m=video)/, '') })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringContaining('sdp: no m-line of the offer can receive this stream (it sends audio opus + video vp8'),
    });
    expect(world.mountpoints()).toEqual([]);
    expect(world.node('edge-1').handles.size).toBe(0);
    expect(world.node('edge-1').load.subscribers).toBe(0);
    await expect(media.play(owner(), { node: 'edge-1', stream: 'nope', sdp: OFFER })).rejects.toMatchObject({ code: 'NOT_FOUND', message: 'stream not found: "nope"' });
    await expect(media.play(owner(), { node: 'edge-1', stream: 'nope' })).rejects.toMatchObject({ code: 'NOT_FOUND', message: 'stream not found: "nope"' });
  });

  it('a forwarder Janus refuses fails the play and takes its new mountpoint with it', async () => {
    const { world, media } = setup();
    await media.publish(owner(), { node: 'origin', stream: 'cam', sdp: OFFER });
    await settle();
    world.fail = (node, body) => (node.id === 'edge-1' && body['request'] === 'rtp_forward' ? new Error('433 Unauthorized (wrong admin_key)') : undefined);
    await expect(media.play(owner(), { node: 'edge-1', stream: 'cam' })).rejects.toMatchObject({ code: 'JANUS', janusCode: 433 });
    expect(world.mountpoints()).toEqual([]);
    expect(world.node('edge-1').load.subscribers).toBe(0);
    world.fail = () => undefined;
    await expect(media.play(owner(), { node: 'edge-1', stream: 'cam' })).resolves.toMatchObject({ type: 'offer' });
  });

  it('a forward meeting "428 no such feed" while Janus still registers the remote publisher is retried, and the play goes on', async () => {
    const { world, media } = setup();
    await media.publish(owner(), { node: 'origin', stream: 'cam', sdp: OFFER });
    await settle();
    let refusals = 2;
    world.fail = (node, body) =>
      node.id === 'edge-1' && body['request'] === 'rtp_forward' && refusals-- > 0 ? new Error('428 No such feed (1234)') : undefined;
    await expect(media.play(owner(), { node: 'edge-1', stream: 'cam' })).resolves.toMatchObject({ type: 'offer' });
    expect(refusals).toBe(-1);
    expect(world.mountpoints()).toHaveLength(1);
  });

  it('a feed that stays missing fails the play after the retries and leaves no mountpoint', async () => {
    const { world, media } = setup();
    await media.publish(owner(), { node: 'origin', stream: 'cam', sdp: OFFER });
    await settle();
    world.fail = (node, body) => (node.id === 'edge-1' && body['request'] === 'rtp_forward' ? new Error('428 No such feed (1234)') : undefined);
    await expect(media.play(owner(), { node: 'edge-1', stream: 'cam' })).rejects.toMatchObject({ code: 'JANUS', janusCode: 428 });
    expect(world.mountpoints()).toEqual([]);
  });

  it('release ends the streams and players of one connection only', async () => {
    const { world, media } = setup();
    const a = owner('a');
    const b = owner('b');
    await media.publish(a, { node: 'origin', stream: 'one', sdp: OFFER });
    await media.publish(b, { node: 'origin', stream: 'two', sdp: OFFER });
    await settle();
    const { playId } = await media.play(b, { node: 'edge-1', stream: 'one' });
    await media.play(a, { node: 'edge-1', stream: 'two' });
    await media.release(a);
    expect(b.events).toContainEqual({ event: 'player', playId, stream: 'one', status: 'STOPPED', info: 'the stream ended: the publisher disconnected' });
    expect(world.rooms().filter((r) => r.includes(':one:'))).toEqual([]);
    expect(world.rooms().filter((r) => r.includes(':two:'))).toHaveLength(3);
    expect(world.node('edge-1').load.subscribers).toBe(0);
  });
});
