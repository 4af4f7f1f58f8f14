import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../log.ts';
import { CdnError, type NodeInfo } from '../../protocol/index.ts';
import { BridgeMetrics, JANUS_EVENTS_PATH, type CopyView, type StreamView } from './index.ts';

const node = (id: string, role: 'origin' | 'edge', up: boolean, publishers: number, subscribers: number): NodeInfo => ({
  id,
  role,
  host: `${id}.example`,
  up,
  since: 0,
  load: { publishers, subscribers },
});

const stream = (over: Partial<StreamView> = {}): StreamView => ({
  name: 'cam',
  publishId: 'pub_1',
  origin: 'origin',
  configuredAt: 1000,
  publishing: true,
  publisherHandle: 100,
  cascadeReadyMs: 40,
  edges: [
    { node: 'edge-1', state: 'ready' },
    { node: 'edge-2', state: 'pending' },
  ],
  players: [
    { playId: 'p1', node: 'edge-1', handle: 201, playing: true },
    { playId: 'p2', node: 'edge-1', handle: 202, playing: false },
    { playId: 'p3', node: 'edge-2', handle: undefined, playing: false },
  ],
  forwards: [],
  ...over,
});

let metrics: BridgeMetrics | undefined;
let server: Server | undefined;
afterEach(() => {
  metrics?.close();
  server?.close();
});

function make(streams: StreamView[] = [stream()], opts: { janusEventsSecret?: string; metricsToken?: string } = {}): BridgeMetrics {
  let now = 10_000;
  metrics = new BridgeMetrics({
    nodes: { originIds: ['origin'], snapshot: () => [node('origin', 'origin', true, 1, 0), node('edge-1', 'edge', true, 0, 2), node('edge-2', 'edge', false, 0, 0)] },
    media: { streams: () => streams },
    log: createLogger('silent'),
    now: () => (now += 10),
    ...opts,
  });
  return metrics;
}

/** The value of one sample line of the exposition, e.g. `fanout_node_up{node="edge-2",role="edge"}`. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('BridgeMetrics exposition', () => {
  it('reads node health and load, live streams, cascades per edge and viewers per stream at scrape time', async () => {
    const text = await make().render();
    expect(sample(text, 'fanout_node_up{node="origin",role="origin"}')).toBe(1);
    expect(sample(text, 'fanout_node_up{node="edge-2",role="edge"}')).toBe(0);
    expect(sample(text, 'fanout_node_publishers{node="origin",role="origin"}')).toBe(1);
    expect(sample(text, 'fanout_node_subscribers{node="edge-1",role="edge"}')).toBe(2);
    expect(sample(text, 'fanout_streams_live')).toBe(1);
    expect(sample(text, 'fanout_edge_cascades{edge="edge-1",state="ready"}')).toBe(1);
    expect(sample(text, 'fanout_edge_cascades{edge="edge-2",state="pending"}')).toBe(1);
    expect(sample(text, 'fanout_stream_viewers{stream="cam",node="edge-1"}')).toBe(2);
    expect(sample(text, 'fanout_stream_viewers{stream="cam",node="edge-2"}')).toBe(0);
    expect(text).toContain('process_cpu_seconds_total');
  });

  it('times requests by method, counts errors by method and code, and invalid frames as method "invalid"', async () => {
    const m = make();
    m.requestDone({ owner: 'w1', request: { id: 1, method: 'ping', params: {} }, startedAt: 10_000 });
    m.requestDone({ owner: 'w1', request: { id: 2, method: 'unpublish', params: { publishId: 'x' } }, startedAt: 10_000, error: new CdnError('NOT_FOUND', 'unknown') });
    m.requestDone({ owner: 'w1', request: undefined, startedAt: 10_000, error: new CdnError('INVALID_ARGUMENT', 'bad') });
    const text = await m.render();
    expect(sample(text, 'fanout_api_request_duration_seconds_count{method="ping"}')).toBe(1);
    expect(sample(text, 'fanout_api_request_duration_seconds_count{method="unpublish"}')).toBe(1);
    expect(sample(text, 'fanout_api_errors_total{method="unpublish",code="NOT_FOUND"}')).toBe(1);
    expect(sample(text, 'fanout_api_errors_total{method="invalid",code="INVALID_ARGUMENT"}')).toBe(1);
  });

  it('observes time to PLAYING from the play request to its PLAYING event, once, per node; a STOPPED play is not observed', async () => {
    const m = make();
    const play = (playId: string, node: string): void =>
      m.requestDone({ owner: 'w1', request: { id: 1, method: 'play', params: { playId, node, stream: 'cam' } }, startedAt: 10_000, result: { sdp: 'v=0', type: 'offer' } });
    play('p1', 'edge-1');
    play('p2', 'edge-2');
    m.eventSent('w1', { event: 'player', playId: 'p1', stream: 'cam', status: 'PLAYING' });
    m.eventSent('w1', { event: 'player', playId: 'p1', stream: 'cam', status: 'PLAYING' });
    m.eventSent('w1', { event: 'player', playId: 'p2', stream: 'cam', status: 'STOPPED' });
    m.eventSent('w1', { event: 'player', playId: 'p2', stream: 'cam', status: 'PLAYING' });
    m.cascadeReady('cam', 42);
    const text = await m.render();
    expect(sample(text, 'fanout_time_to_playing_seconds_count{node="edge-1"}')).toBe(1);
    expect(sample(text, 'fanout_time_to_playing_seconds_count{node="edge-2"}')).toBeUndefined();
    expect(sample(text, 'fanout_cascade_ready_seconds_count')).toBe(1);
    expect(sample(text, 'fanout_cascade_ready_seconds_sum')).toBeCloseTo(0.042);
  });

  it('observes time to PUBLISHING from the publish request, named by its publishId, to its PUBLISHING event; a refused publish is not', async () => {
    const m = make();
    const publish = (publishId: string, error?: CdnError): void =>
      m.requestDone({
        owner: 'w1',
        request: { id: 1, method: 'publish', params: { publishId, node: 'origin', stream: publishId, sdp: 'v=0' } },
        startedAt: 10_000,
        ...(error === undefined ? { result: { sdp: 'v=0' } } : { error }),
      });
    publish('pub_a');
    publish('pub_b', new CdnError('ALREADY_EXISTS', 'in use'));
    m.eventSent('w1', { event: 'publisher', publishId: 'pub_b', stream: 'pub_b', status: 'PUBLISHING' });
    expect(sample(await m.render(), 'fanout_time_to_publishing_seconds_count')).toBe(0);
    m.eventSent('w1', { event: 'publisher', publishId: 'pub_a', stream: 'pub_a', status: 'PUBLISHING' });
    m.eventSent('w1', { event: 'publisher', publishId: 'pub_a', stream: 'pub_a', status: 'PUBLISHING' });
    expect(sample(await m.render(), 'fanout_time_to_publishing_seconds_count')).toBe(1);
  });

  it('adds the worker\'s reports, keeps open sessions per link, and ends a session whose link closed without its last report', async () => {
    const m = make();
    const none = { sessionsOpened: 0, sessionsClosed: 0, framesIn: 0, framesOut: 0, rejected: {} };
    m.workerReport('w1', { ...none, sessionsOpened: 1, framesIn: 3, framesOut: 4 });
    m.workerReport('w2', { ...none, sessionsOpened: 1, framesIn: 1, rejected: { INVALID_ARGUMENT: 2, NOT_FOUND: 1 } });
    let text = await m.render();
    expect(sample(text, 'fanout_worker_sessions')).toBe(2);
    m.workerReport('w1', { ...none, sessionsClosed: 1, framesIn: 1 });
    m.ownerClosed('w1');
    m.ownerClosed('w2');
    m.workerReport('w9', { ...none, sessionsOpened: 1, sessionsClosed: 1, rejected: { INVALID_ARGUMENT: 1 } });
    text = await m.render();
    expect(sample(text, 'fanout_worker_sessions')).toBe(0);
    expect(sample(text, 'fanout_worker_sessions_opened_total')).toBe(3);
    expect(sample(text, 'fanout_worker_sessions_closed_total')).toBe(3);
    expect(sample(text, 'fanout_worker_frames_total{direction="in"}')).toBe(5);
    expect(sample(text, 'fanout_worker_frames_total{direction="out"}')).toBe(4);
    expect(sample(text, 'fanout_worker_frames_rejected_total{code="INVALID_ARGUMENT"}')).toBe(3);
    expect(sample(text, 'fanout_worker_validation_failures_total')).toBe(3);
  });
});

describe('BridgeMetrics streams view', () => {
  it('lists each stream with the origin first, its edges, viewers per node and Janus bitrates once reported', () => {
    const m = make();
    m.janusStats.ingest([
      { type: 32, handle_id: 100, event: { media: 'video', mid: '1', 'bytes-received-lastsec': 50_000, 'bytes-sent-lastsec': 0 } },
      { type: 32, handle_id: 201, event: { media: 'video', mid: '0', 'bytes-received-lastsec': 0, 'bytes-sent-lastsec': 40_000 } },
      { type: 32, handle_id: 202, event: { media: 'video', mid: '0', 'bytes-received-lastsec': 0, 'bytes-sent-lastsec': 45_000 } },
    ]);
    const [s] = m.streams().streams;
    expect(s).toEqual({
      name: 'cam',
      origin: 'origin',
      since: 1000,
      publishing: true,
      bitrateIn: { audio: 0, video: 400_000 },
      cascadeReadyMs: 40,
      viewers: 2,
      nodes: [
        { node: 'origin', role: 'origin', state: 'ready', viewers: 0 },
        { node: 'edge-1', role: 'edge', state: 'ready', viewers: 2, bitrateOut: { audio: 0, video: 680_000 } },
        { node: 'edge-2', role: 'edge', state: 'pending', viewers: 0 },
      ],
    });
  });

  it('samples viewers into the history at start', () => {
    const r = make().streams();
    expect(r.history).toEqual([{ t: expect.any(Number), viewers: 2, streams: 1 }]);
    expect(r.historyPeriodMs).toBe(2000);
  });
});

describe('BridgeMetrics of one agent (one node)', () => {
  /** An agent's metrics: it drives `only`; `streams` are its origin's, `copies` its edge's. */
  function agent(only: NodeInfo, media: { streams?: StreamView[]; copies?: CopyView[] }, originIds: readonly string[] = ['origin']): { m: BridgeMetrics; tick: (ms: number) => void } {
    let now = 10_000;
    metrics = new BridgeMetrics({
      nodes: { originIds, snapshot: () => [only] },
      media: { streams: () => media.streams ?? [], relays: () => media.copies ?? [] },
      log: createLogger('silent'),
      now: () => now,
    });
    return { m: metrics, tick: (ms) => (now += ms) };
  }
  const copy = (over: Partial<CopyView> = {}): CopyView => ({
    name: 'cam',
    node: 'edge-1',
    state: 'ready',
    players: [
      { playId: 'p1', node: 'edge-1', handle: 201, playing: true },
      { playId: 'p2', node: 'edge-1', handle: 202, playing: true },
      { playId: 'p3', node: 'edge-1', handle: undefined, playing: false },
    ],
    ...over,
  });

  it('an edge agent reports its copies as its cascades, their attached players as viewers and what Janus sends them, and no live stream', async () => {
    const { m } = agent(node('edge-1', 'edge', true, 0, 2), { copies: [copy(), copy({ name: 'lobby', state: 'pending', players: [] })] });
    m.janusStats.ingest([
      { type: 32, handle_id: 201, event: { media: 'video', mid: '0', 'bytes-received-lastsec': 0, 'bytes-sent-lastsec': 40_000 } },
      { type: 32, handle_id: 202, event: { media: 'video', mid: '0', 'bytes-received-lastsec': 0, 'bytes-sent-lastsec': 45_000 } },
    ]);
    const text = await m.render();
    expect(sample(text, 'fanout_node_up{node="edge-1",role="edge"}')).toBe(1);
    expect(sample(text, 'fanout_node_up{node="origin",role="origin"}')).toBeUndefined();
    expect(sample(text, 'fanout_streams_live')).toBe(0);
    expect(sample(text, 'fanout_edge_cascades{edge="edge-1",state="ready"}')).toBe(1);
    expect(sample(text, 'fanout_edge_cascades{edge="edge-1",state="pending"}')).toBe(1);
    expect(sample(text, 'fanout_stream_viewers{stream="cam",node="edge-1"}')).toBe(2);
    expect(sample(text, 'fanout_stream_viewers{stream="lobby",node="edge-1"}')).toBe(0);
    expect(sample(text, 'fanout_node_bitrate_out_bps{node="edge-1",kind="video"}')).toBe(680_000);
    expect(text).not.toMatch(/^fanout_origin_forwards\{/m);
  });

  it('an edge agent answers `streams` with its share of each copy, naming the topology\'s origin, and samples its viewers and copies', () => {
    const { m } = agent(node('edge-1', 'edge', true, 0, 2), { copies: [copy(), copy({ name: 'lobby', state: 'pending', players: [] })] });
    const r = m.streams();
    expect(r.streams).toEqual([
      { name: 'cam', origin: 'origin', since: 0, publishing: false, viewers: 2, nodes: [{ node: 'edge-1', role: 'edge', state: 'ready', viewers: 2 }] },
      { name: 'lobby', origin: 'origin', since: 0, publishing: false, viewers: 0, nodes: [{ node: 'edge-1', role: 'edge', state: 'pending', viewers: 0 }] },
    ]);
    // Only a ready copy is a live stream here: a pending one is not fed yet.
    expect(r.history).toEqual([{ t: 10_000, viewers: 2, streams: 1 }]);
  });

  it('an edge agent of a topology with several origins reports a copy that does not name its origin with the empty UNKNOWN_ORIGIN, one that does with its origin', () => {
    const copies = [copy(), copy({ name: 'lobby', origin: 'origin-2', state: 'pending', players: [] })];
    const { m } = agent(node('edge-1', 'edge', true, 0, 2), { copies }, ['origin', 'origin-2']);
    // Not the first origin: either may feed the copy.
    expect(m.streams().streams.map((s) => [s.name, s.origin])).toEqual([
      ['cam', ''],
      ['lobby', 'origin-2'],
    ]);
  });

  it('an origin agent reports its forwards per edge, and times the first forward of each publish to each edge from its configuration', async () => {
    const live = stream({ edges: [], players: [], cascadeReadyMs: undefined, configuredAt: 10_000 });
    const streams: StreamView[] = [{ ...live, forwards: [{ edge: 'edge-1' }, { edge: 'edge-2' }] }];
    const { m, tick } = agent(node('origin', 'origin', true, 1, 0), { streams });
    const forward = (edge: string, publishId = 'pub_1', error?: CdnError): void =>
      m.requestDone({
        owner: 'coordinator',
        request: { id: 1, method: 'forward', params: { publishId, forwardId: `fwd_${edge}`, edge, host: '127.0.0.1', port: 5000, rtcpPort: 5001 } },
        startedAt: 10_000,
        ...(error === undefined ? { result: {} } : { error }),
      });
    tick(300);
    forward('edge-1');
    tick(200);
    forward('edge-2');
    // Asked again (a coordinator that restarted), for a stream gone, or refused: not a setup time.
    tick(5000);
    forward('edge-1');
    forward('edge-1', 'pub_gone');
    forward('edge-2', 'pub_1', new CdnError('UNAVAILABLE', 'origin down'));
    const text = await m.render();
    expect(sample(text, 'fanout_streams_live')).toBe(1);
    expect(sample(text, 'fanout_origin_forwards{edge="edge-1"}')).toBe(1);
    expect(sample(text, 'fanout_origin_forwards{edge="edge-2"}')).toBe(1);
    expect(sample(text, 'fanout_forward_ready_seconds_count{edge="edge-1"}')).toBe(1);
    expect(sample(text, 'fanout_forward_ready_seconds_sum{edge="edge-1"}')).toBeCloseTo(0.3);
    expect(sample(text, 'fanout_forward_ready_seconds_count{edge="edge-2"}')).toBe(1);
    expect(sample(text, 'fanout_forward_ready_seconds_sum{edge="edge-2"}')).toBeCloseTo(0.5);
    expect(sample(text, 'fanout_cascade_ready_seconds_count')).toBe(0);
    expect(sample(text, 'fanout_edge_cascades{edge="edge-1",state="ready"}')).toBeUndefined();
    // The dashboard's "Cascade": forwarded to every edge it is forwarded to, the later at 500 ms.
    const [info] = m.streams().streams;
    expect(info?.nodes.map((n) => n.node)).toEqual(['origin']);
    expect(info?.cascadeReadyMs).toBe(500);
  });

  it('an origin agent reports no cascade time for a stream while one of its forwards is not yet timed', () => {
    const live = stream({ edges: [], players: [], cascadeReadyMs: undefined, configuredAt: 10_000 });
    const { m } = agent(node('origin', 'origin', true, 1, 0), { streams: [{ ...live, forwards: [{ edge: 'edge-1' }, { edge: 'edge-2' }] }] });
    m.requestDone({
      owner: 'coordinator',
      request: { id: 1, method: 'forward', params: { publishId: 'pub_1', forwardId: 'fwd_1', edge: 'edge-1', host: '127.0.0.1', port: 5000, rtcpPort: 5001 } },
      startedAt: 10_000,
      result: {},
    });
    expect(m.streams().streams[0]?.cascadeReadyMs).toBeUndefined();
  });
});

describe('BridgeMetrics HTTP routes', () => {
  async function serve(m: BridgeMetrics): Promise<number> {
    server = createServer((req, res) => {
      if (!m.handleHttp(req, res, new URL(req.url ?? '/', 'http://x'))) {
        res.writeHead(404);
        res.end();
      }
    });
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    return (server.address() as AddressInfo).port;
  }

  function call(port: number, method: string, path: string, headers: Record<string, string>, body?: string): Promise<{ status: number; text: string }> {
    return new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, method, path, headers }, (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  it('GET /metrics answers the exposition, and with a token configured needs it', async () => {
    const port = await serve(make([stream()], { metricsToken: 'tok' }));
    const refused = await call(port, 'GET', '/metrics', {});
    expect(refused.status).toBe(401);
    expect(JSON.parse(refused.text)).toEqual({
      error: { code: 'UNAUTHENTICATED', message: 'GET /metrics needs Authorization: Bearer <FANOUT_METRICS_TOKEN>', retryable: false },
    });
    const ok = await call(port, 'GET', '/metrics', { authorization: 'Bearer tok' });
    expect(ok.status).toBe(200);
    expect(ok.text).toContain('fanout_streams_live 1');
  });

  it('POST /janus/events takes Janus stats with the Janus secret as basic-auth password, and refuses others', async () => {
    const m = make([stream()], { janusEventsSecret: 'janus-secret' });
    const port = await serve(m);
    const body = JSON.stringify([{ type: 32, handle_id: 100, event: { media: 'audio', 'bytes-received-lastsec': 4000, 'bytes-sent-lastsec': 0 } }]);
    const basic = (pwd: string): string => `Basic ${Buffer.from(`janus:${pwd}`).toString('base64')}`;
    expect((await call(port, 'POST', JANUS_EVENTS_PATH, { authorization: basic('wrong'), 'content-type': 'application/json' }, body)).status).toBe(401);
    expect(m.janusStats.bitrate(100)).toBeUndefined();
    const notJson = await call(port, 'POST', JANUS_EVENTS_PATH, { authorization: basic('janus-secret') }, 'not json');
    expect(notJson.status).toBe(400);
    expect(JSON.parse(notJson.text)).toEqual({ error: { code: 'INVALID_ARGUMENT', message: 'the body is not JSON', retryable: false } });
    expect((await call(port, 'POST', JANUS_EVENTS_PATH, { authorization: basic('janus-secret') }, body)).status).toBe(200);
    expect(m.janusStats.bitrate(100)?.in.audio).toBe(32_000);
  });
});
