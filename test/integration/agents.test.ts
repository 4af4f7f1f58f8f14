/**
 * One agent per Janus node (`npm start -- --agents --no-worker`: `bridge/main.ts --node <id>` for
 * origin, edge-1 and edge-2) against real Janus, with werift publishers and players. There is no
 * worker-side coordinator yet, so this file is the coordinator: it watches the origin's agent for
 * `source` events and asks the edge's agent for a copy (`relay`) and the origin's agent to feed it
 * (`forward`), as the worker will. Each agent drives only its own node: what it is asked about
 * another node it refuses, naming itself.
 *
 * One stack for the whole file; every test leaves no stream behind, checked with Janus's own lists
 * (rooms, mountpoints) and its admin API (sessions and handles).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { newMediaId, type BridgeEvent, type SourceInfo } from '../../protocol/index.ts';
import { BridgeClient, isPlayerEvent, isPublisherEvent, upgradeStatus, refusal } from '../harness/bridge-client.ts';
import { eventually } from '../harness/poll.ts';
import { handleCounts as countHandles, JanusInspector, type HandleCount } from '../harness/janus-inspect.ts';
import { Stack } from '../harness/stack.ts';
import { until, WeriftPublisher, WeriftSubscriber } from '../harness/werift-peer.ts';

const JANUS_PORTS = { origin: 8188, 'edge-1': 8189, 'edge-2': 8190 } as const;
type NodeId = keyof typeof JANUS_PORTS;
const NODE_IDS = Object.keys(JANUS_PORTS) as NodeId[];
/** Each node's Janus admin API listens at its port plus this (session and handle counts). */
const ADMIN_PORT_OFFSET = 1000;
/** How long a play on an edge waits for its copy (bridge/media/cross-node.ts, RELAY_APPEAR_WAIT_MS). */
const RELAY_APPEAR_WAIT_MS = 2000;

let stack: Stack;
let secrets: { bridgeSecret: string; janusApiSecret: string };
/** One link per agent for clients' publishes and plays, as a worker session has. */
const agents = new Map<NodeId, BridgeClient>();
/** The coordinator's links, one per agent: the only links that ask `sources` and do cross-node work. */
const coordinators = new Map<NodeId, BridgeClient>();
const inspectors = new Map<NodeId, JanusInspector>();
/** Janus sessions and handles per node with no stream anywhere: the agents' own and the inspectors'. */
let baseline: Record<NodeId, HandleCount>;
const peers: Array<WeriftPublisher | WeriftSubscriber> = [];
/** What a test made, undone after it (also when it failed) so one failure does not spill into the next. */
const published: string[] = [];
const relayed: Array<{ node: NodeId; stream: string }> = [];

function agent(node: NodeId): BridgeClient {
  const c = agents.get(node);
  if (c === undefined) throw new Error(`no link to the agent of ${node}`);
  return c;
}

function coord(node: NodeId): BridgeClient {
  const c = coordinators.get(node);
  if (c === undefined) throw new Error(`no coordinator link to the agent of ${node}`);
  return c;
}

function inspector(node: NodeId): JanusInspector {
  const i = inspectors.get(node);
  if (i === undefined) throw new Error(`no inspector for ${node}`);
  return i;
}

beforeAll(async () => {
  stack = await Stack.start({
    worker: false,
    env: { FANOUT_JANUS_ADMIN_PORT_OFFSET: String(ADMIN_PORT_OFFSET) },
  });
  secrets = stack.secrets();
  for (const node of NODE_IDS) {
    agents.set(node, await BridgeClient.connect(stack.agentUrl(node), await stack.agentSecret(node)));
    coordinators.set(node, await BridgeClient.connect(stack.agentUrl(node), await stack.agentSecret(node)));
    inspectors.set(node, await JanusInspector.connect(`ws://127.0.0.1:${JANUS_PORTS[node]}`, secrets.janusApiSecret));
  }
  // The launcher waited for each agent's /health, which is 200 only with its node up.
  baseline = await handleCounts();
});

afterEach(async () => {
  await Promise.all(published.splice(0).map((publishId) => agent('origin').request('unpublish', { publishId }).catch(() => undefined)));
  await Promise.all(relayed.splice(0).map(({ node, stream }) => coord(node).request('unrelay', { node, stream }).catch(() => undefined)));
  await Promise.all(peers.splice(0).map((p) => p.close()));
});

afterAll(async () => {
  await Promise.all([...inspectors.values()].map((i) => i.close()));
  await Promise.all([...agents.values(), ...coordinators.values()].map((c) => c.close()));
  await stack?.stop();
});

// ---------------------------------------------------------------- helpers

function handleCounts(): Promise<Record<NodeId, HandleCount>> {
  const ports = Object.fromEntries(NODE_IDS.map((n) => [n, JANUS_PORTS[n] + ADMIN_PORT_OFFSET])) as Record<NodeId, number>;
  return countHandles(ports, secrets.janusApiSecret);
}

const isSource =
  (stream: string) =>
  (e: BridgeEvent): e is Extract<BridgeEvent, { event: 'source' }> =>
    e.event === 'source' && e.source.stream === stream;

const isSourceEnded =
  (publishId: string) =>
  (e: BridgeEvent): e is Extract<BridgeEvent, { event: 'source-ended' }> =>
    e.event === 'source-ended' && e.publishId === publishId;

/** Publishes `name` on the origin's agent; resolves once PUBLISHING, with what the coordinator was told of it. */
async function publish(name: string): Promise<{ pub: WeriftPublisher; publishId: string; source: SourceInfo }> {
  const pub = new WeriftPublisher();
  peers.push(pub);
  const publishId = newMediaId('pub');
  published.push(publishId);
  const from = coord('origin').mark();
  const r = await agent('origin').request('publish', { publishId, node: 'origin', stream: name, sdp: await pub.offer() });
  await pub.accept(r.sdp);
  await agent('origin').waitForEvent('PUBLISHING', isPublisherEvent(publishId, 'PUBLISHING'), { timeoutMs: 15_000 });
  const { source } = await coord('origin').waitForEvent(`source ${name}`, isSource(name), { from });
  return { pub, publishId, source };
}

/** The coordinator's work for one edge: the edge's agent makes the copy, the origin's agent feeds it. */
async function relayAndForward(source: SourceInfo, edge: NodeId): Promise<{ forwardId: string }> {
  relayed.push({ node: edge, stream: source.stream });
  const target = await coord(edge).request('relay', { node: edge, stream: source.stream, room: source.room, streams: source.streams });
  const forwardId = `fwd_${edge}_${source.publishId.slice(4)}`;
  await coord('origin').request('forward', { publishId: source.publishId, forwardId, edge, ...target });
  return { forwardId };
}

/** Sends `play` (Janus offers) on `node`'s agent; resolves with the offer once answered by a werift player. */
async function play(node: NodeId, stream: string): Promise<{ sub: WeriftSubscriber; playId: string }> {
  const playId = newMediaId('play');
  const r = await agent(node).request('play', { playId, node, stream });
  return { playId, sub: await answerPlay(node, playId, r) };
}

async function answerPlay(node: NodeId, playId: string, r: { sdp: string; type: 'offer' | 'answer' }): Promise<WeriftSubscriber> {
  expect(r.type).toBe('offer');
  const sub = new WeriftSubscriber();
  peers.push(sub);
  await agent(node).request('answer', { playId, sdp: await sub.answer(r.sdp) });
  return sub;
}

/** The Janus events an agent has been posted (its /metrics' fanout_janus_events_total). */
async function janusEventsPosted(node: NodeId): Promise<number> {
  const res = await fetch(`${stack.agentUrl(node)}/metrics`, { signal: AbortSignal.timeout(2000) });
  const m = /^fanout_janus_events_total (\d+)$/m.exec(await res.text());
  if (m?.[1] === undefined) throw new Error(`${node}'s agent has no fanout_janus_events_total (HTTP ${res.status})`);
  return Number(m[1]);
}

/**
 * Nothing of any stream is left on any node: no Fanout room (so no publisher, remote publisher,
 * forward or RTP forwarder, which all live in a room) and no Streaming mountpoint, no copy any
 * agent still holds, and, by Janus's admin API, no session or handle beyond the baseline.
 */
async function expectNoLeaks(timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const rooms = await Promise.all(NODE_IDS.map(async (node) => ({ node, ...(await inspector(node).leftovers()) })));
    const held = await Promise.all(NODE_IDS.map(async (node) => ({ node, ...(await coord(node).request('sources', {})) })));
    const handles = await handleCounts();
    const clean =
      rooms.every((r) => r.rooms.length === 0 && r.mountpoints.length === 0) &&
      held.every((h) => h.streams.length === 0 && h.relays.length === 0) &&
      NODE_IDS.every((n) => handles[n].sessions === baseline[n].sessions && handles[n].handles === baseline[n].handles);
    if (clean) return;
    if (Date.now() > deadline) {
      expect({ rooms, held, handles }).toEqual({
        rooms: NODE_IDS.map((node) => ({ node, rooms: [], mountpoints: [] })),
        held: NODE_IDS.map((node) => ({ node, streams: [], relays: [] })),
        handles: baseline,
      });
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

// ---------------------------------------------------------------- tests

describe('one agent per node', () => {
  it('the launcher started one agent per node, each on its own port, and each agent\'s `nodes` lists only its own node, up', async () => {
    const info = stack.info();
    expect(info.control).toBe('agents');
    expect(info.agentUrls).toEqual({ origin: 'http://127.0.0.1:8791', 'edge-1': 'http://127.0.0.1:8792', 'edge-2': 'http://127.0.0.1:8793' });
    expect(info.bridgeUrl).toBe(info.agentUrls['origin']);
    expect(info.children.map((c) => c.name)).toEqual(['janus origin', 'janus edge-1', 'janus edge-2', 'agent origin', 'agent edge-1', 'agent edge-2']);
    for (const node of NODE_IDS) {
      const { nodes } = await agent(node).request('nodes', {});
      expect(nodes.map(({ id, role, up }) => ({ id, role, up }))).toEqual([{ id: node, role: node === 'origin' ? 'origin' : 'edge', up: true }]);
    }
  });

  it('each agent refuses a publish, play or relay for a node it does not drive with NOT_FOUND naming itself, and makes nothing', async () => {
    for (const here of NODE_IDS) {
      for (const other of NODE_IDS.filter((n) => n !== here)) {
        const driven = `node "${other}" is driven by its own agent, not by this one (${here})`;
        const played = await refusal(agent(here).request('play', { playId: newMediaId('play'), node: other, stream: 'anything' }));
        expect([here, played.code, played.reason]).toEqual([here, 'NOT_FOUND', driven]);
        const relay = await refusal(coord(here).request('relay', { node: other, stream: 'anything', room: 1234, streams: [{ type: 'video', mindex: 0, mid: '0', codec: 'vp8' }] }));
        expect([here, relay.code, relay.reason]).toEqual([here, 'NOT_FOUND', driven]);
      }
      if (here !== 'origin') {
        const publishing = await refusal(agent(here).request('publish', { publishId: newMediaId('pub'), node: 'origin', stream: 'anything', sdp: 'v=0\r\n' }));
        expect([here, publishing.code, publishing.reason]).toEqual([here, 'NOT_FOUND', `node "origin" is driven by its own agent, not by this one (${here})`]);
      }
    }
    await expectNoLeaks();
  });
});

describe('a credential per node', () => {
  it('each agent takes its own node\'s credential only: BRIDGE_SECRET itself and another node\'s credential are refused (401), so a leaked node secret drives no other node', async () => {
    const { bridgeSecret } = stack.secrets();
    for (const node of NODE_IDS) {
      const url = stack.agentUrl(node);
      expect(await upgradeStatus(url, `Bearer ${await stack.agentSecret(node)}`), `${node}: its own`).toBe(101);
      expect(await upgradeStatus(url, `Bearer ${bridgeSecret}`), `${node}: BRIDGE_SECRET`).toBe(401);
      for (const other of NODE_IDS.filter((n) => n !== node)) {
        expect(await upgradeStatus(url, `Bearer ${await stack.agentSecret(other)}`), `${node}: ${other}'s`).toBe(401);
      }
    }
  });
});

describe('the coordinator relays a stream from the origin\'s agent to an edge\'s agent', () => {
  it('publish on the origin\'s agent: `sources` lists it and the coordinator gets a `source` event; relay on edge-1 + forward on the origin: players on edge-1 and the origin get audio, video and a keyframe; edge-2 has no copy: NOT_FOUND after ~2 s', async () => {
    expect(await coord('origin').request('sources', {})).toEqual({ streams: [], relays: [] });
    const { pub, publishId, source } = await publish('relayed');
    expect(source).toMatchObject({ stream: 'relayed', publishId, node: 'origin' });
    expect(source.room).toBeGreaterThan(0);
    expect(source.streams.map((s) => s.type).sort()).toEqual(['audio', 'video']);
    expect(await coord('origin').request('sources', {})).toEqual({ streams: [{ ...source, forwards: [] }], relays: [] });
    // Only the link that asked `sources` hears of streams: the publisher's own link does not.
    expect(agents.get('origin')?.events.filter((e) => e.event === 'source' || e.event === 'source-ended')).toEqual([]);

    await relayAndForward(source, 'edge-1');
    // The edge holds the copy (its room with one remote publisher), and the origin feeds it with an RTCP port.
    const edgeRoom = await inspector('edge-1').streamRoom('relayed');
    expect(edgeRoom?.room).toBe(source.room);
    expect(edgeRoom?.participants.map((p) => ({ publisher: p.publisher, remote: p.remote }))).toEqual([{ publisher: true, remote: true }]);
    const originRoom = await inspector('origin').streamRoom('relayed');
    const remotes = await inspector('origin').remotes(source.room, originRoom!.participants[0]!.id);
    expect(remotes).toHaveLength(1);
    expect(remotes[0]?.rtcp_port).toBeGreaterThan(0);
    expect(await coord('edge-1').request('sources', {})).toEqual({ streams: [], relays: [{ node: 'edge-1', stream: 'relayed', room: source.room }] });
    expect(await inspector('edge-2').streamRoom('relayed')).toBeUndefined();

    const onEdge = await play('edge-1', 'relayed');
    const onOrigin = await play('origin', 'relayed');
    for (const [node, { sub, playId }] of [['edge-1', onEdge], ['origin', onOrigin]] as const) {
      await agent(node).waitForEvent('PLAYING', isPlayerEvent(playId, 'PLAYING'));
      await sub.media({ audio: true, video: true, keyframe: true, timeoutMs: 10_000 });
    }
    // The edge viewer's keyframe came through the forward's RTCP port: the publisher sends one only at start and on a PLI.
    expect(pub.plis).toBeGreaterThan(0);
    // Each node's Janus posts its media statistics (every 2 s) to its own agent: edge-1's reach
    // edge-1's agent, and edge-2, with no media at all, posted none to its agent.
    await eventually('Janus events posted to the agent of edge-1', () => janusEventsPosted('edge-1'), (n) => n > 0, 6000);
    expect(await janusEventsPosted('edge-2')).toBe(0);

    const asked = Date.now();
    const notThere = await refusal(agent('edge-2').request('play', { playId: newMediaId('play'), node: 'edge-2', stream: 'relayed' }));
    const waited = Date.now() - asked;
    expect([notThere.code, notThere.reason]).toEqual(['NOT_FOUND', 'stream "relayed" is not published']);
    expect(waited).toBeGreaterThanOrEqual(RELAY_APPEAR_WAIT_MS - 50);
    expect(waited).toBeLessThan(RELAY_APPEAR_WAIT_MS + 2000);
    expect(await inspector('edge-2').fanoutMountpoints()).toEqual([]);

    await agent('origin').request('unpublish', { publishId });
    await coord('edge-1').request('unrelay', { node: 'edge-1', stream: 'relayed' });
    await expectNoLeaks();
  });

  it('a play on edge-1 asked before the copy exists waits, and plays once relay and forward are done; unforward then stops the origin\'s forward', async () => {
    const { source } = await publish('early-viewer');
    const playId = newMediaId('play');
    let settled = false;
    const asked = agent('edge-1').request('play', { playId, node: 'edge-1', stream: 'early-viewer' });
    void asked.then(
      () => (settled = true),
      () => (settled = true),
    );
    await new Promise((r) => setTimeout(r, 500));
    expect(settled).toBe(false);

    const { forwardId } = await relayAndForward(source, 'edge-1');
    const sub = await answerPlay('edge-1', playId, await asked);
    await agent('edge-1').waitForEvent('PLAYING', isPlayerEvent(playId, 'PLAYING'));
    await sub.media({ audio: true, video: true, keyframe: true, timeoutMs: 10_000 });

    // The origin's agent stops feeding the copy: the forward is gone from Janus, the edge viewer gets no more media.
    const originRoom = await inspector('origin').streamRoom('early-viewer');
    const publisherId = originRoom!.participants[0]!.id;
    expect(await inspector('origin').remotes(source.room, publisherId)).toHaveLength(1);
    const flowing = sub.received.video + sub.received.audio;
    await until('media still flowing before the unforward', () => sub.received.video + sub.received.audio > flowing + 10, 3000);
    await coord('origin').request('unforward', { publishId: source.publishId, forwardId });
    expect(await inspector('origin').remotes(source.room, publisherId)).toEqual([]);
    // Packets already on their way when it stopped arrive first.
    await new Promise((r) => setTimeout(r, 300));
    const before = sub.received.video + sub.received.audio;
    await new Promise((r) => setTimeout(r, 1000));
    expect(sub.received.video + sub.received.audio).toBe(before);

    await agent('origin').request('unpublish', { publishId: source.publishId });
    await coord('edge-1').request('unrelay', { node: 'edge-1', stream: 'early-viewer' });
    await agent('edge-1').waitForEvent('edge player STOPPED', isPlayerEvent(playId, 'STOPPED'));
    await expectNoLeaks();
  });
});

describe('bad cross-node input', () => {
  it('a relay to the origin node, a forward of an unknown publishId and a relay with no streams each get a clear error and leave nothing', async () => {
    const { source } = await publish('steady');

    const toOrigin = await refusal(coord('origin').request('relay', { node: 'origin', stream: 'steady', room: source.room, streams: source.streams }));
    expect([toOrigin.code, toOrigin.reason]).toEqual(['INVALID_ARGUMENT', 'relay: node "origin" is the origin; streams are relayed to edges']);

    const unknown = newMediaId('pub');
    const forward = await refusal(coord('origin').request('forward', { publishId: unknown, forwardId: 'fwd_nobody_1234', edge: 'edge-1', host: '127.0.0.1', port: 20000, rtcpPort: 20001 }));
    expect([forward.code, forward.reason]).toEqual(['NOT_FOUND', `no publish with id "${unknown}"`]);

    const empty = await refusal(coord('edge-1').request('relay', { node: 'edge-1', stream: 'steady', room: source.room, streams: [] }));
    expect(empty.code).toBe('INVALID_ARGUMENT');
    expect(empty.reason).toBe('params.streams: streams must list 1-16 streams');

    // Nothing was made on any edge; the origin has the one stream, forwarded nowhere.
    expect(await inspector('edge-1').fanoutRooms()).toEqual([]);
    expect(await inspector('edge-2').fanoutRooms()).toEqual([]);
    const originRoom = await inspector('origin').streamRoom('steady');
    expect(await inspector('origin').remotes(source.room, originRoom!.participants[0]!.id)).toEqual([]);
    expect(await coord('edge-1').request('sources', {})).toEqual({ streams: [], relays: [] });

    await agent('origin').request('unpublish', { publishId: source.publishId });
    await expectNoLeaks();
  });
});

describe('a stream that ends', () => {
  it('unpublish on the origin\'s agent: the coordinator gets `source-ended`; unrelay on edge-1 with an info ends its player with STOPPED and that info; nothing is left on any node', async () => {
    const { publishId, source } = await publish('ending');
    await relayAndForward(source, 'edge-1');
    const onEdge = await play('edge-1', 'ending');
    const onOrigin = await play('origin', 'ending');
    await onEdge.sub.media({ audio: true, video: true, keyframe: true, timeoutMs: 10_000 });
    await onOrigin.sub.media({ video: true, timeoutMs: 10_000 });

    const from = coord('origin').mark();
    await agent('origin').request('unpublish', { publishId });
    const ended = await coord('origin').waitForEvent('source-ended', isSourceEnded(publishId), { from });
    expect(ended).toMatchObject({ event: 'source-ended', stream: 'ending', publishId, node: 'origin' });
    expect(ended.info).not.toBe('');
    await agent('origin').waitForEvent('UNPUBLISHED', isPublisherEvent(publishId, 'UNPUBLISHED'));
    await agent('origin').waitForEvent('origin player STOPPED', isPlayerEvent(onOrigin.playId, 'STOPPED'));
    expect(await coord('origin').request('sources', {})).toEqual({ streams: [], relays: [] });

    // The edge's copy is the coordinator's to remove: its player hears why.
    const info = 'the coordinator removed the copy: its source ended';
    await coord('edge-1').request('unrelay', { node: 'edge-1', stream: 'ending', info });
    const stopped = await agent('edge-1').waitForEvent('edge player STOPPED', isPlayerEvent(onEdge.playId, 'STOPPED'));
    expect(stopped).toEqual({ event: 'player', playId: onEdge.playId, stream: 'ending', status: 'STOPPED', info });
    await expectNoLeaks();
    // A second unrelay of a copy that is gone is harmless.
    expect(await coord('edge-1').request('unrelay', { node: 'edge-1', stream: 'ending' })).toEqual({});
  });
});


describe('the launcher supervises each agent', () => {
  // SIGTERM, not kill -9: an agent does not journal its copies and forwards yet, and with no stream
  // live this checks the launcher alone: its restart of one agent, by name, on the same port.
  it('an agent that exits is started again on its port, its new pid in stack.json; the other agents are untouched', async () => {
    const before = Object.fromEntries(NODE_IDS.map((n) => [n, stack.agentPid(n)]));
    const from = stack.outputMark();
    process.kill(before['edge-2']!, 'SIGTERM');
    await stack.waitForOutput('agent edge-2 restarted', 10_000, from);
    const after = Object.fromEntries(NODE_IDS.map((n) => [n, stack.agentPid(n)]));
    expect(after['edge-2']).not.toBe(before['edge-2']);
    expect({ origin: after['origin'], 'edge-1': after['edge-1'] }).toEqual({ origin: before['origin'], 'edge-1': before['edge-1'] });
    expect(stack.output.slice(from)).toMatch(/agent edge-2 exited with code 0; restarting in 250 ms/);

    // The launcher printed "restarted" once the process started, not once it listens: connect when it does.
    for (const links of [agents, coordinators]) {
      await links.get('edge-2')?.close();
      const credential = await stack.agentSecret('edge-2');
      const link = await eventually('a link to the restarted agent of edge-2', () => BridgeClient.connect(stack.agentUrl('edge-2'), credential).catch(() => undefined), (c) => c !== undefined, 10_000);
      if (link !== undefined) links.set('edge-2', link);
    }
    const { nodes } = await eventually('edge-2 up at its restarted agent', () => agent('edge-2').request('nodes', {}), (r) => r.nodes[0]?.up === true, 10_000);
    expect(nodes.map((n) => n.id)).toEqual(['edge-2']);
    await expectNoLeaks();
  });
});
