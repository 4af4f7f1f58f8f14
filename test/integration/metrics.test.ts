/**
 * Each agent's /metrics during a real publish and real plays (issue 15, point 6: each agent serves
 * its node's metrics, and a scrape of every agent shows the whole CDN): the local stack (Janus
 * origin + 2 edges, one agent per node, the worker and its coordinator) in the test's network
 * namespace, werift peers through each node's agent API, and WCS sessions through the worker for
 * its counters. Every figure checked is one this test caused, each on the agent of the node it is
 * about, so each would be wrong if the metric were, or if an agent reported another's node.
 *
 * With one agent per node the origin's agent makes no cascade: the coordinator relays each stream
 * to every edge's agent (its copy there) and asks the origin's agent for the forward. So the origin
 * reports its forwards and how long after the publish each was made, and each edge its copies.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as v from 'valibot';
import WebSocket from 'ws';
import { newMediaId, StreamInfo } from '../../protocol/index.ts';
import { BridgeClient, BridgeRequestError, isPlayerEvent, isPublisherEvent } from '../harness/bridge-client.ts';
import { eventually } from '../harness/poll.ts';
import { Stack } from '../harness/stack.ts';
import { until, WeriftPublisher, WeriftSubscriber } from '../harness/werift-peer.ts';

const NODES = ['origin', 'edge-1', 'edge-2'] as const;
type NodeId = (typeof NODES)[number];

let stack: Stack;
/** A client of each node's agent API. */
const clients = new Map<NodeId, BridgeClient>();
let workerUrl: string;
const peers: Array<WeriftPublisher | WeriftSubscriber> = [];

beforeAll(async () => {
  stack = await Stack.start();
  ({ workerUrl } = stack.info());
  // One agent per node, each on its own URL: otherwise "its own node's metrics" proves nothing.
  expect(new Set(NODES.map((n) => stack.agentUrl(n))).size).toBe(NODES.length);
  for (const n of NODES) clients.set(n, await BridgeClient.connect(stack.agentUrl(n), await stack.agentSecret(n)));
});

afterAll(async () => {
  await Promise.all(peers.splice(0).map((p) => p.close()));
  await Promise.all([...clients.values()].map((c) => c.close()));
  await stack?.stop();
});

function client(node: NodeId): BridgeClient {
  const c = clients.get(node);
  if (c === undefined) throw new Error(`no client of ${node}'s agent`);
  return c;
}

/** The samples of one agent's Prometheus text exposition, by series (`name{labels}`). */
async function scrape(node: NodeId): Promise<Map<string, number>> {
  const res = await fetch(`${stack.agentUrl(node)}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  const out = new Map<string, number>();
  for (const line of (await res.text()).split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const cut = line.lastIndexOf(' ');
    out.set(line.slice(0, cut), Number(line.slice(cut + 1)));
  }
  return out;
}

type Scrapes = Record<NodeId, Map<string, number>>;

/** Every agent's samples, by node. */
async function scrapeAll(): Promise<Scrapes> {
  const all = await Promise.all(NODES.map(async (n) => [n, await scrape(n)] as const));
  return Object.fromEntries(all) as Scrapes;
}

async function scrapeUntil(what: string, check: (m: Scrapes) => boolean, timeoutMs = 10_000): Promise<Scrapes> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const m = await scrapeAll();
    if (check(m)) return m;
    if (Date.now() > deadline) {
      const shown = NODES.map((n) => `-- ${n}'s agent\n${[...m[n]].filter(([k]) => k.startsWith('fanout_')).map(([k, x]) => `${k} ${x}`).join('\n')}`);
      throw new Error(`metrics never showed ${what}:\n${shown.join('\n')}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** A counter summed over every agent (the worker reports each session's counters over its own link). */
function total(m: Scrapes, series: string): number {
  return NODES.reduce((sum, n) => sum + (m[n].get(series) ?? 0), 0);
}

async function play(node: NodeId, stream: string): Promise<{ sub: WeriftSubscriber; playId: string }> {
  const playId = newMediaId('play');
  const r = await client(node).request('play', { playId, node, stream });
  const sub = new WeriftSubscriber();
  peers.push(sub);
  await client(node).request('answer', { playId, sdp: await sub.answer(r.sdp) });
  await client(node).waitForEvent('PLAYING', isPlayerEvent(playId, 'PLAYING'), { timeoutMs: 10_000 });
  return { sub, playId };
}

/** A WCS session on the worker: `connection`, then the given frames, then close; resolves with what it got. */
async function wcsSession(frames: unknown[]): Promise<unknown[]> {
  const ws = new WebSocket(`${workerUrl.replace(/^http/, 'ws')}/node/origin/ws`);
  const got: unknown[] = [];
  ws.on('message', (d) => got.push(JSON.parse(String(d))));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  ws.send(JSON.stringify({ message: 'connection', data: [{ appKey: 'defaultApp' }] }));
  await until('getUserData', () => got.length >= 1, 5000);
  for (const f of frames) ws.send(typeof f === 'string' ? f : JSON.stringify(f));
  await until('an answer to every frame', () => got.length >= 1 + frames.length, 5000);
  const closed = new Promise<void>((r) => ws.once('close', () => r()));
  ws.close();
  await closed;
  return got;
}

const StatusStreams = v.object({ streams: v.array(StreamInfo) });

/** The dashboard's view (GET /status.json through the worker, merged from every agent) of one stream. */
async function dashboardStream(name: string): Promise<StreamInfo | undefined> {
  const res = await fetch(`${workerUrl}/status.json`, { signal: AbortSignal.timeout(5000) });
  return v.parse(StatusStreams, await res.json()).streams.find((s) => s.name === name);
}

describe('GET /metrics on every agent', () => {
  it('counts a live stream, its publisher, its forwards and copies, players per node, bitrates, and the setup times, each on its node\'s agent', async () => {
    const before = await scrapeAll();
    for (const n of NODES) {
      const role = n === 'origin' ? 'origin' : 'edge';
      expect(before[n].get(`fanout_node_up{node="${n}",role="${role}"}`)).toBe(1);
      // Its own node only: another node's series here would be counted twice in a sum over agents.
      const others = [...before[n].keys()].filter((k) => k.startsWith('fanout_node_up{') && !k.includes(`node="${n}"`));
      expect(others).toEqual([]);
    }
    expect(before.origin.get('fanout_streams_live')).toBe(0);

    const pub = new WeriftPublisher({ keyframeIntervalMs: 1000 });
    peers.push(pub);
    const publishId = newMediaId('pub');
    const r = await client('origin').request('publish', { publishId, node: 'origin', stream: 'metered', sdp: await pub.offer() });
    await pub.accept(r.sdp);
    await client('origin').waitForEvent('PUBLISHING', isPublisherEvent(publishId, 'PUBLISHING'), { timeoutMs: 15_000 });
    const a = await play('edge-1', 'metered');
    await play('edge-1', 'metered');
    await play('edge-2', 'metered');
    await a.sub.media({ audio: true, video: true, timeoutMs: 10_000 });
    const refused = await client('edge-1').request('play', { playId: newMediaId('play'), node: 'edge-1', stream: 'no-such-stream' }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(BridgeRequestError);

    // Janus reports statistics every 2 s (janus-config STATS_PERIOD) to its own node's agent, each
    // handle on its own: wait for both directions, and for both of edge-1's players (their sum
    // passes what the publisher sends; one player's alone does not).
    const videoInOf = (x: Scrapes): number => x.origin.get('fanout_stream_bitrate_in_bps{stream="metered",kind="video"}') ?? 0;
    const m = await scrapeUntil(
      "bitrates from Janus, to both players on edge-1, and edge-2's player reported to its agent",
      (x) =>
        videoInOf(x) > 0 &&
        (x['edge-1'].get('fanout_node_bitrate_out_bps{node="edge-1",kind="video"}') ?? 0) > videoInOf(x) &&
        (x['edge-2'].get('fanout_node_bitrate_out_bps{node="edge-2",kind="video"}') ?? 0) > 0,
      15_000,
    );
    const [origin, edge1, edge2] = [m.origin, m['edge-1'], m['edge-2']];
    // The origin's agent: the stream, its publisher, its forwards to both edges and when each was made.
    expect(origin.get('fanout_streams_live')).toBe(1);
    expect(origin.get('fanout_node_publishers{node="origin",role="origin"}')).toBe(1);
    expect(origin.get('fanout_node_subscribers{node="origin",role="origin"}')).toBe(0);
    expect(origin.get('fanout_origin_forwards{edge="edge-1"}')).toBe(1);
    expect(origin.get('fanout_origin_forwards{edge="edge-2"}')).toBe(1);
    expect(origin.get('fanout_forward_ready_seconds_count{edge="edge-1"}')).toBe(1);
    expect(origin.get('fanout_forward_ready_seconds_count{edge="edge-2"}')).toBe(1);
    expect(origin.get('fanout_forward_ready_seconds_sum{edge="edge-1"}')).toBeGreaterThan(0);
    // Publish to forward within the plays' own bound: the plays on both edges waited for it.
    expect(origin.get('fanout_forward_ready_seconds_sum{edge="edge-2"}')).toBeLessThan(10);
    // It cascades nothing itself: the coordinator does, through the forwards above.
    expect(origin.get('fanout_cascade_ready_seconds_count')).toBe(0);
    expect(origin.get('fanout_stream_viewers{stream="metered",node="origin"}')).toBe(0);
    expect(origin.get('fanout_time_to_publishing_seconds_count')).toBe(1);
    expect(origin.get('fanout_api_request_duration_seconds_count{method="publish"}')).toBe(1);
    // Each edge's agent: its copy of the stream, ready, its players, how long they took, what it sends them.
    expect(edge1.get('fanout_streams_live')).toBe(0);
    expect(edge1.get('fanout_node_subscribers{node="edge-1",role="edge"}')).toBe(2);
    expect(edge2.get('fanout_node_subscribers{node="edge-2",role="edge"}')).toBe(1);
    expect(edge1.get('fanout_edge_cascades{edge="edge-1",state="ready"}')).toBe(1);
    expect(edge2.get('fanout_edge_cascades{edge="edge-2",state="ready"}')).toBe(1);
    expect(edge1.get('fanout_stream_viewers{stream="metered",node="edge-1"}')).toBe(2);
    expect(edge2.get('fanout_stream_viewers{stream="metered",node="edge-2"}')).toBe(1);
    expect(edge1.get('fanout_time_to_playing_seconds_count{node="edge-1"}')).toBe(2);
    expect(edge2.get('fanout_time_to_playing_seconds_count{node="edge-2"}')).toBe(1);
    expect(edge1.get('fanout_time_to_playing_seconds_sum{node="edge-1"}')).toBeLessThan(2 * 10);
    // Requests and errors are counted where they were answered: four plays (one refused) and three answers in all.
    expect(edge1.get('fanout_api_request_duration_seconds_count{method="play"}')).toBe(3);
    expect(edge2.get('fanout_api_request_duration_seconds_count{method="play"}')).toBe(1);
    expect(origin.get('fanout_api_request_duration_seconds_count{method="play"}')).toBeUndefined();
    expect(edge1.get('fanout_api_request_duration_seconds_count{method="answer"}')).toBe(2);
    expect(edge2.get('fanout_api_request_duration_seconds_count{method="answer"}')).toBe(1);
    expect(edge1.get('fanout_api_errors_total{method="play",code="NOT_FOUND"}')).toBe(1);
    // A werift publisher sends about 470 kbit/s of filler video; edge-1 sends it to two players.
    const videoIn = videoInOf(m);
    expect(videoIn).toBeGreaterThan(50_000);
    expect(videoIn).toBeLessThan(5_000_000);
    expect(edge1.get('fanout_node_bitrate_out_bps{node="edge-1",kind="video"}')).toBeGreaterThan(videoIn);
    for (const n of NODES) expect(m[n].get('fanout_janus_events_total')).toBeGreaterThan(0);

    // The dashboard's view of the same moment: each agent's share, merged by the worker.
    const edgeView = (await client('edge-1').request('streams', {})).streams.find((x) => x.name === 'metered');
    expect(edgeView?.nodes.map((n) => [n.node, n.state, n.viewers])).toEqual([['edge-1', 'ready', 2]]);
    const s = await eventually('the dashboard\'s view of "metered" with 3 viewers', () => dashboardStream('metered'), (x) => x?.viewers === 3);
    expect(s?.nodes.map((n) => [n.node, n.state, n.viewers])).toEqual([
      ['origin', 'ready', 0],
      ['edge-1', 'ready', 2],
      ['edge-2', 'ready', 1],
    ]);
    expect(s?.publishing).toBe(true);
    expect(s?.bitrateIn?.video).toBeGreaterThan(50_000);

    await client('origin').request('unpublish', { publishId });
    const after = await scrapeUntil(
      'the stream gone from every agent',
      (x) => x.origin.get('fanout_streams_live') === 0 && x['edge-1'].get('fanout_node_subscribers{node="edge-1",role="edge"}') === 0 && x['edge-2'].get('fanout_node_subscribers{node="edge-2",role="edge"}') === 0,
    );
    expect(after.origin.get('fanout_origin_forwards{edge="edge-1"}')).toBeUndefined();
    expect(after['edge-1'].get('fanout_edge_cascades{edge="edge-1",state="ready"}')).toBe(0);
    expect(after['edge-2'].get('fanout_edge_cascades{edge="edge-2",state="ready"}')).toBe(0);
    expect(after['edge-1'].get('fanout_stream_viewers{stream="metered",node="edge-1"}')).toBeUndefined();
  });

  it('adds the worker\'s counters, over every agent: sessions, frames in and out, and frames refused as invalid', async () => {
    const before = await scrapeAll();
    const opened = total(before, 'fanout_worker_sessions_opened_total');
    const closed = total(before, 'fanout_worker_sessions_closed_total');
    const invalid = total(before, 'fanout_worker_validation_failures_total');
    const framesIn = total(before, 'fanout_worker_frames_total{direction="in"}');
    const got = await wcsSession(['not json', { message: 'publishStream', data: [{ mediaSessionId: 'm1', name: 'bad name!', sdp: 'v=0' }] }]);
    expect(got).toHaveLength(3);
    const m = await scrapeUntil('the session closed', (x) => total(x, 'fanout_worker_sessions_closed_total') >= closed + 1);
    expect(total(m, 'fanout_worker_sessions_opened_total')).toBe(opened + 1);
    expect(total(m, 'fanout_worker_sessions_closed_total')).toBe(closed + 1);
    expect(total(m, 'fanout_worker_sessions')).toBe(0);
    expect(total(m, 'fanout_worker_validation_failures_total')).toBe(invalid + 2);
    expect(total(m, 'fanout_worker_frames_rejected_total{code="INVALID_ARGUMENT"}')).toBeGreaterThanOrEqual(2);
    expect(total(m, 'fanout_worker_frames_total{direction="in"}')).toBe(framesIn + 3);
    expect(total(m, 'fanout_worker_frames_total{direction="out"}')).toBeGreaterThanOrEqual(3);
  });
});
