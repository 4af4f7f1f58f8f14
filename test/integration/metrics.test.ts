/**
 * The bridge's /metrics during a real publish and real plays: the local stack (Janus origin + 2
 * edges, the bridge, the worker) in the test's network namespace, werift peers through the bridge
 * API, and WCS sessions through the worker for its counters. Every figure checked is one this test
 * caused, so each would be wrong if the metric were.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { newMediaId } from '../../protocol/index.ts';
import { BridgeClient, BridgeRequestError, isPlayerEvent, isPublisherEvent } from '../harness/bridge-client.ts';
import { Stack } from '../harness/stack.ts';
import { until, WeriftPublisher, WeriftSubscriber } from '../harness/werift-peer.ts';

let stack: Stack;
let client: BridgeClient;
let bridgeUrl: string;
let workerUrl: string;
const peers: Array<WeriftPublisher | WeriftSubscriber> = [];

beforeAll(async () => {
  stack = await Stack.start();
  ({ bridgeUrl, workerUrl } = stack.info());
  client = await BridgeClient.connect(bridgeUrl, stack.secrets().bridgeSecret);
});

afterAll(async () => {
  await Promise.all(peers.splice(0).map((p) => p.close()));
  await client?.close();
  await stack?.stop();
});

/** The samples of a Prometheus text exposition, by series (`name{labels}`). */
async function scrape(): Promise<Map<string, number>> {
  const res = await fetch(`${bridgeUrl}/metrics`);
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

async function scrapeUntil(what: string, check: (m: Map<string, number>) => boolean, timeoutMs = 10_000): Promise<Map<string, number>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const m = await scrape();
    if (check(m)) return m;
    if (Date.now() > deadline) throw new Error(`metrics never showed ${what}:\n${[...m].filter(([k]) => k.startsWith('fanout_')).map(([k, v]) => `${k} ${v}`).join('\n')}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function play(node: string, stream: string): Promise<{ sub: WeriftSubscriber; playId: string }> {
  const playId = newMediaId('play');
  const r = await client.request('play', { playId, node, stream });
  const sub = new WeriftSubscriber();
  peers.push(sub);
  await client.request('answer', { playId, sdp: await sub.answer(r.sdp) });
  await client.waitForEvent('PLAYING', isPlayerEvent(playId, 'PLAYING'), { timeoutMs: 10_000 });
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

describe('GET /metrics on the bridge', () => {
  it('counts a live stream, its publisher, its cascades, players per node, bitrates, and the setup times', async () => {
    const before = await scrape();
    expect(before.get('fanout_node_up{node="origin",role="origin"}')).toBe(1);
    expect(before.get('fanout_node_up{node="edge-2",role="edge"}')).toBe(1);
    expect(before.get('fanout_streams_live')).toBe(0);

    const pub = new WeriftPublisher({ keyframeIntervalMs: 1000 });
    peers.push(pub);
    const publishId = newMediaId('pub');
    const r = await client.request('publish', { publishId, node: 'origin', stream: 'metered', sdp: await pub.offer() });
    await pub.accept(r.sdp);
    await client.waitForEvent('PUBLISHING', isPublisherEvent(publishId, 'PUBLISHING'), { timeoutMs: 15_000 });
    const a = await play('edge-1', 'metered');
    await play('edge-1', 'metered');
    await play('edge-2', 'metered');
    await a.sub.media({ audio: true, video: true, timeoutMs: 10_000 });
    const refused = await client.request('play', { playId: newMediaId('play'), node: 'edge-1', stream: 'no-such-stream' }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(BridgeRequestError);

    // Janus reports statistics every 2 s (janus-config STATS_PERIOD): wait for both directions.
    const m = await scrapeUntil(
      'bitrates from Janus',
      (x) => (x.get('fanout_stream_bitrate_in_bps{stream="metered",kind="video"}') ?? 0) > 0 && (x.get('fanout_node_bitrate_out_bps{node="edge-1",kind="video"}') ?? 0) > 0,
      15_000,
    );
    expect(m.get('fanout_streams_live')).toBe(1);
    expect(m.get('fanout_node_publishers{node="origin",role="origin"}')).toBe(1);
    expect(m.get('fanout_node_subscribers{node="edge-1",role="edge"}')).toBe(2);
    expect(m.get('fanout_node_subscribers{node="edge-2",role="edge"}')).toBe(1);
    expect(m.get('fanout_node_subscribers{node="origin",role="origin"}')).toBe(0);
    expect(m.get('fanout_edge_cascades{edge="edge-1",state="ready"}')).toBe(1);
    expect(m.get('fanout_edge_cascades{edge="edge-2",state="ready"}')).toBe(1);
    expect(m.get('fanout_stream_viewers{stream="metered",node="edge-1"}')).toBe(2);
    expect(m.get('fanout_stream_viewers{stream="metered",node="edge-2"}')).toBe(1);
    expect(m.get('fanout_cascade_ready_seconds_count')).toBe(1);
    expect(m.get('fanout_cascade_ready_seconds_sum')).toBeGreaterThan(0);
    expect(m.get('fanout_time_to_publishing_seconds_count')).toBe(1);
    expect(m.get('fanout_time_to_playing_seconds_count{node="edge-1"}')).toBe(2);
    expect(m.get('fanout_time_to_playing_seconds_count{node="edge-2"}')).toBe(1);
    expect(m.get('fanout_time_to_playing_seconds_sum{node="edge-1"}')).toBeLessThan(2 * 10);
    expect(m.get('fanout_api_request_duration_seconds_count{method="publish"}')).toBe(1);
    expect(m.get('fanout_api_request_duration_seconds_count{method="play"}')).toBe(4);
    expect(m.get('fanout_api_request_duration_seconds_count{method="answer"}')).toBe(3);
    expect(m.get('fanout_api_errors_total{method="play",code="NOT_FOUND"}')).toBe(1);
    // A werift publisher sends about 470 kbit/s of filler video; the edge sends it to two players.
    const videoIn = m.get('fanout_stream_bitrate_in_bps{stream="metered",kind="video"}') ?? 0;
    expect(videoIn).toBeGreaterThan(50_000);
    expect(videoIn).toBeLessThan(5_000_000);
    expect(m.get('fanout_node_bitrate_out_bps{node="edge-1",kind="video"}')).toBeGreaterThan(videoIn);
    expect(m.get('fanout_janus_events_total')).toBeGreaterThan(0);

    // The dashboard's view of the same moment, through the API.
    const view = await client.request('streams', {});
    const s = view.streams.find((x) => x.name === 'metered');
    expect(s?.viewers).toBe(3);
    expect(s?.nodes.map((n) => [n.node, n.state, n.viewers])).toEqual([
      ['origin', 'ready', 0],
      ['edge-1', 'ready', 2],
      ['edge-2', 'ready', 1],
    ]);
    expect(s?.bitrateIn?.video).toBeGreaterThan(50_000);

    await client.request('unpublish', { publishId });
    const after = await scrapeUntil('the stream gone', (x) => x.get('fanout_streams_live') === 0 && x.get('fanout_node_subscribers{node="edge-1",role="edge"}') === 0);
    expect(after.get('fanout_edge_cascades{edge="edge-1",state="ready"}')).toBe(0);
    expect(after.get('fanout_stream_viewers{stream="metered",node="edge-1"}')).toBeUndefined();
  });

  it('adds the worker\'s counters: sessions, frames in and out, and frames refused as invalid', async () => {
    const before = await scrape();
    const opened = before.get('fanout_worker_sessions_opened_total') ?? 0;
    const invalid = before.get('fanout_worker_validation_failures_total') ?? 0;
    const framesIn = before.get('fanout_worker_frames_total{direction="in"}') ?? 0;
    const got = await wcsSession(['not json', { message: 'publishStream', data: [{ mediaSessionId: 'm1', name: 'bad name!', sdp: 'v=0' }] }]);
    expect(got).toHaveLength(3);
    const m = await scrapeUntil('the session closed', (x) => (x.get('fanout_worker_sessions_closed_total') ?? 0) >= opened + 1);
    expect(m.get('fanout_worker_sessions_opened_total')).toBe(opened + 1);
    expect(m.get('fanout_worker_sessions')).toBe(0);
    expect(m.get('fanout_worker_validation_failures_total')).toBe(invalid + 2);
    expect(m.get('fanout_worker_frames_rejected_total{code="INVALID_ARGUMENT"}')).toBeGreaterThanOrEqual(2);
    expect(m.get('fanout_worker_frames_total{direction="in"}')).toBe(framesIn + 3);
    expect(m.get('fanout_worker_frames_total{direction="out"}')).toBeGreaterThanOrEqual(3);
  });
});
