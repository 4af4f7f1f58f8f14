/**
 * The nodes' controllers survive kill -9 without any client noticing (issue 15), seen by clients
 * that are not the project's own: @eyevinn/whip-web-client publishing over WHIP and
 * @eyevinn/webrtc-player playing over WHEP in Chromium, with Fanout's SDK player (the Embed Player
 * page) and the unmodified Flashphoner WebSDK player playing the same stream, all live while every
 * node's agent is killed at once (`npm start`'s default: one agent per node) and the launcher
 * restarts each (250 ms). Each player page measures the longest time between
 * decoded video frames across the kill and restart; the SDK and WebSDK pages must get no status
 * frame at all; after the restart the WHIP/WHEP URLs still answer (PATCH, DELETE) and DELETE ends
 * the media. Then 20 kills in a row with a publisher and a player live throughout leave every
 * node's Janus sessions, handles, rooms and mountpoints as they were (admin API).
 *
 * Gaps and re-adoption times (restart to the bridge's /health, to the stream listed again with its
 * viewers by /status.json, a request the worker makes of the bridge) go to
 * .fanout/bench/bridge-restart-timings.json and are printed.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import type { Page } from 'playwright-core';
import * as v from 'valibot';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StreamsResult } from '../../protocol/index.ts';
import { Browser } from '../harness/browser.ts';
import { eyevinnBundle } from '../harness/eyevinn-bundle.ts';
import { handleCounts, JanusInspector, type HandleCount } from '../harness/janus-inspect.ts';
import { frameMark, framesDecoded, framesSince, installPageProbe, readGapWindow, startGapWindow, type GapReport } from '../harness/page-probe.ts';
import { bridgeLoads, eventually } from '../harness/poll.ts';
import { ROOT, Stack } from '../harness/stack.ts';
import { playWerift, publishWerift, WcsClient } from '../harness/wcs-client.ts';
import { bundleWebSdk, servePages, type PageServer } from '../harness/websdk.ts';

const BASE = 'http://origin.localhost:8787';
/** The worker's own address, for requests from Node (which does not resolve *.localhost). */
const WORKER = 'http://127.0.0.1:8787';
const NODES = { origin: 8188, 'edge-1': 8189, 'edge-2': 8190 } as const;
type NodeId = keyof typeof NODES;
const NODE_IDS = Object.keys(NODES) as NodeId[];
const ADMIN_PORT_OFFSET = 1000;
const WAIT_MS = 20_000;
/** The contract: no viewer's video stops for more than this. */
const MAX_GAP_MS = 1000;
/** The contract: the restarted bridge has re-adopted its streams within this of starting. */
const READOPT_MS = 3000;
const KILLS = 20;
const TIMINGS = join(ROOT, '.fanout/bench/bridge-restart-timings.json');

interface Fetched {
  method: string;
  url: string;
  status: number;
  location: string | null;
}

declare global {
  interface Window {
    Eyevinn: typeof import('../harness/eyevinn-clients.ts');
    /** The WHIP/WHEP clients this suite keeps in its pages, and every fetch they made. */
    __live?: { fetches: Fetched[]; clients: Record<string, { destroy: () => Promise<void> }> };
  }
}

/** Init script of the WHIP/WHEP pages: records every fetch with its status and Location. */
function recordFetches(): void {
  const live: NonNullable<Window['__live']> = { fetches: [], clients: {} };
  window.__live = live;
  const original = window.fetch.bind(window);
  window.fetch = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const method = init?.method ?? (input instanceof Request ? input.method : 'GET');
    const url = input instanceof Request ? input.url : String(input);
    const resp = await original(input, init);
    live.fetches.push({ method, url, status: resp.status, location: resp.headers.get('location') });
    return resp;
  };
}

let stack: Stack;
let secret = '';
let browser: Browser | undefined;
let pageServer: PageServer | undefined;
let bundle = '';
/** Janus sessions and handles per node with no stream anywhere: the bridge's own and the inspectors'. */
let baseline: Record<NodeId, HandleCount>;
const inspectors = new Map<NodeId, JanusInspector>();
const timings: Record<string, unknown> = {};

function record(key: string, value: unknown): void {
  timings[key] = value;
  console.log(`bridge-restart: ${key} = ${JSON.stringify(value)}`);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function inspector(node: NodeId): JanusInspector {
  const i = inspectors.get(node);
  if (i === undefined) throw new Error(`no inspector for ${node}`);
  return i;
}

function adminCounts(): Promise<Record<NodeId, HandleCount>> {
  const ports = Object.fromEntries(NODE_IDS.map((n) => [n, NODES[n] + ADMIN_PORT_OFFSET])) as Record<NodeId, number>;
  return handleCounts(ports, secret);
}

/** Per node: Janus sessions and handles (admin API), Fanout rooms and Streaming mountpoints. */
async function janusState(): Promise<Record<NodeId, HandleCount & { rooms: number; mountpoints: number }>> {
  const counts = await adminCounts();
  const entries = await Promise.all(
    NODE_IDS.map(async (n) => [n, { ...counts[n], rooms: (await inspector(n).fanoutRooms()).length, mountpoints: (await inspector(n).fanoutMountpoints()).length }] as const),
  );
  return Object.fromEntries(entries) as Record<NodeId, HandleCount & { rooms: number; mountpoints: number }>;
}

/** Nothing of any stream on any node, no load in the bridge's view, sessions and handles as at the start. */
async function expectNoLeaks(timeoutMs = 15_000): Promise<void> {
  const clean = NODE_IDS.map((n) => [n, { ...baseline[n], rooms: 0, mountpoints: 0 }]);
  const state = await eventually('Janus state back to the baseline', janusState, (s) => JSON.stringify(Object.entries(s)) === JSON.stringify(clean), timeoutMs, 200).catch(
    async (err: unknown) => {
      // Name what is left, for the failure message.
      const left = await Promise.all(NODE_IDS.map(async (n) => ({ node: n, ...(await inspector(n).leftovers()) })));
      throw new Error(`${err instanceof Error ? err.message : String(err)}; baseline ${JSON.stringify(baseline)}; left ${JSON.stringify(left)}`);
    },
  );
  expect(Object.entries(state)).toEqual(clean);
  const loads = await bridgeLoads(stack);
  expect(Object.values(loads).every((l) => l.publishers === 0 && l.subscribers === 0), JSON.stringify(loads)).toBe(true);
}

const BridgeHealth = v.object({ nodes: v.array(v.object({ id: v.string(), up: v.boolean() })) });

/** Polls the bridge's own /health until it answers with every node up; resolves with when. */
/** The nodes' controllers: one agent per node (the default), or the one bridge. */
function controllers(): Array<{ name: string; url: string }> {
  const info = stack.info();
  const urls = [...new Set(Object.values(info.agentUrls))];
  return urls.map((url) => ({ url, name: info.control === 'agents' ? `agent ${Object.entries(info.agentUrls).find(([, u]) => u === url)?.[0] ?? ''}` : 'bridge' }));
}

/** Resolves when every controller's /health reports all its nodes up, and every node is reported. */
async function controllersServing(timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    try {
      const answers = await Promise.all(
        controllers().map(async ({ url }) => {
          const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(1000) });
          return { status: res.status, nodes: v.parse(BridgeHealth, await res.json()).nodes };
        }),
      );
      const nodes = answers.flatMap((a) => a.nodes);
      if (answers.every((a) => a.status === 200) && nodes.length === NODE_IDS.length && nodes.every((n) => n.up)) return Date.now();
      last = JSON.stringify(answers);
    } catch (err) {
      last = String(err);
    }
    if (Date.now() > deadline) throw new Error(`the controllers' /health not ok within ${timeoutMs} ms: ${last}`);
    await sleep(50);
  }
}

const CdnStatus = v.object({ streams: StreamsResult.entries.streams });

/**
 * Polls the worker's /status.json (answered by the bridge's `streams`) until `name` is listed
 * publishing with `viewers` viewers: the restarted bridge re-adopted it. Resolves with when.
 */
async function streamListed(name: string, viewers: number, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    try {
      const res = await fetch(`${WORKER}/status.json`, { signal: AbortSignal.timeout(2000) });
      const body: unknown = await res.json();
      if (res.status === 200) {
        const s = v.parse(CdnStatus, body).streams.find((x) => x.name === name);
        if (s?.publishing === true && s.viewers === viewers) return Date.now();
        last = JSON.stringify(s);
      } else {
        last = `${res.status} ${JSON.stringify(body).slice(0, 300)}`;
      }
    } catch (err) {
      last = String(err);
    }
    if (Date.now() > deadline) throw new Error(`"${name}" not listed publishing with ${viewers} viewers within ${timeoutMs} ms: ${last}`);
    await sleep(50);
  }
}

/** kill -9 of the bridge; waits for the launcher's restart line. Returns when each happened. */
/** kill -9 of every agent at once (or of the one bridge); resolves once the launcher restarted each. */
async function killControllers(): Promise<{ killedAt: number; restartedAt: number }> {
  const from = stack.outputMark();
  const procs = controllers().map(({ name }) => ({ name, pid: stack.pidOf(name) }));
  for (const { pid } of procs) process.kill(pid, 'SIGKILL');
  const killedAt = Date.now();
  let restartedAt = 0;
  for (const { name, pid } of procs) {
    restartedAt = Math.max(restartedAt, await stack.waitForOutput(`${name} restarted`, 10_000, from));
    expect(stack.pidOf(name)).not.toBe(pid);
  }
  return { killedAt, restartedAt };
}

function diagnostics(page: Page): string {
  const log = browser?.log(page);
  return log === undefined ? '' : `\npage errors: ${log.errors.join(' | ')}\nconsole:\n${log.lines.slice(-30).join('\n')}`;
}

async function newPage(url: string, eyevinn: boolean): Promise<Page> {
  if (browser === undefined) throw new Error('no browser');
  const page = await browser.newPage();
  await page.addInitScript(installPageProbe);
  if (eyevinn) await page.addInitScript(recordFetches);
  await page.goto(url);
  if (eyevinn) await page.addScriptTag({ content: bundle });
  return page;
}

async function fetches(page: Page): Promise<Fetched[]> {
  return page.evaluate(() => [...(window.__live?.fetches ?? [])]);
}

/** @eyevinn/whip-web-client publishes the fake camera to the origin; resolves with the WHIP session URL. */
async function whipPublish(page: Page, stream: string): Promise<string> {
  try {
    return await page.evaluate(async (endpoint) => {
      const media = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 360 }, audio: true });
      const client = new window.Eyevinn.WHIPClient({ endpoint, opts: { iceServers: [] } });
      await client.ingest(media);
      window.__live!.clients['whip'] = { destroy: () => client.destroy() };
      return client.getResourceUrl();
    }, `${BASE}/whip/${stream}`);
  } catch (err) {
    throw new Error(`WHIP publish failed${diagnostics(page)}`, { cause: err });
  }
}

/** @eyevinn/webrtc-player plays over WHEP, asking the origin (which sends it to an edge). */
async function whepPlay(page: Page, stream: string): Promise<void> {
  await page.evaluate(async (url) => {
    const video = document.createElement('video');
    video.muted = true;
    video.autoplay = true;
    video.playsInline = true;
    document.body.append(video);
    const player = new window.Eyevinn.WebRTCPlayer({ video, type: 'whep', iceServers: [] });
    await player.load(new URL(url));
    window.__live!.clients['whep'] = { destroy: () => player.unload() };
  }, `${BASE}/whep/${stream}`);
}

/** Fanout's SDK on the Embed Player page, playing `stream` (the origin sends it to an edge). */
async function sdkPlay(stream: string): Promise<Page> {
  const page = await newPage(`${BASE}/embed-player.html`, false);
  await page.fill('#streamName', stream);
  await page.click('#testBtn');
  await page.click('#playBtn');
  try {
    await page.waitForSelector('#player[data-status="PLAYING"]', { timeout: WAIT_MS });
  } catch (err) {
    throw new Error(`Embed Player: ${await page.textContent('#playerState')}${diagnostics(page)}`, { cause: err });
  }
  return page;
}

/** The unmodified Flashphoner WebSDK (test/pages/websdk-player.html), sent to an edge by the origin's /lb. */
async function webSdkPlay(stream: string): Promise<Page> {
  if (pageServer === undefined) throw new Error('no page server');
  const page = await newPage(`${pageServer.url}/websdk-player.html`, false);
  await page.fill('#url', 'ws://origin.localhost:8787');
  await page.fill('#lbUrl', 'http://origin.localhost:8787/lb');
  await page.fill('#stream', stream);
  await page.click('#connectBtn');
  await page.waitForSelector('#sessionStatus[data-status="ESTABLISHED"]', { timeout: WAIT_MS });
  await page.click('#playBtn');
  try {
    await page.waitForSelector('#playStatus[data-status="PLAYING"]', { timeout: WAIT_MS });
  } catch (err) {
    throw new Error(`WebSDK player: ${await page.textContent('#playStatus')}${diagnostics(page)}`, { cause: err });
  }
  return page;
}

/** Frames decoded and rising in the page (within 10 s). */
async function decoding(page: Page, what: string): Promise<void> {
  const first = await framesDecoded(page);
  await eventually(`${what}: frames decoded`, () => framesDecoded(page), (n) => n > first + 10, 10_000, 200);
}

async function closePage(page: Page | undefined): Promise<void> {
  if (page !== undefined) await Promise.race([page.close({ runBeforeUnload: false }).catch(() => undefined), sleep(5000)]);
}

beforeAll(async () => {
  // The Embed Player loads the SDK bundle the worker serves: build it from this checkout first.
  const built = spawnSync(process.execPath, [join(ROOT, 'scripts/build-sdk.mjs'), '--browser'], { cwd: ROOT, encoding: 'utf8' });
  if (built.status !== 0) throw new Error(`the SDK bundle did not build:\n${built.stdout}${built.stderr}`);
  const [s, b, eyevinn, webSdk] = await Promise.all([
    Stack.start({ env: { FANOUT_JANUS_ADMIN_PORT_OFFSET: String(ADMIN_PORT_OFFSET), WCS_MAX_SESSIONS_PER_MINUTE: '0' } }),
    Browser.launch(),
    eyevinnBundle(),
    bundleWebSdk(),
  ]);
  stack = s;
  browser = b;
  bundle = eyevinn;
  pageServer = await servePages(webSdk);
  secret = stack.secrets().janusApiSecret;
  for (const n of NODE_IDS) inspectors.set(n, await JanusInspector.connect(`ws://127.0.0.1:${NODES[n]}`, secret));
  await eventually('the worker sees every node up', () => fetch(`${WORKER}/health`).then((r) => r.status), (st) => st === 200, 30_000, 200);
  baseline = await adminCounts();
}, 150_000);

afterAll(async () => {
  await browser?.close();
  await pageServer?.close();
  await Promise.all([...inspectors.values()].map((i) => i.close()));
  await stack?.stop();
  mkdirSync(join(ROOT, '.fanout/bench'), { recursive: true });
  writeFileSync(TIMINGS, `${JSON.stringify({ runAt: new Date().toISOString(), ...timings }, null, 2)}\n`);
});

describe('kill -9 of every agent at once, seen by independent clients', () => {
  it('WHIP publisher, WHEP player, SDK and WebSDK players all live: no decoded-frame gap over 1 s, no status on the SDK and WebSDK pages, re-adopted within 3 s; then WHIP PATCH 204, WHEP DELETE 200 frees its subscriber, WHIP DELETE ends the stream and the players are told', async () => {
    const stream = `restart-${Date.now().toString(36)}`;
    const pages: Page[] = [];
    try {
      const whip = await newPage(`${BASE}/`, true);
      pages.push(whip);
      const whipSession = await whipPublish(whip, stream);
      const whipMatch = new RegExp(`^${BASE}/whip/${stream}/(pub_[A-Za-z0-9_-]+)$`).exec(whipSession);
      if (whipMatch === null) throw new Error(`not a WHIP session URL: ${whipSession}`);
      const whep = await newPage(`${BASE}/`, true);
      pages.push(whep);
      await whepPlay(whep, stream);
      const sdk = await sdkPlay(stream);
      pages.push(sdk);
      const webSdk = await webSdkPlay(stream);
      pages.push(webSdk);
      const players = { whep, sdk, webSdk };
      for (const [what, page] of Object.entries(players)) await decoding(page, what);
      await streamListed(stream, 3, 10_000);

      const marks = { sdk: await frameMark(sdk), webSdk: await frameMark(webSdk) };
      // The probes see the sessions' frames (getUserData, PLAYING, ...): an empty list later means none came.
      expect(marks.sdk).toBeGreaterThan(0);
      expect(marks.webSdk).toBeGreaterThan(0);
      const webSdkEvents = await webSdk.evaluate(() => window.__websdk?.events.length ?? 0);
      for (const page of Object.values(players)) await startGapWindow(page);

      const { killedAt, restartedAt } = await killControllers();
      const healthAt = await controllersServing(10_000);
      const listedAt = await streamListed(stream, 3, 10_000);
      record('restartedMs', restartedAt - killedAt);
      record('restartToHealthOkMs', healthAt - restartedAt);
      record('restartToStreamReadoptedMs', listedAt - restartedAt);

      // The WHIP URL still works: a trickle PATCH (candidates without credentials) reaches Janus.
      const frag = 'm=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:0\r\na=candidate:1 1 udp 2122260223 127.0.0.2 9 typ host\r\na=end-of-candidates\r\n';
      const patch = await fetch(`${WORKER}/node/origin/whip/${stream}/${whipMatch[1]}`, { method: 'PATCH', headers: { 'Content-Type': 'application/trickle-ice-sdpfrag' }, body: frag });
      const patchedAt = Date.now();
      expect(patch.status, await patch.text()).toBe(204);
      record('restartToWhipPatchDoneMs', patchedAt - restartedAt);
      expect(listedAt - restartedAt).toBeLessThanOrEqual(READOPT_MS);

      // Video over the kill, the restart and 5 s after it.
      await sleep(Math.max(0, restartedAt + 5000 - Date.now()));
      const gaps: Record<string, GapReport> = {};
      for (const [what, page] of Object.entries(players)) gaps[what] = await readGapWindow(page, true);
      record('maxDecodedFrameGapMs', gaps);
      for (const [what, gap] of Object.entries(gaps)) expect(gap.maxGapMs, `${what} video gap`).toBeLessThanOrEqual(MAX_GAP_MS);

      // Nothing reached the SDK and WebSDK pages: no status frame, no socket closed, nothing reported.
      for (const [what, page] of [['sdk', sdk], ['webSdk', webSdk]] as const) {
        const seen = await framesSince(page, marks[what], killedAt);
        expect(seen.frames.filter((f) => f.status !== undefined || f.message === 'fail'), `${what} status frames`).toEqual([]);
        expect(seen.closes, `${what} sockets closed`).toEqual([]);
      }
      expect(await sdk.getAttribute('#player', 'data-status')).toBe('PLAYING');
      expect(await webSdk.evaluate((n) => window.__websdk?.events.slice(n) ?? [], webSdkEvents)).toEqual([]);
      expect(await webSdk.getAttribute('#playStatus', 'data-status')).toBe('PLAYING');
      expect(await webSdk.getAttribute('#sessionStatus', 'data-status')).toBe('ESTABLISHED');

      // The WHEP URL still works: unloading the player DELETEs its session (200), which frees its subscriber.
      const post = (await fetches(whep)).find((f) => f.method === 'POST' && f.status === 201);
      const edge = /^http:\/\/(edge-[12])\.localhost:8787\/whep\//.exec(post?.location ?? '')?.[1];
      if (edge === undefined) throw new Error(`no WHEP session URL on an edge in ${JSON.stringify(post)}`);
      const before = (await bridgeLoads(stack))[edge]?.subscribers ?? 0;
      await whep.evaluate(() => window.__live?.clients['whep']?.destroy());
      expect((await fetches(whep)).find((f) => f.method === 'DELETE')).toMatchObject({ url: post?.location, status: 200 });
      await eventually(`one subscriber fewer on ${edge}`, () => bridgeLoads(stack), (l) => l[edge]?.subscribers === before - 1, 5000);

      // DELETE of the WHIP session ends the stream, and the players still on it are told.
      await whip.evaluate(() => window.__live?.clients['whip']?.destroy());
      expect((await fetches(whip)).find((f) => f.method === 'DELETE')).toMatchObject({ url: whipSession, status: 200 });
      await sdk.waitForSelector('#player[data-status="STOPPED"], #player[data-status="UNPUBLISHED"]', { state: 'attached', timeout: 10_000 });
      await webSdk.waitForSelector('#playStatus[data-status="STOPPED"]', { state: 'attached', timeout: 10_000 });
    } finally {
      for (const p of pages.reverse()) await closePage(p);
    }
    await expectNoLeaks();
  }, 120_000);

  it(`${KILLS} kills in a row with a publisher and a player live: each restarted and re-adopted within 3 s, no status to either session, video never stops over 1 s, Janus sessions, handles, rooms and mountpoints on every node as before`, async () => {
    const name = `kills-${Date.now().toString(36)}`;
    const origin = await WcsClient.connect('origin');
    const edge = await WcsClient.connect('edge-1');
    const { pub, id: publishId } = await publishWerift(origin, name);
    const closers: Array<() => Promise<void>> = [() => origin.close(), () => edge.close(), () => pub.close()];
    try {
      const { sub, id: playId } = await playWerift(edge, name);
      closers.push(() => sub.close());
      await sub.media({ audio: true, video: true, keyframe: true, timeoutMs: 10_000 });
      await streamListed(name, 1, 10_000);
      const before = await janusState();
      const marks = [origin.mark(), edge.mark()];
      const meter = sub.watchVideoGaps();

      const rounds: Array<{ restartedMs: number; healthOkMs: number; readoptedMs: number }> = [];
      for (let i = 0; i < KILLS; i++) {
        const { killedAt, restartedAt } = await killControllers();
        const healthAt = await controllersServing(10_000);
        const listedAt = await streamListed(name, 1, 10_000);
        rounds.push({ restartedMs: restartedAt - killedAt, healthOkMs: healthAt - restartedAt, readoptedMs: listedAt - restartedAt });
      }
      const gap = meter.stop();
      record('kills', rounds);
      record('killsMaxVideoGapMs', gap);
      record('killsReadoptedMsMax', Math.max(...rounds.map((r) => r.readoptedMs)));

      const after = await eventually('Janus state as before the kills', janusState, (s) => JSON.stringify(s) === JSON.stringify(before), 15_000, 200);
      expect(after).toEqual(before);
      expect(Math.max(...rounds.map((r) => r.readoptedMs))).toBeLessThanOrEqual(READOPT_MS);
      expect(gap).toBeLessThanOrEqual(MAX_GAP_MS);
      for (const [i, c] of [origin, edge].entries()) {
        const told = c.received.slice(marks[i]).filter(({ frame }) => frame.message === 'notifyStreamStatusEvent' || frame.message === 'fail');
        expect(told.map((r) => JSON.stringify(r.frame)), `${c.node} told something`).toEqual([]);
        expect(c.open).toBe(true);
      }

      // The sessions still own their streams: stop and unpublish end them cleanly.
      await edge.end(playId, 'play', { name });
      await origin.end(publishId, 'publish', { name });
    } finally {
      for (const close of closers.reverse()) await close().catch(() => undefined);
    }
    await expectNoLeaks();
  }, 300_000);
});
