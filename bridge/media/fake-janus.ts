/**
 * Test support for the media layer's unit tests: an in-memory VideoRoom and Streaming plugin on
 * fake nodes, for what real Janus cannot be made to show on demand: a node refusing one cascade
 * step, a room id already taken, a slow request, timers that take 30 s by default, and the exact
 * order of teardown requests. The integration suite covers the real thing. Viewers' offers from
 * Janus are a real one captured from Janus 1.1.2.
 */
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { expect } from 'vitest';
import type { Jsep } from 'janode';
import { CdnError, Errors, silentLogger, type BridgeEvent } from '../../protocol/index.ts';
import type { Owner } from '../api/index.ts';
import type { JanusHandle } from '../janus/videoroom.ts';
import { createMedia, type Media, type MediaNode, type MediaNodes } from './index.ts';

type Body = Record<string, unknown>;

interface Room {
  description: string;
  participants: Map<number, { remote: boolean; handle: FakeHandle | undefined; remotes: Set<string>; forwarders: Set<number> }>;
}

const FIXTURES = new URL('../../test/fixtures/sdp/', import.meta.url).pathname;
export const fixture = (name: string): string => readFileSync(`${FIXTURES}${name}.sdp`, 'utf8');
/** What Janus 1.1.2 offers a viewer of a VP8+opus mountpoint with the default payload types (mids 0 and 1). */
const JANUS_VIEWER_OFFER = fixture('janus-mountpoint-vp8-opus');

/** One fake Janus node: rooms, publishers, remote publishers, and a log of every request. */
export class FakeNode implements MediaNode {
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
  /** The fake never has an earlier run's session to take back. */
  readonly reclaimed = false;

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

  record(): undefined {
    return undefined;
  }

  adoptHandle(): JanusHandle {
    throw new CdnError('FAILED_PRECONDITION', `node ${this.id} reclaimed no session`);
  }

  unavailable(): CdnError {
    return new CdnError('UNAVAILABLE', `node ${this.id} is down`);
  }
}

export class FakeHandle extends EventEmitter implements JanusHandle {
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
    await node.world.hold(node, body);
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

  /** Janus's core trickle (what ../janus/trickle.ts sends). */
  readonly trickled: unknown[] = [];
  trickle(candidate: unknown): Promise<unknown> {
    this.node.world.log.push(`${this.node.id} trickle`);
    this.trickled.push(candidate);
    return Promise.resolve({ janus: 'ack' });
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

export class World extends EventEmitter implements MediaNodes {
  readonly log: string[] = [];
  readonly remoteStreams: unknown[] = [];
  readonly forwards: Array<{ node: string; mid: string; port: number; rtcpPort: number | undefined }> = [];
  /** The first origin (most tests have only it). */
  readonly origin: FakeNode;
  readonly origins: FakeNode[];
  readonly edges: FakeNode[];
  get originIds(): string[] {
    return this.origins.map((n) => n.id);
  }
  get all(): FakeNode[] {
    return [...this.origins, ...this.edges];
  }
  fail: (node: FakeNode, body: Body) => Error | undefined = () => undefined;
  /** Holds a request until the promise it returns resolves (a slow Janus), when it returns one. */
  hold: (node: FakeNode, body: Body) => Promise<void> | undefined = () => undefined;

  /** `origins`: the origins' ids, "origin" alone by default (a topology may list several). */
  constructor(origins: readonly string[] = ['origin']) {
    super();
    this.origins = origins.map((id) => new FakeNode(id, 'origin', this));
    const [first] = this.origins;
    if (first === undefined) throw new Error('World: at least one origin');
    this.origin = first;
    this.edges = [new FakeNode('edge-1', 'edge', this), new FakeNode('edge-2', 'edge', this)];
  }
  get(id: string): FakeNode {
    const n = this.all.find((x) => x.id === id);
    if (n === undefined) throw Errors.nodeUnknown(id);
    return n;
  }
  loadChanged(): void {}
  firstTries(): Promise<void> {
    return Promise.resolve();
  }
  node(id: string): FakeNode {
    return this.get(id);
  }
  /** Every mountpoint left anywhere: "<node>:<description>". */
  mountpoints(): string[] {
    return this.all.flatMap((n) => [...n.mountpoints.values()].map((m) => `${n.id}:${m.description}`));
  }
  /** Every forwarder left anywhere. */
  forwarders(): number {
    return this.all.reduce((sum, n) => sum + [...n.rooms.values()].reduce((a, r) => a + [...r.participants.values()].reduce((b, p) => b + p.forwarders.size, 0), 0), 0);
  }
  /** Every Fanout room left anywhere. */
  rooms(): string[] {
    return this.all.flatMap((n) => [...n.rooms.values()].map((r) => `${n.id}:${r.description}:${r.participants.size}`));
  }
}

export function owner(id = 'w1'): Owner & { events: BridgeEvent[] } {
  const events: BridgeEvent[] = [];
  return { id, events, send: (e) => events.push(e) };
}

export const settle = (ms = 20): Promise<void> => new Promise((r) => setTimeout(r, ms));
export const OFFER = 'v=0\r\noffer\r\n';

const made: Media[] = [];

/** A media layer over a fresh fake world (closed by `closeMedia`, which each test file runs after each test). */
export function setup(opts: { answerTimeoutMs?: number; mediaTimeoutMs?: number; origins?: readonly string[] } = {}): { world: World; media: Media } {
  const { origins, ...timeouts } = opts;
  const world = new World(origins);
  const media = createMedia({ nodes: world, adminKey: 'admin', log: silentLogger, candidateWaitMs: 0, ...timeouts });
  made.push(media);
  return { world, media };
}

export async function closeMedia(): Promise<void> {
  await Promise.all(made.splice(0).map((m) => m.close()));
}
