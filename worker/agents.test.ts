/**
 * One agent per node, through the worker (workerd) against two bridge stand-in scenarios, each an
 * agent with its own URL, node list and log (AGENT_URLS): every request goes to the agent of the
 * node it is for and to no other, the node list and the dashboard merge both agents, and an agent
 * that cannot be reached takes down only its own nodes.
 */
import { afterEach, describe, expect, it } from 'vitest';
import * as v from 'valibot';
import type { StreamInfo } from '../protocol/index.ts';
import type { Env } from './env.ts';
import { OFFER_SDP, Scenario, type WcsClient, callWorker, eventually, node, openWcs } from './testing.ts';

const ORIGIN = 'http://origin.localhost:8787';
const EDGE1 = 'http://edge-1.localhost:8787';
const WHIP_OFFER = ['v=0', 'o=- 7 7 IN IP4 127.0.0.1', 's=-', 't=0 0', 'a=group:BUNDLE 0', 'm=video 9 UDP/TLS/RTP/SAVPF 96', 'c=IN IP4 0.0.0.0', 'a=mid:0', 'a=ice-ufrag:Uf1x', 'a=ice-pwd:pwdpwdpwdpwdpwdpwdpwdpwd', 'a=sendonly', 'a=rtpmap:96 VP8/90000', ''].join('\r\n');
const WHEP_OFFER = WHIP_OFFER.replace('a=sendonly', 'a=recvonly');

const Health = v.object({
  status: v.string(),
  bridge: v.string(),
  reason: v.optional(v.string()),
  nodes: v.array(v.object({ id: v.string(), up: v.boolean(), reason: v.optional(v.string()) })),
});

/**
 * Agent A (also BRIDGE_URL) serves the origin and edge-2, agent B serves edge-1; each reports only
 * its own nodes, as an agent per node will.
 */
async function twoAgents(label: string): Promise<{ a: Scenario; b: Scenario; env: Env }> {
  const a = new Scenario(`${label}-a`);
  const b = new Scenario(`${label}-b`);
  await a.configure({ mode: 'ROUNDROBIN', nodes: [node('origin', 'origin'), node('edge-2', 'edge')] });
  // b is edge-1's own agent: it takes edge-1's credential only (a serves two nodes: BRIDGE_SECRET).
  await b.configure({ mode: 'ROUNDROBIN', nodes: [node('edge-1', 'edge')], agentNode: 'edge-1' });
  return { a, b, env: a.env({ AGENT_URLS: `origin=${a.url},edge-2=${a.url},edge-1=${b.url}` }) };
}

async function health(env: Env): Promise<{ status: number; body: v.InferOutput<typeof Health> }> {
  const resp = await callWorker('http://127.0.0.1:8787/health', {}, env);
  return { status: resp.status, body: v.parse(Health, await resp.json()) };
}

async function methods(s: Scenario): Promise<string[]> {
  return (await s.requests()).map((r) => r.method);
}

const clients: WcsClient[] = [];
afterEach(() => {
  for (const c of clients.splice(0)) c.close();
});

describe('a WCS session talks to the agent of its node', () => {
  it('a play on edge-1 goes to edge-1\'s agent and not the other; a publish on the origin to the origin\'s', async () => {
    const { a, b, env } = await twoAgents('wcs-agents');
    const player = await openWcs(`${EDGE1}/`, env);
    clients.push(player);
    expect(await player.connect()).toMatchObject({ node: 'edge-1' });
    player.send({ message: 'playStream', data: [{ mediaSessionId: 'p1', name: 'cam1', sdp: OFFER_SDP }] });
    expect(await player.nextData('notifyStreamStatusEvent')).toMatchObject({ mediaSessionId: 'p1', status: 'PLAYING' });
    expect((await b.requests('play')).map((r) => r.params)).toEqual([expect.objectContaining({ node: 'edge-1', stream: 'cam1' })]);
    expect(await a.requests('play')).toEqual([]);

    const publisher = await openWcs(`${ORIGIN}/`, env);
    clients.push(publisher);
    await publisher.connect();
    publisher.send({ message: 'publishStream', data: [{ mediaSessionId: 'm1', name: 'cam1', published: true, sdp: OFFER_SDP }] });
    expect(await publisher.nextData('notifyStreamStatusEvent')).toMatchObject({ mediaSessionId: 'm1', status: 'PUBLISHING' });
    expect((await a.requests('publish')).map((r) => r.params)).toEqual([expect.objectContaining({ node: 'origin', stream: 'cam1' })]);
    expect(await b.requests('publish')).toEqual([]);
  });

  it('a session\'s counters go to its node\'s agent', async () => {
    const { a, b, env } = await twoAgents('wcs-agents-metrics');
    const c = await openWcs(`${EDGE1}/`, env);
    clients.push(c);
    await c.connect();
    await eventually(async () => (await b.log()).reports.some((r) => r.sessionsOpened === 1), 3_000, 'the start reported to edge-1\'s agent');
    expect((await a.log()).reports.filter((r) => r.sessionsOpened > 0)).toEqual([]);
  });

  it('an origin player is redirected to an edge of either agent: the round-robin walks the merged list', async () => {
    const { env } = await twoAgents('wcs-agents-redirect');
    const c = await openWcs(`${ORIGIN}/`, env);
    clients.push(c);
    await c.connect();
    const edges: unknown[] = [];
    for (const id of ['p1', 'p2']) {
      c.send({ message: 'playStream', data: [{ mediaSessionId: id, name: 'cam1', sdp: OFFER_SDP }] });
      edges.push((await c.nextData('redirect')).node);
    }
    expect(edges).toEqual(['edge-1', 'edge-2']);
  });
});

describe('WHIP and WHEP go to the agent of the node they name', () => {
  it('WHIP POST and DELETE to the origin\'s agent; WHEP POST, PATCH and DELETE to the edge\'s', async () => {
    const { a, b, env } = await twoAgents('whip-agents');
    const pub = await callWorker(`${ORIGIN}/whip/cam1`, { method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: WHIP_OFFER }, env);
    expect(pub.status).toBe(201);
    const play = await callWorker(`${EDGE1}/whep/cam1`, { method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: WHEP_OFFER }, env);
    expect(play.status).toBe(201);
    const frag = ['a=ice-ufrag:Uf1x', 'a=ice-pwd:pwdpwdpwdpwdpwdpwdpwdpwd', 'm=video 9 UDP/TLS/RTP/SAVPF 96', 'a=mid:0', 'a=candidate:1 1 udp 2122260223 127.0.0.2 50000 typ host', ''].join('\r\n');
    const patched = await callWorker(play.headers.get('location') ?? '', { method: 'PATCH', headers: { 'Content-Type': 'application/trickle-ice-sdpfrag' }, body: frag }, env);
    expect(patched.status).toBe(204);
    expect((await callWorker(play.headers.get('location') ?? '', { method: 'DELETE' }, env)).status).toBe(200);
    expect((await callWorker(pub.headers.get('location') ?? '', { method: 'DELETE' }, env)).status).toBe(200);
    expect(await methods(a)).toEqual(['nodes', 'publish', 'unpublish']);
    expect(await methods(b)).toEqual(['nodes', 'play', 'trickle', 'stop']);
  });

  it('WHEP on an edge whose agent is away answers 503 naming that agent, while WHIP on the origin still works', async () => {
    const { a, b, env } = await twoAgents('whip-agent-away');
    expect((await health(env)).status).toBe(200);
    await b.kill(60_000);
    const play = await callWorker(`${EDGE1}/whep/cam1`, { method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: WHEP_OFFER }, env);
    expect(play.status).toBe(503);
    expect(play.headers.get('retry-after')).toBe('5');
    expect(await play.json()).toMatchObject({ error: { code: 'UNAVAILABLE', message: expect.stringContaining(`${b.url}/api`) } });
    const pub = await callWorker(`${ORIGIN}/whip/cam1`, { method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: WHIP_OFFER }, env);
    expect(pub.status).toBe(201);
    expect(await a.requests('publish')).toHaveLength(1);
  });
});

describe('the node list comes from every agent', () => {
  it('merges both agents\' nodes in /health and applies node events from each', async () => {
    const { b, env } = await twoAgents('nodes-merge');
    const first = await health(env);
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ status: 'ok', bridge: 'up' });
    expect(first.body.nodes.map((n) => [n.id, n.up])).toEqual([
      ['origin', true],
      ['edge-2', true],
      ['edge-1', true],
    ]);
    await b.push({ event: 'node', node: node('edge-1', 'edge', { up: false, since: 9 }) });
    await eventually(async () => (await health(env)).body.reason === 'down: edge-1', 3_000, 'edge-1 down from its agent\'s event');
  });

  it('one agent stopped marks only its nodes down, saying why; the other\'s stay healthy and /lb avoids them', async () => {
    const { b, env } = await twoAgents('nodes-one-down');
    expect((await health(env)).status).toBe(200);
    await b.kill(60_000);
    await eventually(async () => (await health(env)).body.nodes.some((n) => n.id === 'edge-1' && !n.up), 5_000, 'edge-1 marked down');
    const { status, body } = await health(env);
    expect(status).toBe(503);
    expect(body.status).toBe('degraded');
    expect(body.bridge).toBe('up');
    expect(body.nodes).toEqual([
      { id: 'origin', up: true },
      { id: 'edge-2', up: true },
      { id: 'edge-1', up: false, reason: expect.stringContaining(`${b.url}/api`) },
    ].map((n) => expect.objectContaining(n)));
    expect(body.reason).toMatch(new RegExp(`^down: edge-1 \\(.*${b.url.replaceAll('.', '\\.')}/api`));
    for (let i = 0; i < 3; i++) {
      const lb = await callWorker(`${ORIGIN}/lb`, {}, env);
      expect(await lb.json()).toMatchObject({ node: 'edge-2' });
    }
  });

  it('an agent back after a stop takes its nodes back up', async () => {
    const { b, env } = await twoAgents('nodes-agent-back');
    expect((await health(env)).status).toBe(200);
    await b.kill(800);
    await eventually(async () => (await health(env)).body.nodes.some((n) => n.id === 'edge-1' && !n.up), 5_000, 'edge-1 marked down');
    await eventually(async () => (await health(env)).status === 200, 5_000, 'edge-1 back up');
    expect((await b.log()).refused).toBeGreaterThan(0);
  });

  it('an agent never reached marks the nodes AGENT_URLS gives it down, as the other agent reports them', async () => {
    const a = new Scenario('nodes-never-reached');
    // The one bridge still reports every node, edge-1 included; edge-1's own agent is not running.
    const env = a.env({ AGENT_URLS: 'edge-1=http://127.0.0.1:9' });
    const { status, body } = await health(env);
    expect(status).toBe(503);
    expect(body.bridge).toBe('up');
    expect(body.nodes.map((n) => [n.id, n.up])).toEqual([
      ['origin', true],
      ['edge-1', false],
      ['edge-2', true],
    ]);
    expect(body.nodes[1]?.reason).toContain('http://127.0.0.1:9/api is unreachable');
  });

  it('with every agent stopped the view is down, naming each', async () => {
    const { a, b, env } = await twoAgents('nodes-all-down');
    expect((await health(env)).status).toBe(200);
    await a.kill(60_000);
    await b.kill(60_000);
    await eventually(async () => (await health(env)).body.bridge === 'down', 5_000, 'the view down');
    const { body } = await health(env);
    expect(body).toMatchObject({ status: 'down', reason: expect.stringMatching(/^no agent answers: /) });
    expect(body.reason).toContain(`${a.url}/api`);
    expect(body.reason).toContain(`${b.url}/api`);
    expect(body.nodes.map((n) => [n.id, n.up])).toEqual([
      ['origin', false],
      ['edge-2', false],
      ['edge-1', false],
    ]);
  });
});

describe('/status.json merges every agent\'s streams', () => {
  it('one stream, its origin share from the origin\'s agent and each edge\'s share from its own, viewers summed', async () => {
    const { a, b, env } = await twoAgents('status-agents');
    const onA: StreamInfo = {
      name: 'cam1',
      origin: 'origin',
      since: 1_700_000_000_000,
      publishing: true,
      bitrateIn: { audio: 32_000, video: 480_000 },
      viewers: 1,
      nodes: [
        { node: 'origin', role: 'origin', state: 'ready', viewers: 0 },
        { node: 'edge-2', role: 'edge', state: 'ready', viewers: 1 },
      ],
    };
    const onB: StreamInfo = { name: 'cam1', origin: 'origin', since: 0, publishing: false, viewers: 2, nodes: [{ node: 'edge-1', role: 'edge', state: 'ready', viewers: 2 }] };
    await a.configure({ streams: [onA] });
    await b.configure({ streams: [onB] });
    const resp = await callWorker('http://127.0.0.1:8787/status.json', {}, env);
    expect(resp.status).toBe(200);
    const body = (await resp.json()) as Record<string, unknown>;
    expect(body['streams']).toEqual([{ ...onA, viewers: 3, nodes: [...onA.nodes, ...onB.nodes] }]);
    expect(body['history']).toEqual([{ t: expect.any(Number), viewers: 3, streams: 1 }]);
  });
});
