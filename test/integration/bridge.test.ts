/**
 * The bridge's media layer against real Janus: origin + 2 edges and the bridge (no worker), in the
 * test's network namespace, driven through the bridge's authenticated WebSocket API by werift
 * publishers and subscribers. One stack for the whole file; every test leaves no stream behind,
 * and Janus itself is asked (list / listparticipants / listremotes) that nothing leaked.
 *
 * Over 500 lines on purpose: the stack (three Janus nodes and the bridge) starts once per file, and
 * the node-failure and bridge-restart cases need one that has carried every earlier case, so the
 * whole bridge-against-Janus story stays in this one file.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { newMediaId, type NodeInfo } from '../../protocol/index.ts';
import { BridgeClient, BridgeRequestError, isNodeEvent, isPlayerEvent, isPublisherEvent, upgradeStatus, refusal } from '../harness/bridge-client.ts';
import { handleCounts, JanusInspector } from '../harness/janus-inspect.ts';
import { eventually } from '../harness/poll.ts';
import { Stack } from '../harness/stack.ts';
import { until, WeriftPublisher, WeriftSubscriber, type PublisherOptions } from '../harness/werift-peer.ts';

const JANUS_URLS = { origin: 'ws://127.0.0.1:8188', 'edge-1': 'ws://127.0.0.1:8189', 'edge-2': 'ws://127.0.0.1:8190' } as const;
type NodeId = keyof typeof JANUS_URLS;
const NODE_IDS = Object.keys(JANUS_URLS) as NodeId[];
const EDGES = ['edge-1', 'edge-2'] as const;
const NO_MEDIA_TIMEOUT_MS = 2000;
/** What a lost link or a restart left waits this long for a bind. */
const OWNER_GRACE_MS = 3000;
/** Each node's Janus admin API listens at its port plus this (for handle counts). */
const ADMIN_PORT_OFFSET = 1000;

let stack: Stack;
let client: BridgeClient;
let secrets: { bridgeSecret: string; janusApiSecret: string };
const inspectors = new Map<NodeId, JanusInspector>();
const peers: Array<WeriftPublisher | WeriftSubscriber> = [];
/** Streams the main client published: unpublished after each test, so one failure does not spill into the next. */
const published: string[] = [];
const extraClients: BridgeClient[] = [];

function inspector(node: NodeId): JanusInspector {
  const i = inspectors.get(node);
  if (i === undefined) throw new Error(`no inspector for ${node}`);
  return i;
}

async function connectInspector(node: NodeId): Promise<void> {
  await inspectors.get(node)?.close();
  inspectors.set(node, await JanusInspector.connect(JANUS_URLS[node], secrets.janusApiSecret));
}

beforeAll(async () => {
  stack = await Stack.start({
    bridge: true,
    worker: false,
    env: {
      FANOUT_JANUS_RESTART_MS: '3000',
      FANOUT_NO_MEDIA_TIMEOUT_MS: String(NO_MEDIA_TIMEOUT_MS),
      FANOUT_BRIDGE_OWNER_GRACE_MS: String(OWNER_GRACE_MS),
      FANOUT_JANUS_ADMIN_PORT_OFFSET: String(ADMIN_PORT_OFFSET),
    },
  });
  secrets = stack.secrets();
  client = await BridgeClient.connect(stack.info().bridgeUrl, secrets.bridgeSecret);
  const deadline = Date.now() + 15_000;
  for (;;) {
    const { nodes } = await client.request('nodes', {});
    if (nodes.every((n) => n.up)) break;
    if (Date.now() > deadline) throw new Error(`nodes not up: ${JSON.stringify(nodes)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  for (const node of NODE_IDS) await connectInspector(node);
});

afterEach(async () => {
  await Promise.all(published.splice(0).map((publishId) => client.request('unpublish', { publishId }).catch(() => undefined)));
  await Promise.all(peers.splice(0).map((p) => p.close()));
  await Promise.all(extraClients.splice(0).map((c) => c.close()));
});

afterAll(async () => {
  const times = cascadeTimes();
  if (times.length > 0) console.log(`cascade ready on every edge (ms from publisher configured): ${JSON.stringify(times)}`);
  await Promise.all([...inspectors.values()].map((i) => i.close()));
  await client?.close();
  await stack?.stop();
});

/** The bridge logs each stream's "publisher configured" to "cascade ready on every edge" time. */
function cascadeTimes(): Array<{ stream: string; ms: number }> {
  if (stack === undefined) return [];
  const text = readFileSync(join(stack.stateDir, 'logs', 'bridge.log'), 'utf8');
  return text
    .split('\n')
    .filter((l) => l.includes('"cascade ready on every edge"'))
    .map((l) => JSON.parse(l) as { stream: string; ms: number })
    .map(({ stream, ms }) => ({ stream, ms }));
}

// ---------------------------------------------------------------- helpers

async function publish(name: string, opts: PublisherOptions = {}, via: BridgeClient = client): Promise<{ pub: WeriftPublisher; publishId: string }> {
  const pub = new WeriftPublisher(opts);
  peers.push(pub);
  const offer = await pub.offer();
  const publishId = newMediaId('pub');
  if (via === client) published.push(publishId);
  const r = await via.request('publish', { publishId, node: 'origin', stream: name, sdp: offer });
  await pub.accept(r.sdp);
  await via.waitForEvent('PUBLISHING', isPublisherEvent(publishId, 'PUBLISHING'), { timeoutMs: 15_000 });
  return { pub, publishId };
}

async function play(node: NodeId, name: string, via: BridgeClient = client): Promise<{ sub: WeriftSubscriber; playId: string; offer: string }> {
  const playId = newMediaId('play');
  const r = await via.request('play', { playId, node, stream: name });
  expect(r.type).toBe('offer');
  const sub = new WeriftSubscriber();
  peers.push(sub);
  const answer = await sub.answer(r.sdp);
  await via.request('answer', { playId, sdp: answer });
  return { sub, playId, offer: r.sdp };
}

async function nodes(): Promise<Record<string, NodeInfo>> {
  const { nodes: list } = await client.request('nodes', {});
  return Object.fromEntries(list.map((n) => [n.id, n]));
}

/** Waits until the edge holds the stream's remote publisher and the origin forwards to both edges with rtcp_port. */
async function cascaded(name: string, edges: readonly NodeId[] = EDGES): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const state = await Promise.all(edges.map((e) => inspector(e).streamRoom(name)));
    if (state.every((room) => room?.participants.length === 1 && room.participants[0]?.remote === true && room.participants[0].publisher)) return;
    if (Date.now() > deadline) throw new Error(`"${name}" not cascaded: ${JSON.stringify(state)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Nothing of any Fanout stream is left on any Janus node (rooms, mountpoints), and the bridge counts no load. */
async function expectNoLeaks(): Promise<void> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const rooms = await Promise.all(
      NODE_IDS.map(async (n) => ({ node: n, rooms: await inspector(n).fanoutRooms(), mountpoints: await inspector(n).fanoutMountpoints() })),
    );
    const load = Object.values(await nodes()).map((n) => ({ id: n.id, ...n.load }));
    const clean = rooms.every((r) => r.rooms.length === 0 && r.mountpoints.length === 0) && load.every((l) => l.publishers === 0 && l.subscribers === 0);
    if (clean) return;
    if (Date.now() > deadline) {
      expect(rooms).toEqual(NODE_IDS.map((n) => ({ node: n, rooms: [], mountpoints: [] })));
      expect(load).toEqual(load.map((l) => ({ id: l.id, publishers: 0, subscribers: 0 })));
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Sends requests while a Janus process is paused (SIGSTOP) for `ms`, so they all meet it busy,
 * then resumes it and waits for every request to settle.
 */
async function whilePaused(name: string, send: () => [Promise<unknown>, Promise<unknown>], ms = 300): Promise<[unknown, unknown]> {
  const pid = stack.pidOf(name);
  process.kill(pid, 'SIGSTOP');
  let sent: Promise<unknown>[];
  try {
    // Settled at once: a request may be refused while Janus is still paused (a play waiting for its
    // feed ends on the stop without asking Janus), and a rejection with no handler yet is unhandled.
    sent = send().map((p) => outcome(p));
    await new Promise((r) => setTimeout(r, ms));
  } finally {
    process.kill(pid, 'SIGCONT');
  }
  return Promise.all(sent) as Promise<[unknown, unknown]>;
}

/** A request's outcome, to compare: its result, or [code, reason] of its refusal. */
async function outcome(p: Promise<unknown>): Promise<unknown> {
  try {
    return { result: await p };
  } catch (err) {
    if (err instanceof BridgeRequestError) return [err.code, err.reason];
    throw err;
  }
}

// ---------------------------------------------------------------- tests

describe('bridge API authentication', () => {
  it('refuses a connection with no secret or a wrong one with 401 before the upgrade', async () => {
    const url = stack.info().bridgeUrl;
    expect(await upgradeStatus(url, undefined)).toBe(401);
    expect(await upgradeStatus(url, 'Bearer not-the-secret')).toBe(401);
    expect(await upgradeStatus(url, `Bearer ${secrets.bridgeSecret}x`)).toBe(401);
    expect(await upgradeStatus(url, secrets.bridgeSecret)).toBe(401);
    expect(await upgradeStatus(url, `Bearer ${secrets.bridgeSecret}`)).toBe(101);
  });
});

describe('publish, cascade and play', () => {
  it('publish VP8+opus on the origin: cascaded to both edges with no viewer; plays on each edge and the origin with audio, video and a keyframe', async () => {
    const { pub, publishId } = await publish('vp8-main', { video: 'vp8' });
    await cascaded('vp8-main');

    // The origin forwards to both edges, each with an RTCP port (keyframe requests go back that way).
    const originRoom = await inspector('origin').streamRoom('vp8-main');
    expect(originRoom?.participants).toHaveLength(1);
    const publisherId = originRoom!.participants[0]!.id;
    const remotes = await inspector('origin').remotes(originRoom!.room, publisherId);
    expect(remotes).toHaveLength(2);
    for (const r of remotes) expect(r.rtcp_port).toBeGreaterThan(0);
    expect((await nodes())['origin']?.load.publishers).toBe(1);

    const players = await Promise.all((['edge-1', 'edge-2', 'origin'] as const).map((n) => play(n, 'vp8-main')));
    for (const { sub, playId } of players) {
      await client.waitForEvent('PLAYING', isPlayerEvent(playId, 'PLAYING'));
      await sub.media({ audio: true, video: true, keyframe: true, timeoutMs: 10_000 });
      expect(sub.received.videoCodec).toBe('vp8');
    }
    // Keyframes came from keyframe requests: the publisher sends one only at start and on a PLI.
    expect(pub.plis).toBeGreaterThan(0);
    const load = await nodes();
    expect([load['edge-1']?.load.subscribers, load['edge-2']?.load.subscribers, load['origin']?.load.subscribers]).toEqual([1, 1, 1]);

    // Unpublish: every player is told, and nothing is left anywhere.
    await client.request('unpublish', { publishId });
    for (const { playId } of players) {
      const e = await client.waitForEvent('player STOPPED', isPlayerEvent(playId, 'STOPPED'));
      expect(e.info).toMatch(/ended/);
    }
    await client.waitForEvent('UNPUBLISHED', isPublisherEvent(publishId, 'UNPUBLISHED'));
    await expectNoLeaks();
  });

  it('plays asked for right after the publish answer, before the publisher is connected, work on the origin and on an edge', async () => {
    const pub = new WeriftPublisher();
    peers.push(pub);
    const publishId = newMediaId('pub');
    published.push(publishId);
    const r = await client.request('publish', { publishId, node: 'origin', stream: 'eager', sdp: await pub.offer() });
    const accepted = pub.accept(r.sdp);
    const [onOrigin, onEdge] = await Promise.all([play('origin', 'eager'), play('edge-1', 'eager')]);
    await accepted;
    for (const { sub } of [onOrigin, onEdge]) await sub.media({ audio: true, video: true, keyframe: true });
    await client.request('unpublish', { publishId });
    await expectNoLeaks();
  });

  it('a second publish of a live name is refused with "stream is already published", and the first stream plays on undisturbed', async () => {
    const first = await publish('dup');
    await cascaded('dup');
    const { sub } = await play('edge-1', 'dup');
    await sub.media({ audio: true, video: true, keyframe: true });

    const second = new WeriftPublisher();
    peers.push(second);
    const err = await refusal(client.request('publish', { publishId: newMediaId('pub'), node: 'origin', stream: 'dup', sdp: await second.offer() }));
    expect(err.code).toBe('ALREADY_EXISTS');
    expect(err.reason).toBe('stream "dup" is already published');

    const before = sub.received.video;
    await until('more video after the refused publish', () => sub.received.video > before + 10, 5000);
    const room = await inspector('origin').streamRoom('dup');
    expect(room?.participants).toHaveLength(1);

    await client.request('unpublish', { publishId: first.publishId });
    await expectNoLeaks();
  });

  it('audio-only, video-only and H264 publishes cascade and play on an edge with the right media', async () => {
    const cases = [
      { name: 'audio-only', opts: { audio: true, video: false } as const, audio: true, video: false },
      { name: 'video-only', opts: { audio: false, video: 'vp8' } as const, audio: false, video: true },
      { name: 'h264', opts: { audio: true, video: 'h264' } as const, audio: true, video: true },
    ];
    const published = await Promise.all(cases.map((c) => publish(c.name, c.opts)));
    for (const c of cases) await cascaded(c.name);
    for (const c of cases) {
      const { sub, offer } = await play('edge-2', c.name);
      // Janus's offer carries its candidates (trickled, merged by the bridge) and, for H264, the publisher's profile.
      expect(offer).toMatch(/\r\na=candidate:.* typ host\r\n/);
      if (c.name === 'h264') expect(offer).toMatch(/a=fmtp:\d+ .*profile-level-id=42e01f/);
      if (c.name === 'h264') expect(offer).toMatch(/a=fmtp:\d+ .*packetization-mode=1/);
      await sub.media({ audio: c.audio, video: c.video, keyframe: c.video, timeoutMs: 10_000 });
      await new Promise((r) => setTimeout(r, 300));
      if (!c.audio) expect(sub.received.audio).toBe(0);
      if (!c.video) expect(sub.received.video).toBe(0);
      if (c.name === 'h264') expect(sub.received.videoCodec).toBe('h264');
    }
    for (const p of published) await client.request('unpublish', { publishId: p.publishId });
    await expectNoLeaks();
  });
});

describe('players that send the offer (the Flashphoner WebSDK and WHEP way)', () => {
  /** A werift player that offers (recvonly, no candidates), and the bridge's answer applied. */
  async function playOffering(node: NodeId, name: string, kinds?: ReadonlyArray<'audio' | 'video'>): Promise<{ sub: WeriftSubscriber; playId: string; answer: string }> {
    const sub = new WeriftSubscriber();
    peers.push(sub);
    const playId = newMediaId('play');
    const r = await client.request('play', { playId, node, stream: name, sdp: await sub.offer(kinds) });
    expect(r.type).toBe('answer');
    await sub.accept(r.sdp);
    return { sub, playId, answer: r.sdp };
  }

  it('VP8 and H264: players that offer get media and a keyframe on an edge and on the origin; one profile, one mountpoint; it goes with its forwarders when the last player stops', async () => {
    for (const codec of ['vp8', 'h264'] as const) {
      const name = `offering-${codec}`;
      const { publishId } = await publish(name, { video: codec });
      await cascaded(name);
      const a = await playOffering('edge-1', name);
      const b = await playOffering('edge-1', name);
      const o = await playOffering('origin', name);
      for (const { sub, playId } of [a, b, o]) {
        await client.waitForEvent('PLAYING', isPlayerEvent(playId, 'PLAYING'));
        await sub.media({ audio: true, video: true, keyframe: true, timeoutMs: 10_000 });
        expect(sub.received.videoCodec).toBe(codec);
      }
      // The answer carries Janus's candidates, its msid, and is the player's own m-lines.
      expect(a.answer).toMatch(/\r\na=candidate:.* typ host\r\n/);
      expect(a.answer).toMatch(/\r\na=msid:\S+ \S+\r\n/);
      expect(await inspector('edge-1').fanoutMountpoints()).toHaveLength(1);
      expect(await inspector('origin').fanoutMountpoints()).toHaveLength(1);
      expect((await nodes())['edge-1']?.load.subscribers).toBe(2);

      const edgeRoom = await inspector('edge-1').streamRoom(name);
      expect(await inspector('edge-1').forwarders(edgeRoom!.room)).toEqual([{ publisherId: edgeRoom!.participants[0]!.id, count: 2 }]);
      await client.request('stop', { playId: a.playId });
      expect(await inspector('edge-1').fanoutMountpoints()).toHaveLength(1);
      await client.request('stop', { playId: b.playId });
      const deadline = Date.now() + 5000;
      while ((await inspector('edge-1').fanoutMountpoints()).length > 0 || (await inspector('edge-1').forwarders(edgeRoom!.room)).length > 0) {
        if (Date.now() > deadline) throw new Error('the last player left, but its mountpoint or forwarders stayed');
        await new Promise((r) => setTimeout(r, 50));
      }
      expect((await nodes())['edge-1']?.load.subscribers).toBe(0);

      await client.request('unpublish', { publishId });
      await client.waitForEvent('player STOPPED', isPlayerEvent(o.playId, 'STOPPED'));
      await expectNoLeaks();
    }
  });

  it('a player offering audio only gets the audio of an audio+video stream; an offer that can take nothing is refused and leaves nothing', async () => {
    const { publishId } = await publish('offering-partial');
    await cascaded('offering-partial');
    const audio = await playOffering('edge-2', 'offering-partial', ['audio']);
    await audio.sub.media({ audio: true, timeoutMs: 10_000 });
    await new Promise((r) => setTimeout(r, 300));
    expect(audio.sub.received.video).toBe(0);
    expect(audio.answer.match(/\r\nm=/g)).toHaveLength(1);

    const onlyVideo = await publish('offering-video', { audio: false, video: 'vp8' });
    await cascaded('offering-video');
    const sub = new WeriftSubscriber();
    peers.push(sub);
    const refused = await refusal(client.request('play', { playId: newMediaId('play'), node: 'edge-2', stream: 'offering-video', sdp: await sub.offer(['audio']) }));
    expect(refused.code).toBe('INVALID_ARGUMENT');
    expect(refused.reason).toContain('it sends video vp8');
    expect((await inspector('edge-2').fanoutMountpoints()).map((m) => m.description)).toEqual(['fanout:offering-partial']);

    await client.request('unpublish', { publishId });
    await client.request('unpublish', { publishId: onlyVideo.publishId });
    await expectNoLeaks();
  });
});

describe('bad input', () => {
  it('each bad request gets a clear error; a live stream and its player are undisturbed; nothing leaks', async () => {
    const { publishId } = await publish('steady');
    await cascaded('steady');
    const { sub } = await play('edge-1', 'steady');
    await sub.media({ audio: true, video: true, keyframe: true });

    const notFound = await refusal(client.request('play', { playId: newMediaId('play'), node: 'edge-1', stream: 'no-such-stream' }));
    expect([notFound.code, notFound.reason]).toEqual(['NOT_FOUND', 'stream "no-such-stream" is not published']);

    const unknownNode = await refusal(client.request('play', { playId: newMediaId('play'), node: 'edge-9', stream: 'steady' }));
    expect(unknownNode.code).toBe('NOT_FOUND');
    expect(unknownNode.message).toContain('unknown node');

    const spare = new WeriftPublisher();
    peers.push(spare);
    const offer = await spare.offer();
    const onEdge = await refusal(client.request('publish', { publishId: newMediaId('pub'), node: 'edge-1', stream: 'elsewhere', sdp: offer }));
    expect(onEdge.code).toBe('FAILED_PRECONDITION');
    expect(onEdge.message).toContain('publishing is accepted only on the origin');

    const badSdp = await refusal(client.request('publish', { publishId: newMediaId('pub'), node: 'origin', stream: 'bad-sdp', sdp: 'v=0\r\ngarbage\r\n' }));
    expect(badSdp.code).toBe('INVALID_ARGUMENT');
    expect(badSdp.janusCode).toBe(465);
    expect(badSdp.reason).toMatch(/^sdp: /);

    const badName = await refusal(client.request('publish', { publishId: newMediaId('pub'), node: 'origin', stream: 'no spaces!', sdp: offer }));
    expect(badName.code).toBe('INVALID_ARGUMENT');
    expect(badName.message).toContain('stream name');

    const malformed = await refusal(client.raw({ method: 'publish', params: { publishId: newMediaId('pub'), node: 'origin' } }));
    expect(malformed.code).toBe('INVALID_ARGUMENT');
    expect(malformed.message).toContain('stream');
    expect(await client.rawText('not json').catch((e: unknown) => e)).toMatchObject({ code: 'INVALID_ARGUMENT' });

    // A player's offer that cannot receive anything (a publisher's sendonly one) is refused before Janus is asked.
    const clientOffer = await refusal(client.request('play', { playId: newMediaId('play'), node: 'edge-1', stream: 'steady', sdp: offer }));
    expect(clientOffer.code).toBe('INVALID_ARGUMENT');
    expect(clientOffer.message).toContain('sdp: no m-line of the offer can receive this stream');
    const noMedia = await refusal(client.request('play', { playId: newMediaId('play'), node: 'edge-1', stream: 'steady', sdp: 'v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n' }));
    expect([noMedia.code, noMedia.reason]).toEqual(['INVALID_ARGUMENT', 'sdp: the offer has no media (no m= line)']);

    for (const [method, params] of [
      ['answer', { playId: 'play_nope', sdp: 'v=0\r\n' }],
      ['stop', { playId: 'play_nope' }],
      ['unpublish', { publishId: 'pub_nope' }],
    ] as const) {
      const e = await refusal(client.raw({ method, params }));
      expect([method, e.code]).toEqual([method, 'NOT_FOUND']);
    }

    // A player whose answer Janus refuses is gone, not half-open.
    const r = { playId: newMediaId('play') };
    await client.request('play', { ...r, node: 'edge-2', stream: 'steady' });
    expect((await nodes())['edge-2']?.load.subscribers).toBe(1);
    const badAnswer = await refusal(client.request('answer', { playId: r.playId, sdp: 'v=0\r\nnonsense\r\n' }));
    expect(badAnswer.code).toBe('INVALID_ARGUMENT');
    expect(badAnswer.janusCode).toBeGreaterThan(0);
    expect((await nodes())['edge-2']?.load.subscribers).toBe(0);
    expect((await refusal(client.request('stop', { playId: r.playId }))).code).toBe('NOT_FOUND');

    // The failed publishes left no room; the live stream still flows.
    expect((await inspector('origin').fanoutRooms()).map((room) => room.description)).toEqual(['fanout:steady']);
    const before = sub.received.video;
    await until('video still flowing', () => sub.received.video > before + 10, 5000);

    await client.request('unpublish', { publishId });
    await expectNoLeaks();
  });
});

describe('ids named by the requester', () => {
  it('an id in use is ALREADY_EXISTS; an unpublish or stop while its publish or play still runs ends it, which then fails with FAILED_PRECONDITION; nothing leaks', async () => {
    const { publishId } = await publish('named');
    await cascaded('named');
    const { playId } = await play('edge-1', 'named');
    const spare = new WeriftPublisher();
    peers.push(spare);
    const offer = await spare.offer();
    for (const id of [publishId, playId]) {
      const taken = await refusal(client.request('publish', { publishId: id, node: 'origin', stream: 'named-2', sdp: offer }));
      expect([taken.code, taken.reason]).toEqual(['ALREADY_EXISTS', `id "${id}" is already in use`]);
      expect((await refusal(client.request('play', { playId: id, node: 'edge-2', stream: 'named' }))).code).toBe('ALREADY_EXISTS');
    }

    // Janus paused (SIGSTOP): the publish is surely still running when its unpublish comes.
    const early = newMediaId('pub');
    const [publishing, unpublished] = await whilePaused('janus origin', () => [
      client.request('publish', { publishId: early, node: 'origin', stream: 'named-early', sdp: offer }),
      client.request('unpublish', { publishId: early }),
    ]);
    expect(unpublished).toEqual({ result: {} });
    expect(publishing).toEqual(['FAILED_PRECONDITION', `publish "${early}" was ended before it started`]);
    expect((await refusal(client.request('unpublish', { publishId: early }))).code).toBe('NOT_FOUND');
    expect((await inspector('origin').fanoutRooms()).map((r) => r.description)).toEqual(['fanout:named']);

    const earlyPlay = newMediaId('play');
    const [playing, stopped] = await whilePaused('janus edge-2', () => [
      client.request('play', { playId: earlyPlay, node: 'edge-2', stream: 'named' }),
      client.request('stop', { playId: earlyPlay }),
    ]);
    expect(stopped).toEqual({ result: {} });
    expect(playing).toEqual(['FAILED_PRECONDITION', `play "${earlyPlay}" was ended before it started`]);
    // The mountpoint it made goes after the stop's answer (its stream drops it once it is unused).
    await eventually('edge-2 mountpoints after the stop', () => inspector('edge-2').fanoutMountpoints(), (m) => m.length === 0, 5000);
    expect((await nodes())['edge-2']?.load.subscribers).toBe(0);

    await client.request('unpublish', { publishId });
    await client.waitForEvent('player STOPPED', isPlayerEvent(playId, 'STOPPED'));
    await expectNoLeaks();
  });
});

describe('a mountpoint destroyed under its viewer', () => {
  it('the bridge ends the player (STOPPED with its playId, from Janus\'s "stopped" status) and leaves no handle behind; the next viewer plays', async () => {
    const { publishId } = await publish('unmounted');
    await cascaded('unmounted');
    const adminPort = 8189 + ADMIN_PORT_OFFSET;
    const before = (await handleCounts({ 'edge-1': adminPort }, secrets.janusApiSecret))['edge-1'];
    const { sub, playId } = await play('edge-1', 'unmounted');
    await client.waitForEvent('PLAYING', isPlayerEvent(playId, 'PLAYING'));
    await sub.media({ video: true, keyframe: true });
    const [mountpoint] = await inspector('edge-1').fanoutMountpoints();
    expect(mountpoint).toBeDefined();
    expect((await handleCounts({ 'edge-1': adminPort }, secrets.janusApiSecret))['edge-1'].handles).toBe(before.handles + 1);

    const from = client.mark();
    await inspector('edge-1').request({ request: 'destroy', id: mountpoint!.id, admin_key: secrets.janusApiSecret, permanent: false }, 'streaming');
    const ended = await client.waitForEvent('player ended', (e) => isPlayerEvent(playId, 'STOPPED')(e) || isPlayerEvent(playId, 'FAILED')(e), { from });
    // Janus tells the viewer "stopped" before it closes the PeerConnection: the bridge hears the first.
    expect(ended).toEqual({ event: 'player', playId, stream: 'unmounted', status: 'STOPPED', info: 'its mountpoint was destroyed' });
    await eventually('edge-1 handles after the player ended', async () => (await handleCounts({ 'edge-1': adminPort }, secrets.janusApiSecret))['edge-1'], (c) => c.handles === before.handles, 5000);
    expect((await nodes())['edge-1']?.load.subscribers).toBe(0);

    // The next viewer gets a new mountpoint and media.
    const again = await play('edge-1', 'unmounted');
    await again.sub.media({ video: true, keyframe: true, timeoutMs: 10_000 });
    await client.request('unpublish', { publishId });
    await expectNoLeaks();
  });
});

describe('teardown by disconnect and stop', () => {
  it('a player stop removes its subscriber; the publisher connection closing ends the stream for every player', async () => {
    const owner = await BridgeClient.connect(stack.info().bridgeUrl, secrets.bridgeSecret);
    extraClients.push(owner);
    await publish('owned', {}, owner);
    await cascaded('owned');

    const a = await play('edge-1', 'owned');
    const b = await play('edge-2', 'owned');
    await a.sub.media({ video: true, keyframe: true });
    await b.sub.media({ video: true, keyframe: true });
    await client.request('stop', { playId: a.playId });
    expect((await nodes())['edge-1']?.load.subscribers).toBe(0);

    await owner.close();
    const e = await client.waitForEvent('player STOPPED', isPlayerEvent(b.playId, 'STOPPED'));
    expect(e.info).toContain('the publisher disconnected');
    await expectNoLeaks();
    // The name is free again.
    const again = await publish('owned');
    await client.request('unpublish', { publishId: again.publishId });
    await expectNoLeaks();
  });

  it('a publisher that vanishes (PeerConnection gone without a hangup) is ended after the no-media timeout; its players are told; nothing is left', async () => {
    // werift sends no DTLS alert on close, so Janus sees no hangup: only the media stopping.
    const { pub, publishId } = await publish('vanishes');
    await cascaded('vanishes');
    const { sub, playId } = await play('edge-2', 'vanishes');
    await sub.media({ video: true });
    await pub.close();
    const ended = await client.waitForEvent('publisher FAILED', isPublisherEvent(publishId, 'FAILED'), { timeoutMs: NO_MEDIA_TIMEOUT_MS + 5000 });
    expect(ended.info).toContain('no media');
    const e = await client.waitForEvent('player STOPPED', isPlayerEvent(playId, 'STOPPED'));
    expect(e.info).toContain('no media');
    await expectNoLeaks();
  });

  it('a player connection closing removes its subscribers', async () => {
    const { publishId } = await publish('viewer-leaves');
    await cascaded('viewer-leaves');
    const viewer = await BridgeClient.connect(stack.info().bridgeUrl, secrets.bridgeSecret);
    extraClients.push(viewer);
    const { sub } = await play('edge-1', 'viewer-leaves', viewer);
    await sub.media({ video: true });
    expect((await nodes())['edge-1']?.load.subscribers).toBe(1);
    await viewer.close();
    const deadline = Date.now() + 5000;
    while ((await nodes())['edge-1']?.load.subscribers !== 0) {
      if (Date.now() > deadline) throw new Error('the closed viewer still has a subscriber');
      await new Promise((r) => setTimeout(r, 50));
    }
    await client.request('unpublish', { publishId });
    await expectNoLeaks();
  });
});

describe('edge failure', () => {
  it('kill -9 an edge: reported down, its players fail; restarted: reported up, the live stream is cascaded again and plays', async () => {
    const { publishId } = await publish('survivor');
    await cascaded('survivor');
    const onEdge1 = await play('edge-1', 'survivor');
    const onEdge2 = await play('edge-2', 'survivor');
    await onEdge1.sub.media({ video: true, keyframe: true });
    await onEdge2.sub.media({ video: true, keyframe: true });

    const from = client.mark();
    process.kill(stack.pidOf('janus edge-1'), 'SIGKILL');
    await client.waitForEvent('edge-1 down', isNodeEvent('edge-1', false), { from, timeoutMs: 10_000 });
    const failed = await client.waitForEvent('player FAILED', isPlayerEvent(onEdge1.playId, 'FAILED'), { from });
    expect(failed.info).toContain('edge-1');
    const down = await refusal(client.request('play', { playId: newMediaId('play'), node: 'edge-1', stream: 'survivor' }));
    expect(down.code).toBe('UNAVAILABLE');

    // edge-2 is untouched.
    const before = onEdge2.sub.received.video;
    await until('edge-2 still receiving', () => onEdge2.sub.received.video > before + 10, 5000);

    await client.waitForEvent('edge-1 up', isNodeEvent('edge-1', true), { from, timeoutMs: 30_000 });
    await connectInspector('edge-1');
    await cascaded('survivor', ['edge-1']);
    const originRoom = await inspector('origin').streamRoom('survivor');
    const remotes = await inspector('origin').remotes(originRoom!.room, originRoom!.participants[0]!.id);
    expect(remotes).toHaveLength(2); // the dead edge's forwarder was removed, the new one added

    const again = await play('edge-1', 'survivor');
    await again.sub.media({ audio: true, video: true, keyframe: true, timeoutMs: 10_000 });

    await client.request('unpublish', { publishId });
    await client.waitForEvent('player STOPPED', isPlayerEvent(again.playId, 'STOPPED'));
    await expectNoLeaks();
  });
});

describe('origin failure', () => {
  it('kill -9 the origin: its publishers get FAILED, players FAILED (the stream may come back elsewhere), the edges hold nothing; back up: publishing works again', async () => {
    const { publishId } = await publish('doomed');
    await cascaded('doomed');
    const { playId } = await play('edge-1', 'doomed');

    const from = client.mark();
    process.kill(stack.pidOf('janus origin'), 'SIGKILL');
    await client.waitForEvent('origin down', isNodeEvent('origin', false), { from, timeoutMs: 10_000 });
    const failed = await client.waitForEvent('publisher FAILED', isPublisherEvent(publishId, 'FAILED'), { from });
    expect(failed.info).toContain('origin');
    const stopped = await client.waitForEvent('player FAILED', isPlayerEvent(playId, 'FAILED'), { from });
    expect(stopped.info).toContain('origin');
    const deadline = Date.now() + 5000;
    for (;;) {
      const left = await Promise.all(EDGES.map((e) => inspector(e).fanoutRooms()));
      if (left.every((rooms) => rooms.length === 0)) break;
      if (Date.now() > deadline) throw new Error(`edges still hold rooms: ${JSON.stringify(left)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const unavailable = await refusal(client.request('publish', { publishId: newMediaId('pub'), node: 'origin', stream: 'too-soon', sdp: 'v=0\r\n' }));
    expect(unavailable.code).toBe('UNAVAILABLE');

    await client.waitForEvent('origin up', isNodeEvent('origin', true), { from, timeoutMs: 30_000 });
    await connectInspector('origin');
    const again = await publish('doomed');
    await cascaded('doomed');
    const { sub } = await play('edge-2', 'doomed');
    await sub.media({ audio: true, video: true, keyframe: true });
    await client.request('unpublish', { publishId: again.publishId });
    await expectNoLeaks();
  });
});

describe('bridge restart', () => {
  it('a restarted bridge takes back what its journal names, removes the rooms it cannot account for (by their fanout: description), and releases what no link binds after the grace', async () => {
    await publish('kept');
    await cascaded('kept');
    // A room no run accounts for (a crash between its creation and the journal's write).
    const stray = 777_000_000 + Math.floor(Math.random() * 1_000_000);
    await inspector('edge-1').request({ request: 'create', room: stray, description: 'fanout:stray', admin_key: secrets.janusApiSecret });

    process.kill(stack.pidOf('bridge'), 'SIGKILL');
    await stack.waitForOutput('bridge restarted', 10_000);
    published.splice(0);
    await client.close();
    const deadline = Date.now() + 15_000;
    for (;;) {
      try {
        client = await BridgeClient.connect(stack.info().bridgeUrl, secrets.bridgeSecret);
        break;
      } catch (err) {
        if (Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    const rooms = await eventually('the stray room swept', async () => (await inspector('edge-1').fanoutRooms()).map((r) => r.description), (d) => !d.includes('fanout:stray'), 5000);
    expect(rooms).toEqual(['fanout:kept']);
    expect(await inspector('origin').streamRoom('kept')).toBeDefined();
    // Nobody binds it: released after the grace, with everything hung on it.
    await new Promise((r) => setTimeout(r, OWNER_GRACE_MS));
    await expectNoLeaks();
  });
});
