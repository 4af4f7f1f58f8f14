/**
 * WHIP and WHEP with real third-party clients in headless Chromium (fake camera), against the whole
 * local CDN (Janus origin + 2 edges, the bridge, wrangler dev) in the test's network namespace:
 * `@eyevinn/whip-web-client` publishes to the origin, `@eyevinn/webrtc-player` plays over WHEP
 * after following the origin's 307 to an edge, and both interoperate with the WCS WebSocket API
 * (Fanout's SDK on the Embed Player and Two Way Streaming pages). Both clients are bundled for the
 * page with esbuild from node_modules. One stack and one browser; the tests run in order.
 */
import { spawnSync } from 'node:child_process';
import type { Frame, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Browser } from '../harness/browser.ts';
import { eyevinnBundle } from '../harness/eyevinn-bundle.ts';
import { bridgeLoads, eventually, type NodeLoads } from '../harness/poll.ts';
import { ROOT, Stack } from '../harness/stack.ts';

const BASE = 'http://origin.localhost:8787';
/** The worker's own address, for requests from Node (which does not resolve *.localhost). */
const WORKER = 'http://127.0.0.1:8787';
const WAIT_MS = 20_000;

// ---------------------------------------------------------------- in-page instrumentation

interface Fetched {
  method: string;
  url: string;
  status: number;
  /** The URL that answered, after redirects. */
  finalUrl: string;
  /** Its Location header (a WHIP/WHEP session URL), if any. */
  location: string | null;
}

interface Instrumentation {
  pcs: RTCPeerConnection[];
  fetches: Fetched[];
}

declare global {
  interface Window {
    __whip?: Instrumentation;
    /** The esbuild bundle of the two clients (see ../harness/eyevinn-bundle.ts). */
    Eyevinn: typeof import('../harness/eyevinn-clients.ts');
    /** Handles the tests keep in the page. */
    __clients?: Record<string, { destroy?: () => Promise<void>; resource?: () => Promise<string>; video?: HTMLVideoElement }>;
  }
}

/** Runs before the page's scripts: tracks peer connections and every fetch with its status. */
function instrument(): void {
  const state: Instrumentation = { pcs: [], fetches: [] };
  window.__whip = state;
  const Original = window.RTCPeerConnection;
  class Tracked extends Original {
    constructor(config?: RTCConfiguration) {
      super(config);
      state.pcs.push(this);
    }
  }
  window.RTCPeerConnection = Tracked;
  const original = window.fetch.bind(window);
  window.fetch = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const method = init?.method ?? (input instanceof Request ? input.method : 'GET');
    const url = input instanceof Request ? input.url : String(input);
    const resp = await original(input, init);
    state.fetches.push({ method, url, status: resp.status, finalUrl: resp.url, location: resp.headers.get('location') });
    return resp;
  };
}

interface MediaSample {
  videoWidth: number;
  framesDecoded: number;
  bytesSent: number;
  connected: number;
}

/** A video element's size and the media statistics of every open peer connection of the page. */
async function sample(frame: Frame, videoSelector: string): Promise<MediaSample> {
  return frame.evaluate(async (selector) => {
    const video = document.querySelector<HTMLVideoElement>(selector);
    const out = { videoWidth: video?.videoWidth ?? 0, framesDecoded: 0, bytesSent: 0, connected: 0 };
    for (const pc of window.__whip?.pcs ?? []) {
      if (pc.connectionState === 'closed') continue;
      if (pc.connectionState === 'connected') out.connected++;
      const report = await pc.getStats();
      report.forEach((s: Record<string, unknown>) => {
        if (s['type'] === 'inbound-rtp' && s['kind'] === 'video' && typeof s['framesDecoded'] === 'number') out.framesDecoded += s['framesDecoded'];
        if (s['type'] === 'outbound-rtp' && typeof s['bytesSent'] === 'number') out.bytesSent += s['bytesSent'];
      });
    }
    return out;
  }, videoSelector);
}

/** Frames decoded and growing, the video sized: two samples a second apart. */
async function expectDecoding(frame: Frame, videoSelector: string): Promise<void> {
  await frame.waitForFunction((sel) => (document.querySelector<HTMLVideoElement>(sel)?.videoWidth ?? 0) > 0, videoSelector, { timeout: WAIT_MS });
  const a = await sample(frame, videoSelector);
  await new Promise((r) => setTimeout(r, 1000));
  const b = await sample(frame, videoSelector);
  expect(b.videoWidth, 'videoWidth').toBeGreaterThan(0);
  expect(b.framesDecoded, 'framesDecoded increasing').toBeGreaterThan(a.framesDecoded);
}

async function fetches(page: Page): Promise<Fetched[]> {
  return page.evaluate(() => [...(window.__whip?.fetches ?? [])]);
}

// ---------------------------------------------------------------- the stack and the clients


let stack: Stack | undefined;
let browser: Browser | undefined;
let bundle = '';

const loads = (): Promise<NodeLoads> => bridgeLoads(stack);


/** A page on the origin's host (so the WHIP/WHEP endpoints are same-origin) with the clients loaded. */
async function clientPage(): Promise<Page> {
  if (browser === undefined) throw new Error('no browser');
  const page = await browser.newPage();
  await page.addInitScript(instrument);
  await page.goto(`${BASE}/`);
  await page.addScriptTag({ content: bundle });
  return page;
}

function diagnostics(page: Page): string {
  const log = browser?.log(page);
  return log === undefined ? '' : `\npage errors: ${log.errors.join(' | ')}\nconsole:\n${log.lines.slice(-40).join('\n')}`;
}

/** Publishes the fake camera with @eyevinn/whip-web-client; resolves with the session URL. */
async function whipPublish(page: Page, stream: string): Promise<string> {
  return page.evaluate(
    async ({ endpoint, key }) => {
      const media = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 360 }, audio: true });
      const client = new window.Eyevinn.WHIPClient({ endpoint, opts: { iceServers: [], debug: true } });
      await client.ingest(media);
      window.__clients = { ...window.__clients, [key]: { destroy: () => client.destroy(), resource: () => client.getResourceUrl() } };
      return client.getResourceUrl();
    },
    { endpoint: `${BASE}/whip/${stream}`, key: stream },
  );
}

/** Plays over WHEP with @eyevinn/webrtc-player, asking the origin (which redirects to an edge). */
async function whepPlay(page: Page, stream: string): Promise<void> {
  await page.evaluate(
    async ({ url, key }) => {
      const video = document.createElement('video');
      video.id = `whep-${key}`;
      video.muted = true;
      video.autoplay = true;
      video.playsInline = true;
      document.body.append(video);
      const player = new window.Eyevinn.WebRTCPlayer({ video, type: 'whep', iceServers: [], debug: true });
      await player.load(new URL(url));
      window.__clients = { ...window.__clients, [`whep-${key}`]: { destroy: () => player.unload(), video } };
    },
    { url: `${BASE}/whep/${stream}`, key: stream },
  );
}

// ---------------------------------------------------------------- the suite

const whipStream = `whip-${Date.now().toString(36)}`;
const sdkStream = `sdk-${Date.now().toString(36)}`;
const pages: { whip?: Page; embed?: Page; whep?: Page; sdk?: Page; whepOfSdk?: Page } = {};
let whipSession = '';

beforeAll(async () => {
  // The demo pages load the SDK bundle the worker serves; build it from this checkout first.
  const built = spawnSync(process.execPath, [`${ROOT}/scripts/build-sdk.mjs`, '--browser'], { cwd: ROOT, encoding: 'utf8' });
  if (built.status !== 0) throw new Error(`the SDK bundle did not build:\n${built.stdout}${built.stderr}`);
  const [s, b, js] = await Promise.all([Stack.start(), Browser.launch(), eyevinnBundle()]);
  stack = s;
  browser = b;
  bundle = js;
}, 150_000);

afterAll(async () => {
  await browser?.close();
  await stack?.stop();
});

describe('WHIP and WHEP with real clients in Chromium', () => {
  it('@eyevinn/whip-web-client publishes to the origin over WHIP, trickling its candidates by PATCH', async () => {
    const page = await clientPage();
    pages.whip = page;
    try {
      whipSession = await whipPublish(page, whipStream);
    } catch (err) {
      throw new Error(`WHIP publish failed${diagnostics(page)}`, { cause: err });
    }
    expect(whipSession).toMatch(new RegExp(`^${BASE}/whip/${whipStream}/pub_[A-Za-z0-9_-]+$`));
    // Connected and sending.
    await eventually('the WHIP peer connected and sending', () => sample(page.mainFrame(), 'video'), (s) => s.connected === 1 && s.bytesSent > 10_000, WAIT_MS);
    const calls = await fetches(page);
    expect(calls.find((f) => f.method === 'OPTIONS')?.status).toBe(204);
    expect(calls.find((f) => f.method === 'POST')?.status).toBe(201);
    const patches = calls.filter((f) => f.method === 'PATCH');
    expect(patches.length, 'trickle PATCHes').toBeGreaterThan(0);
    expect(patches.every((f) => f.status === 204 && f.url === whipSession), JSON.stringify(patches)).toBe(true);
    expect((await loads())['origin']?.publishers).toBe(1);
  });

  it('the WHIP stream plays through the WCS WebSocket API with Fanout\'s SDK (Embed Player, from an edge)', async () => {
    if (browser === undefined) throw new Error('no browser');
    const page = await browser.newPage();
    await page.addInitScript(instrument);
    pages.embed = page;
    await page.goto(`${BASE}/embed-player.html`);
    await page.fill('#streamName', whipStream);
    await page.click('#testBtn');
    await page.click('#playBtn');
    try {
      await page.waitForSelector('#player[data-status="PLAYING"]', { timeout: WAIT_MS });
    } catch (err) {
      throw new Error(`Embed Player: ${await page.textContent('#playerState')}${diagnostics(page)}`, { cause: err });
    }
    expect(await page.getAttribute('#player', 'data-node')).toMatch(/^edge-[12]$/);
    await expectDecoding(page.mainFrame(), '#screen video');
  });

  it('@eyevinn/webrtc-player plays it over WHEP: the origin answers 307, an edge answers 201, frames are decoded', async () => {
    const page = await clientPage();
    pages.whep = page;
    await whepPlay(page, whipStream);
    try {
      await expectDecoding(page.mainFrame(), `#whep-${whipStream}`);
    } catch (err) {
      throw new Error(`WHEP play failed: ${JSON.stringify(await fetches(page))}${diagnostics(page)}`, { cause: err });
    }
    const post = (await fetches(page)).find((f) => f.method === 'POST');
    expect(post?.url).toBe(`${BASE}/whep/${whipStream}`);
    expect(post?.status).toBe(201);
    expect(post?.finalUrl).toMatch(new RegExp(`^http://edge-[12]\\.localhost:8787/whep/${whipStream}$`));
  });

  it('the WHEP session takes trickled candidates (204), and unloading the player DELETEs it and frees its subscriber', async () => {
    const page = pages.whep;
    if (page === undefined) throw new Error('no WHEP page');
    const post = (await fetches(page)).find((f) => f.method === 'POST' && f.status === 201);
    const m = /^http:\/\/(edge-[12])\.localhost:8787\/whep\/([^/]+)\/(play_[A-Za-z0-9_-]+)$/.exec(post?.location ?? '');
    if (m === null) throw new Error(`no WHEP session URL in ${JSON.stringify(post)}`);
    const [, edge, stream, id] = m;
    // Node cannot resolve *.localhost: the same session by the path style on the worker's own address.
    const session = `${WORKER}/node/${edge}/whep/${stream}/${id}`;
    const frag = 'a=ice-ufrag:none\r\na=ice-pwd:nonenonenonenonenonenone\r\nm=video 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:0\r\na=candidate:1 1 udp 2122260223 127.0.0.2 9 typ host\r\na=end-of-candidates\r\n';
    // The client's own ufrag is not "none": this is refused as an ICE restart without If-Match...
    expect((await fetch(session, { method: 'PATCH', headers: { 'Content-Type': 'application/trickle-ice-sdpfrag' }, body: frag })).status).toBe(428);
    // ...while candidates without credentials reach Janus.
    const plain = frag.replace(/a=ice-(ufrag|pwd):[^\r]*\r\n/g, '');
    expect((await fetch(session, { method: 'PATCH', headers: { 'Content-Type': 'application/trickle-ice-sdpfrag' }, body: plain })).status).toBe(204);
    const before = (await loads())[edge ?? '']?.subscribers ?? 0;
    await page.evaluate((key) => window.__clients?.[key]?.destroy?.(), `whep-${whipStream}`);
    expect((await fetches(page)).find((f) => f.method === 'DELETE')).toMatchObject({ status: 200, url: post?.location });
    await eventually(`one subscriber fewer on ${edge}`, loads, (x) => x[edge ?? '']?.subscribers === before - 1);
    expect((await fetch(session, { method: 'DELETE' })).status).toBe(404);
  });

  it('a stream published with the SDK (Two Way Streaming) plays over WHEP', async () => {
    if (browser === undefined) throw new Error('no browser');
    const page = await browser.newPage();
    pages.sdk = page;
    await page.goto(`${BASE}/two-way-streaming.html`);
    await page.click('#connectBtn');
    await page.waitForSelector('#connectStatus[data-status="ESTABLISHED"]', { timeout: WAIT_MS });
    await page.fill('#publishStream', sdkStream);
    await page.click('#publishBtn');
    try {
      await page.waitForSelector('#publishStatus[data-status="PUBLISHING"]', { timeout: WAIT_MS });
    } catch (err) {
      throw new Error(`SDK publish: ${await page.textContent('#publishStatus')}${diagnostics(page)}`, { cause: err });
    }
    const player = await clientPage();
    pages.whepOfSdk = player;
    await whepPlay(player, sdkStream);
    try {
      await expectDecoding(player.mainFrame(), `#whep-${sdkStream}`);
    } catch (err) {
      throw new Error(`WHEP play of the SDK stream failed: ${JSON.stringify(await fetches(player))}${diagnostics(player)}`, { cause: err });
    }
  });

  it('POST /whep for a stream that is not live follows the 307 and gets 409 with Retry-After', async () => {
    const offer = 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=recvonly\r\na=rtpmap:96 VP8/90000\r\n';
    // Node cannot resolve *.localhost: the path style on the worker's own address.
    const resp = await fetch(`${WORKER}/node/origin/whep/not-live-${Date.now().toString(36)}`, { method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: offer });
    expect(resp.status).toBe(409);
    expect(resp.redirected).toBe(true);
    expect(resp.url).toMatch(/^http:\/\/127\.0\.0\.1:8787\/node\/edge-[12]\/whep\//);
    expect(resp.headers.get('retry-after')).toBe('5');
  });

  it('DELETE of the WHIP session unpublishes: the WCS player is told (STOPPED) and the origin has no publisher', async () => {
    const { whip, embed } = pages;
    if (whip === undefined || embed === undefined) throw new Error('missing pages');
    const before = (await loads())['origin']?.publishers ?? 0;
    await whip.evaluate((key) => window.__clients?.[key]?.destroy?.(), whipStream);
    const calls = await fetches(whip);
    try {
      await embed.waitForSelector('#player[data-status="STOPPED"], #player[data-status="UNPUBLISHED"]', { state: 'attached', timeout: WAIT_MS });
    } catch (err) {
      const status = await embed.getAttribute('#player', 'data-status');
      throw new Error(`the Embed Player is ${status} (${await embed.textContent('#playerState')}); WHIP calls: ${JSON.stringify(calls)}${diagnostics(embed)}`, { cause: err });
    }
    expect(calls.find((f) => f.method === 'DELETE')).toMatchObject({ url: whipSession, status: 200 });
    await eventually('one publisher fewer on the origin', loads, (x) => x['origin']?.publishers === before - 1);
    // The session is gone: a second DELETE is 404 (sessions are the bridge's: any node's URL reaches them).
    const id = whipSession.split('/').pop() ?? '';
    expect((await fetch(`${WORKER}/node/origin/whip/${whipStream}/${id}`, { method: 'DELETE' })).status).toBe(404);
  });
});
