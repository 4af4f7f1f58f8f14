/**
 * The seed's flow end to end in headless Chromium (fake camera), against the whole local CDN
 * (Janus origin + 2 edges, the bridge, wrangler dev) in the test's network namespace. Publishers
 * use the Two Way Streaming page and players the Embed Player (one of them inside an iframe), and
 * every action is a click or a typed field. One stack (ROUNDROBIN) and one browser serve every test;
 * the tests run in order and build on each other's streams.
 *
 * Records time-to-PUBLISHING and each player's time-to-first-frame in .fanout/bench/e2e-timings.json
 * and a screenshot of each page while it plays in .fanout/screenshots/.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Frame, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Browser, CHROMIUM_PATH } from '../harness/browser.ts';
import { JanusInspector } from '../harness/janus-inspect.ts';
import { bridgeLoads, eventually, type NodeLoads } from '../harness/poll.ts';
import { ROOT, Stack } from '../harness/stack.ts';

const BASE = 'http://origin.localhost:8787';
const SCREENSHOTS = join(ROOT, '.fanout/screenshots');
const TIMINGS = join(ROOT, '.fanout/bench/e2e-timings.json');
const WAIT_MS = 20_000;

// ---------------------------------------------------------------- in-page instrumentation

interface Instrumentation {
  /** Every peer connection the page made (the SDK's, through the global constructor). */
  pcs: RTCPeerConnection[];
  /** performance.now() of the last click on each button id. */
  clicks: Record<string, number>;
  /** performance.now() of the first frame shown in each video container id (per video element). */
  frames: Record<string, number>;
  /** performance.now() when an element id first got a data-status value: "id:STATUS". */
  statuses: Record<string, number>;
}

declare global {
  interface Window {
    __fanout?: Instrumentation;
    /** The SDK bundle's global (worker/public/sdk/fanout.js). */
    Fanout: typeof import('../../sdk/index.ts');
  }
}

/** Runs in every frame before its scripts: tracks peer connections, clicks, first frames and statuses. */
function instrument(): void {
  const state: Instrumentation = { pcs: [], clicks: {}, frames: {}, statuses: {} };
  window.__fanout = state;
  const Original = window.RTCPeerConnection;
  class Tracked extends Original {
    constructor(config?: RTCConfiguration) {
      super(config);
      state.pcs.push(this);
    }
  }
  window.RTCPeerConnection = Tracked;
  document.addEventListener(
    'click',
    (ev) => {
      const target = ev.target instanceof Element ? ev.target.closest('button') : null;
      if (target !== null && target.id !== '') state.clicks[target.id] = performance.now();
    },
    true,
  );
  const watchVideo = (video: HTMLVideoElement): void => {
    const holder = video.parentElement?.id ?? '';
    delete state.frames[holder];
    const mark = (): void => {
      if (state.frames[holder] === undefined && video.videoWidth > 0) state.frames[holder] = performance.now();
    };
    video.requestVideoFrameCallback(() => mark());
    video.addEventListener('resize', mark);
    video.addEventListener('loadeddata', mark);
  };
  new MutationObserver((records) => {
    for (const r of records) {
      if (r.type === 'attributes' && r.target instanceof HTMLElement && r.attributeName === 'data-status') {
        const key = `${r.target.id}:${r.target.dataset['status'] ?? ''}`;
        state.statuses[key] ??= performance.now();
      }
      for (const n of r.addedNodes) if (n instanceof HTMLVideoElement) watchVideo(n);
    }
  }).observe(document, { subtree: true, childList: true, attributes: true, attributeFilter: ['data-status'] });
}

interface MediaSample {
  videoWidth: number;
  currentTime: number;
  framesDecoded: number;
  audioPackets: number;
  videoCodec: string;
  sentCodec: string;
}

/** The played video in `holder` and the media statistics of every open peer connection of the frame. */
async function sample(frame: Frame, holder: string): Promise<MediaSample> {
  return frame.evaluate(async (id) => {
    const video = document.querySelector<HTMLVideoElement>(`#${id} video`);
    const out = { videoWidth: video?.videoWidth ?? 0, currentTime: video?.currentTime ?? 0, framesDecoded: 0, audioPackets: 0, videoCodec: '', sentCodec: '' };
    for (const pc of window.__fanout?.pcs ?? []) {
      if (pc.connectionState === 'closed') continue;
      const report = await pc.getStats();
      report.forEach((s: Record<string, unknown>) => {
        const codecOf = (): string => {
          const c: unknown = typeof s['codecId'] === 'string' ? report.get(s['codecId']) : undefined;
          return typeof c === 'object' && c !== null && 'mimeType' in c && typeof c.mimeType === 'string' ? c.mimeType : '';
        };
        if (s['type'] === 'inbound-rtp' && s['kind'] === 'video') {
          out.framesDecoded += typeof s['framesDecoded'] === 'number' ? s['framesDecoded'] : 0;
          out.videoCodec = codecOf() || out.videoCodec;
        }
        if (s['type'] === 'inbound-rtp' && s['kind'] === 'audio') out.audioPackets += typeof s['packetsReceived'] === 'number' ? s['packetsReceived'] : 0;
        if (s['type'] === 'outbound-rtp' && s['kind'] === 'video') out.sentCodec = codecOf() || out.sentCodec;
      });
    }
    return out;
  }, holder);
}

/** Frames decoded and shown, time advancing, audio arriving: two samples 1.5 s apart. */
async function expectDecoding(frame: Frame, holder: string): Promise<MediaSample> {
  const a = await sample(frame, holder);
  await new Promise((r) => setTimeout(r, 1500));
  const b = await sample(frame, holder);
  expect(b.videoWidth, `${holder}: videoWidth`).toBeGreaterThan(0);
  expect(b.currentTime, `${holder}: currentTime advancing`).toBeGreaterThan(a.currentTime);
  expect(b.framesDecoded, `${holder}: framesDecoded increasing`).toBeGreaterThan(a.framesDecoded);
  expect(b.audioPackets, `${holder}: audio packets increasing`).toBeGreaterThan(a.audioPackets);
  return b;
}

async function marks(frame: Frame): Promise<Instrumentation> {
  return frame.evaluate(() => {
    const f = window.__fanout;
    return { pcs: [], clicks: { ...f?.clicks }, frames: { ...f?.frames }, statuses: { ...f?.statuses } };
  });
}

// ---------------------------------------------------------------- the stack, the bridge's view, Janus


let stack: Stack | undefined;
let browser: Browser | undefined;
const janusUrls: Record<string, string> = {};

const loads = (): Promise<NodeLoads> => bridgeLoads(stack);

function roundRobinTopology(): string {
  const text = readFileSync(join(ROOT, 'loadbalancing.xml'), 'utf8').replace(/mode="[A-Z_]+"/, 'mode="ROUNDROBIN"');
  if (!text.includes('mode="ROUNDROBIN"')) throw new Error('loadbalancing.xml has no mode attribute to change');
  const file = join(mkdtempSync(join(tmpdir(), 'fanout-e2e-')), 'loadbalancing.xml');
  writeFileSync(file, text);
  for (const m of text.matchAll(/<node id="([^"]+)">[\s\S]*?<janus>([^<]+)<\/janus>/g)) {
    if (m[1] !== undefined && m[2] !== undefined) janusUrls[m[1]] = m[2];
  }
  return file;
}

// ---------------------------------------------------------------- pages, driven by clicks

async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`) });
}

async function newPage(): Promise<Page> {
  if (browser === undefined) throw new Error('no browser');
  const page = await browser.newPage();
  await page.addInitScript(instrument);
  return page;
}

function diagnostics(page: Page): string {
  const log = browser?.log(page);
  return log === undefined ? '' : `\npage errors: ${log.errors.join(' | ')}\nconsole:\n${log.lines.slice(-30).join('\n')}`;
}

interface Publisher {
  page: Page;
  name: string;
}

/** Opens Two Way Streaming, types the server (when given) and the stream name, connects. */
async function twoWay(server?: string): Promise<Page> {
  const page = await newPage();
  await page.goto(`${BASE}/two-way-streaming.html`);
  if (server !== undefined) await page.fill('#url', server);
  await page.click('#connectBtn');
  await page.waitForSelector('#connectStatus[data-status="ESTABLISHED"]', { timeout: WAIT_MS });
  return page;
}

async function publish(name: string, codec: 'VP8' | 'H264'): Promise<Publisher & { ms: number }> {
  const page = await twoWay();
  await page.fill('#publishStream', name);
  await page.selectOption('#codec', codec);
  await page.click('#publishBtn');
  try {
    await page.waitForSelector('#publishStatus[data-status="PUBLISHING"]', { timeout: WAIT_MS });
  } catch (err) {
    throw new Error(`${name}: ${await page.textContent('#publishStatus')}${diagnostics(page)}`, { cause: err });
  }
  const m = await marks(page.mainFrame());
  const ms = (m.statuses['publishStatus:PUBLISHING'] ?? NaN) - (m.clicks['publishBtn'] ?? NaN);
  timings.publishers.push({ stream: name, codec, msToPublishing: round(ms) });
  return { page, name, ms };
}

interface Player {
  page: Page;
  frame: Frame;
  stream: string;
  node: string;
}

/** Opens the Embed Player (or a page embedding it by iframe), types the stream, Test now, play. */
async function player(stream: string, how: 'page' | 'iframe'): Promise<Player> {
  const page = await newPage();
  let frame: Frame;
  if (how === 'page') {
    await page.goto(`${BASE}/embed-player.html`);
    await page.fill('#streamName', stream);
    await page.click('#testBtn');
    frame = page.mainFrame();
  } else {
    // A page on another origin (the worker's own host) embeds the player.
    await page.goto('http://localhost:8787/');
    await page.setContent(
      `<!doctype html><title>Embedded</title><body style="margin:0;padding:24px;background:#eef2f7;font-family:sans-serif">` +
        `<h2 style="margin:0 0 12px">A page that embeds the player</h2>` +
        `<iframe id="embed" src="${BASE}/embed-player.html?stream=${encodeURIComponent(stream)}" width="640" height="360" frameborder="0" allow="autoplay; fullscreen"></iframe></body>`,
    );
    const handle = await page.waitForSelector('#embed');
    const f = await handle.contentFrame();
    if (f === null) throw new Error('the iframe has no frame');
    await f.waitForLoadState('load');
    // Embedded, the page is the player alone.
    expect(await f.isVisible('.topbar')).toBe(false);
    expect(await f.isVisible('#testBtn')).toBe(false);
    frame = f;
  }
  await frame.click('#playBtn');
  try {
    await frame.waitForSelector('#player[data-status="PLAYING"]', { timeout: WAIT_MS });
  } catch (err) {
    throw new Error(`player of ${stream}: ${await frame.textContent('#playerState')}${diagnostics(page)}`, { cause: err });
  }
  const node = (await frame.getAttribute('#player', 'data-node')) ?? '';
  await frame.waitForFunction(() => window.__fanout?.frames['screen'] !== undefined, undefined, { timeout: WAIT_MS });
  const m = await marks(frame);
  const click = m.clicks['playBtn'] ?? NaN;
  timings.players.push({
    stream,
    via: how,
    edge: node,
    msToPlaying: round((m.statuses['player:PLAYING'] ?? NaN) - click),
    msToFirstFrame: round((m.frames['screen'] ?? NaN) - click),
  });
  return { page, frame, stream, node };
}

function round(ms: number): number | null {
  return Number.isFinite(ms) ? Math.round(ms) : null;
}

const timings: {
  runAt: string;
  chromium: string;
  stackStartMs: number;
  publishers: { stream: string; codec: string; msToPublishing: number | null }[];
  players: { stream: string; via: string; edge: string; msToPlaying: number | null; msToFirstFrame: number | null }[];
  notEnoughBandwidth?: { udpDropPercent: number; reportedLossPercent: number };
} = { runAt: new Date().toISOString(), chromium: '', stackStartMs: 0, publishers: [], players: [] };

// ---------------------------------------------------------------- the suite

const vp8 = `e2e-vp8-${Date.now().toString(36)}`;
const h264 = `e2e-h264-${Date.now().toString(36)}`;
const pages: { vp8?: Publisher; h264?: Publisher; a?: Player; b?: Player; c?: Player } = {};

beforeAll(async () => {
  // The pages load the SDK bundle the worker serves; build it from this checkout first.
  const built = spawnSync(process.execPath, [join(ROOT, 'scripts/build-sdk.mjs'), '--browser'], { cwd: ROOT, encoding: 'utf8' });
  if (built.status !== 0) throw new Error(`the SDK bundle did not build:\n${built.stdout}${built.stderr}`);
  const topology = roundRobinTopology();
  const t0 = Date.now();
  const [s, b] = await Promise.all([Stack.start({ topology }), Browser.launch()]);
  stack = s;
  browser = b;
  timings.stackStartMs = Date.now() - t0;
  timings.chromium = execFileSync(CHROMIUM_PATH, ['--version'], { encoding: 'utf8' }).trim();
}, 150_000);

afterAll(async () => {
  await browser?.close();
  await stack?.stop();
  mkdirSync(join(ROOT, '.fanout/bench'), { recursive: true });
  writeFileSync(TIMINGS, `${JSON.stringify(timings, null, 2)}\n`);
});

describe('the seed flow in Chromium', () => {
  it('a VP8 publisher on the Two Way Streaming page publishes on the origin: PUBLISHING', async () => {
    pages.vp8 = await publish(vp8, 'VP8');
    const s = await sample(pages.vp8.page.mainFrame(), 'localVideo');
    expect(s.sentCodec).toBe('video/VP8');
    expect((await loads())['origin']?.publishers).toBe(1);
  });

  it('two Embed Players (a page and an iframe) play it through the origin redirect, land on different edges under ROUNDROBIN, and decode video and audio', async () => {
    pages.a = await player(vp8, 'page');
    pages.b = await player(vp8, 'iframe');
    expect([pages.a.node, pages.b.node].sort()).toEqual(['edge-1', 'edge-2']);
    for (const p of [pages.a, pages.b]) {
      const s = await expectDecoding(p.frame, 'screen');
      expect(s.videoCodec).toBe('video/VP8');
      // The status the user saw went PENDING -> PLAYING: the redirect's FAILED never showed.
      const seen = Object.keys((await marks(p.frame)).statuses).filter((k) => k.startsWith('player:') && k !== 'player:NEW');
      expect(seen).toEqual(['player:PENDING', 'player:PLAYING']);
    }
    const l = await eventually('one subscriber per edge', loads, (x) => x['edge-1']?.subscribers === 1 && x['edge-2']?.subscribers === 1);
    expect(l['origin']?.subscribers).toBe(0);
    await screenshot(pages.a.page, 'embed-player');
    await screenshot(pages.b.page, 'embed-player-iframe');
  });

  it('the Two Way Streaming page plays its own stream back from an edge', async () => {
    const page = pages.vp8?.page;
    if (page === undefined) throw new Error('no publisher page');
    await page.click('#playBtn');
    await page.waitForSelector('#playStatus[data-status="PLAYING"]', { timeout: WAIT_MS });
    expect(await page.textContent('#playStatus')).toMatch(/from edge-[12]/);
    await page.waitForFunction(() => window.__fanout?.frames['remoteVideo'] !== undefined, undefined, { timeout: WAIT_MS });
    await expectDecoding(page.mainFrame(), 'remoteVideo');
    await screenshot(page, 'two-way-streaming');
  });

  it('an H264 publisher is published and played with H264 on an edge', async () => {
    pages.h264 = await publish(h264, 'H264');
    expect((await sample(pages.h264.page.mainFrame(), 'localVideo')).sentCodec).toBe('video/H264');
    pages.c = await player(h264, 'page');
    const s = await expectDecoding(pages.c.frame, 'screen');
    expect(s.videoCodec).toBe('video/H264');
  });

  it('the CDN status page shows every node up with the players per edge', async () => {
    const page = await newPage();
    await page.goto(`${BASE}/status.html`);
    const l = await loads();
    for (const id of ['origin', 'edge-1', 'edge-2']) {
      await page.waitForSelector(`tr[data-node="${id}"] .pill.up`, { timeout: WAIT_MS });
      await page.waitForFunction(
        ([node, n]) => document.querySelector(`tr[data-node="${node}"] td.players`)?.textContent === n,
        [id, String(l[id]?.subscribers)] as const,
        { timeout: 5000 },
      );
    }
    expect(await page.textContent('#liveStreams')).toBe('2');
    await screenshot(page, 'cdn-status');
    await page.close();
  });

  it('stopping a player gives STOPPED and removes its subscriber from its edge', async () => {
    const b = pages.b;
    if (b === undefined) throw new Error('no player b');
    const before = await loads();
    await b.frame.click('#stopBtn');
    await b.frame.waitForSelector('#player[data-status="STOPPED"]', { timeout: WAIT_MS });
    await eventually(`${b.node} subscribers`, loads, (x) => x[b.node]?.subscribers === (before[b.node]?.subscribers ?? 0) - 1);
    expect(await b.frame.$('#screen video')).toBeNull();
  });

  // npm test installs nftables (scripts/test.mjs); without it this test fails rather than skip.
  it('a player losing packets on its edge link gets NOT_ENOUGH_BANDWIDTH with its loss figures', async () => {
    const a = pages.a;
    if (a === undefined) throw new Error('no player a');
    // Drop 70 % of the UDP packets the edges send (their media ports): real loss, seen by getStats.
    const nft = (...args: string[]): void => void execFileSync('nft', args);
    nft('add', 'table', 'inet', 'fanout_e2e');
    try {
      nft('add', 'chain', 'inet', 'fanout_e2e', 'out', '{ type filter hook output priority 0; }');
      nft('add', 'rule', 'inet', 'fanout_e2e', 'out', 'udp', 'sport', '21000-22999', 'numgen', 'random', 'mod', '100', '<', '70', 'drop');
      const text = await eventually(
        'the weak-connection notice',
        async () => (await a.frame.textContent('#playerState')) ?? '',
        (t) => /Weak connection/.test(t),
        15_000,
      );
      const percent = Number(/([\d.]+)% lost/.exec(text)?.[1]);
      expect(percent).toBeGreaterThan(10);
      timings.notEnoughBandwidth = { udpDropPercent: 70, reportedLossPercent: percent };
      expect(await a.frame.getAttribute('#player', 'data-status')).toBe('PLAYING');
    } finally {
      nft('delete', 'table', 'inet', 'fanout_e2e');
    }
  });

  it('unpublishing tells the players (STOPPED) and leaves no Fanout state in any Janus node', async () => {
    const { vp8: p1, h264: p2, a, c } = pages;
    if (p1 === undefined || p2 === undefined || a === undefined || c === undefined) throw new Error('missing pages');
    await p1.page.click('#publishBtn');
    await p2.page.click('#publishBtn');
    for (const p of [p1, p2]) await p.page.waitForSelector('#publishStatus[data-status="UNPUBLISHED"]', { timeout: WAIT_MS });
    for (const p of [a, c]) {
      await p.frame.waitForSelector('#player[data-status="STOPPED"], #player[data-status="UNPUBLISHED"]', { timeout: WAIT_MS });
    }
    await p1.page.waitForSelector('#playStatus[data-status="STOPPED"]', { timeout: WAIT_MS });
    await eventually('no load on any node', loads, (x) => Object.values(x).every((n) => n.publishers === 0 && n.subscribers === 0));
    const secret = stack?.secrets().janusApiSecret ?? '';
    for (const [node, url] of Object.entries(janusUrls)) {
      const janus = await JanusInspector.connect(url, secret);
      try {
        const rooms = await eventually(`${node}: Fanout rooms`, () => janus.fanoutRooms(), (r) => r.length === 0);
        expect(rooms, node).toEqual([]);
      } finally {
        await janus.close();
      }
    }
  });

  it('publishing on an edge is placed on the origin: the SDK follows the redirect and is PUBLISHING there', async () => {
    const before = await bridgeLoads(stack);
    const page = await twoWay('ws://edge-1.localhost:8787/');
    await page.fill('#publishStream', `e2e-edge-${Date.now().toString(36)}`);
    await page.click('#publishBtn');
    await page.waitForSelector('#publishStatus[data-status="PUBLISHING"]', { timeout: WAIT_MS });
    const loads = await bridgeLoads(stack);
    expect(loads['origin']?.publishers).toBe((before['origin']?.publishers ?? 0) + 1);
    expect(loads['edge-1']?.publishers).toBe(before['edge-1']?.publishers ?? 0);
    await page.click('#publishBtn');
    await page.waitForSelector('#publishStatus[data-status="UNPUBLISHED"]', { timeout: WAIT_MS });
    await eventually('the origin publisher gone', () => bridgeLoads(stack), (l) => l['origin']?.publishers === (before['origin']?.publishers ?? 0), 5000);
    await page.close();
  });

  it('the SDK with lbUrl asks the origin\'s load balancer (a cross-origin GET) and connects to the edge it names', async () => {
    const page = await newPage();
    await page.goto('http://localhost:8787/two-way-streaming.html');
    const url = await page.evaluate(
      () =>
        new Promise<string>((resolve, reject) => {
          const { createSession, SESSION_STATUS } = window.Fanout;
          const s = createSession({ urlServer: 'ws://origin.localhost:8787/', lbUrl: 'http://origin.localhost:8787/lb' });
          s.on(SESSION_STATUS.ESTABLISHED, () => {
            resolve(s.getServerUrl());
            s.disconnect();
          });
          s.on(SESSION_STATUS.FAILED, (_, info) => reject(new Error(info)));
        }),
    );
    expect(url).toMatch(/^ws:\/\/edge-[12]\.localhost:8787\/$/);
    await page.close();
  });

  it('playing an unknown stream gives FAILED "stream not found"', async () => {
    const page = await newPage();
    await page.goto(`${BASE}/embed-player.html`);
    await page.fill('#streamName', 'no-such-stream');
    await page.click('#testBtn');
    await page.click('#playBtn');
    await page.waitForSelector('#player[data-status="FAILED"]', { timeout: WAIT_MS });
    expect(await page.textContent('#playerState')).toMatch(/stream not found/i);
    await page.close();
  });
});
