/**
 * The official Flashphoner WebSDK (`@flashphoner/websdk` from npm, its src/flashphoner-core.js
 * bundled unmodified by esbuild) against the whole local CDN in headless Chromium, in the test's
 * network namespace. Pages of our own (test/pages) call it the way a WCS page does: createSession,
 * createStream({name, display}), publish() / play(), stop(), disconnect(). The WebSDK plays by
 * sending its own offer, which the bridge answers from a Streaming mountpoint (bridge/sdp).
 *
 * One stack (FEWESTCALLS, the worker pinging every 1 s) and one browser serve the file; each test
 * leaves no stream behind, and Janus itself is asked that nothing leaked. Time to first frame of
 * WebSDK players (one at a time, and 8 joining at once) goes to .fanout/bench/websdk-timings.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Browser } from '../harness/browser.ts';
import { JanusInspector } from '../harness/janus-inspect.ts';
import { bridgeLoads, eventually, type NodeLoads } from '../harness/poll.ts';
import { ROOT, Stack } from '../harness/stack.ts';
import { bundleWebSdk, servePages, webSdkVersion, type PageServer } from '../harness/websdk.ts';

const ORIGIN_WS = 'ws://origin.localhost:8787';
const LB_URL = 'http://origin.localhost:8787/lb';
const JANUS_URLS = { origin: 'ws://127.0.0.1:8188', 'edge-1': 'ws://127.0.0.1:8189', 'edge-2': 'ws://127.0.0.1:8190' } as const;
type NodeId = keyof typeof JANUS_URLS;
const NODE_IDS = Object.keys(JANUS_URLS) as NodeId[];
const PING_INTERVAL_MS = 1000;
const WAIT_MS = 20_000;
const TIMINGS = join(ROOT, '.fanout/bench/websdk-timings.json');

// ---------------------------------------------------------------- in-page instrumentation (observes, changes nothing)

interface Observed {
  pcs: RTCPeerConnection[];
  /** Every WCS frame, by direction and message name, with its time. */
  frames: Array<{ dir: 'in' | 'out'; message: string; t: number }>;
  /** performance.now() of the first decoded frame per video element id. */
  firstFrame: Record<string, number>;
}

declare global {
  interface Window {
    __observed?: Observed;
    __websdk?: { events: Array<{ what: string; status: string; info: string; t: number }> };
  }
}

/** Runs before the page's scripts: keeps the peer connections, the WebSocket frames and first frames. */
function observe(): void {
  const state: Observed = { pcs: [], frames: [], firstFrame: {} };
  window.__observed = state;
  const PC = window.RTCPeerConnection;
  window.RTCPeerConnection = class extends PC {
    constructor(config?: RTCConfiguration) {
      super(config);
      state.pcs.push(this);
    }
  };
  const WS = window.WebSocket;
  const name = (data: unknown): string => {
    try {
      const m: unknown = typeof data === 'string' ? JSON.parse(data) : undefined;
      return typeof m === 'object' && m !== null && 'message' in m && typeof m.message === 'string' ? m.message : '?';
    } catch {
      return '?';
    }
  };
  window.WebSocket = class extends WS {
    constructor(url: string | URL, protocols?: string | string[]) {
      super(url, protocols);
      this.addEventListener('message', (e) => state.frames.push({ dir: 'in', message: name(e.data), t: performance.now() }));
    }
    override send(data: string | ArrayBufferLike | Blob | ArrayBufferView): void {
      state.frames.push({ dir: 'out', message: name(data), t: performance.now() });
      super.send(data);
    }
  };
  new MutationObserver((records) => {
    for (const r of records) {
      for (const n of r.addedNodes) {
        if (!(n instanceof HTMLVideoElement)) continue;
        const mark = (): void => {
          if (n.videoWidth > 0) state.firstFrame[n.id] ??= performance.now();
        };
        n.requestVideoFrameCallback(mark);
        n.addEventListener('resize', mark);
      }
    }
  }).observe(document, { subtree: true, childList: true });
}

interface Decoding {
  videoWidth: number;
  framesDecoded: number;
  audioPackets: number;
  codec: string;
}

/** Decoding figures of the page's open peer connections and the video in `holder`. */
async function decoding(page: Page, holder: string): Promise<Decoding> {
  return page.evaluate(async (id) => {
    const videos = [...document.querySelectorAll<HTMLVideoElement>(`#${id} video`)];
    const out = { videoWidth: Math.max(0, ...videos.map((x) => x.videoWidth)), framesDecoded: 0, audioPackets: 0, codec: '' };
    for (const pc of window.__observed?.pcs ?? []) {
      if (pc.connectionState === 'closed') continue;
      const report = await pc.getStats();
      report.forEach((s: Record<string, unknown>) => {
        if (s['type'] !== 'inbound-rtp') return;
        if (s['kind'] === 'video') {
          out.framesDecoded += typeof s['framesDecoded'] === 'number' ? s['framesDecoded'] : 0;
          const c: unknown = typeof s['codecId'] === 'string' ? report.get(s['codecId']) : undefined;
          if (typeof c === 'object' && c !== null && 'mimeType' in c && typeof c.mimeType === 'string') out.codec = c.mimeType;
        }
        if (s['kind'] === 'audio') out.audioPackets += typeof s['packetsReceived'] === 'number' ? s['packetsReceived'] : 0;
      });
    }
    return out;
  }, holder);
}

/**
 * Frames decoded and shown, and audio arriving: samples until both rise, for up to 3 s (a viewer that
 * joined while a keyframe was arriving waits for the next one, which Janus asks for at most once a second).
 */
async function expectDecoding(page: Page, holder: string, codec: string): Promise<void> {
  const a = await decoding(page, holder);
  const deadline = Date.now() + 3000;
  let b = a;
  do {
    await new Promise((r) => setTimeout(r, 250));
    b = await decoding(page, holder);
  } while ((b.framesDecoded <= a.framesDecoded || b.audioPackets <= a.audioPackets) && Date.now() < deadline);
  expect(b.videoWidth, `${holder}: videoWidth`).toBeGreaterThan(0);
  expect(b.framesDecoded, `${holder}: framesDecoded rising`).toBeGreaterThan(a.framesDecoded);
  expect(b.audioPackets, `${holder}: audio packets rising`).toBeGreaterThan(a.audioPackets);
  expect(b.codec.toLowerCase()).toBe(`video/${codec.toLowerCase()}`);
}

// ---------------------------------------------------------------- the stack, the bridge's view, Janus


let stack: Stack | undefined;
let browser: Browser | undefined;
let pages: PageServer | undefined;
const inspectors = new Map<NodeId, JanusInspector>();
const open: Page[] = [];
const timings = { webSdk: '', sequential: [] as Timing[], simultaneous: [] as Timing[] };

const loads = (): Promise<NodeLoads> => bridgeLoads(stack);

/** Janus holds nothing of any Fanout stream on any node, and the bridge counts no load. */
async function expectNothingLeft(): Promise<void> {
  await eventually(
    'Janus state and load',
    async () => {
      const state: Record<string, unknown> = {};
      for (const n of NODE_IDS) {
        const i = inspectors.get(n)!;
        state[n] = { rooms: (await i.fanoutRooms()).length, mountpoints: (await i.fanoutMountpoints()).length, load: (await loads())[n] };
      }
      return state;
    },
    (state) => Object.values(state).every((s) => JSON.stringify(s) === JSON.stringify({ rooms: 0, mountpoints: 0, load: { publishers: 0, subscribers: 0 } })),
  );
}

function diagnostics(page: Page): string {
  const log = browser?.log(page);
  return log === undefined ? '' : `\npage errors: ${log.errors.join(' | ')}\nconsole:\n${log.lines.slice(-20).join('\n')}`;
}

async function status(page: Page, id: string, wanted: string, ms = WAIT_MS): Promise<string> {
  try {
    await page.waitForSelector(`#${id}[data-status="${wanted}"]`, { timeout: ms });
  } catch (err) {
    throw new Error(`#${id} is "${await page.textContent(`#${id}`)}", not ${wanted}${diagnostics(page)}`, { cause: err });
  }
  return (await page.getAttribute(`#${id}`, 'data-info')) ?? '';
}

async function newPage(file: string): Promise<Page> {
  if (browser === undefined || pages === undefined) throw new Error('no browser');
  const page = await browser.newPage();
  open.push(page);
  await page.addInitScript(observe);
  await page.goto(`${pages.url}/${file}`);
  return page;
}

/** A publisher page: connected to the origin and PUBLISHING `name` with `codec`. */
async function publisher(name: string, codec: 'VP8' | 'H264'): Promise<Page> {
  const page = await newPage('websdk-publisher.html');
  await page.fill('#url', ORIGIN_WS);
  await page.click('#connectBtn');
  await status(page, 'sessionStatus', 'ESTABLISHED');
  await page.fill('#stream', name);
  await page.selectOption('#codec', codec);
  await page.click('#publishBtn');
  await status(page, 'publishStatus', 'PUBLISHING');
  return page;
}

/** A player page whose session went through the load balancer; returns the edge it is on. */
async function player(name: string): Promise<{ page: Page; edge: string }> {
  const page = await newPage('websdk-player.html');
  await page.fill('#url', ORIGIN_WS);
  await page.fill('#lbUrl', LB_URL);
  await page.fill('#stream', name);
  await page.click('#connectBtn');
  const server = await status(page, 'sessionStatus', 'ESTABLISHED');
  const edge = /^ws:\/\/(edge-\d)\.localhost:8787/.exec(server)?.[1];
  if (edge === undefined) throw new Error(`the player's session is on ${server}, not on an edge`);
  return { page, edge };
}

interface Timing {
  /** ms from the click on Play to the first decoded frame. */
  ttff: number;
  /** ms from the click to the playStream frame (the SDK's offer made). */
  offer: number;
  /** ms from the click to PLAYING (WebRTC up). */
  playing: number;
  /** ms from the offer sent to the first decoded frame: the CDN's part (the browser's own offer making excluded). */
  fromOffer: number;
}

/** Clicks Play and waits for PLAYING and a first frame. */
async function play(page: Page): Promise<Timing> {
  const clicked = await page.evaluate(() => performance.now());
  await page.click('#playBtn');
  await status(page, 'playStatus', 'PLAYING');
  const first = await eventually(
    'first frame',
    () => page.evaluate(() => Object.values(window.__observed?.firstFrame ?? {})[0]),
    (t) => t !== undefined,
  );
  const marks = await page.evaluate(() => ({
    offer: window.__observed?.frames.find((f) => f.dir === 'out' && f.message === 'playStream')?.t ?? NaN,
    playing: window.__websdk?.events.find((e) => e.what === 'playStatus' && e.status === 'PLAYING')?.t ?? NaN,
  }));
  return {
    ttff: Math.round((first ?? NaN) - clicked),
    offer: Math.round(marks.offer - clicked),
    playing: Math.round(marks.playing - clicked),
    fromOffer: Math.round((first ?? NaN) - marks.offer),
  };
}

beforeAll(async () => {
  const bundle = await bundleWebSdk();
  timings.webSdk = webSdkVersion();
  [stack, browser, pages] = await Promise.all([
    Stack.start({ env: { WCS_PING_INTERVAL_MS: String(PING_INTERVAL_MS) } }),
    Browser.launch(),
    servePages(bundle),
  ]);
  const { janusApiSecret } = stack.secrets();
  await eventually('nodes up', loads, (l) => NODE_IDS.every((n) => l[n] !== undefined));
  for (const n of NODE_IDS) inspectors.set(n, await JanusInspector.connect(JANUS_URLS[n], janusApiSecret));
});

afterEach(async () => {
  // Closing a page closes its sessions, which releases whatever they still held.
  await Promise.all(open.splice(0).map((p) => p.close().catch(() => undefined)));
  await expectNothingLeft();
});

afterAll(async () => {
  mkdirSync(join(ROOT, '.fanout/bench'), { recursive: true });
  writeFileSync(TIMINGS, `${JSON.stringify({ at: new Date().toISOString(), ...timings }, null, 2)}\n`);
  const show = (list: Timing[], key: keyof Timing): string => JSON.stringify(list.map((t) => t[key]));
  console.log(
    `WebSDK ${timings.webSdk} time to first frame (ms), from the click on Play: one at a time ${show(timings.sequential, 'ttff')}, 8 at once ${show(timings.simultaneous, 'ttff')}; ` +
      `from the offer sent: one at a time ${show(timings.sequential, 'fromOffer')}, 8 at once ${show(timings.simultaneous, 'fromOffer')}`,
  );
  await Promise.all([...inspectors.values()].map((i) => i.close()));
  await browser?.close();
  await pages?.close();
  await stack?.stop();
});

// ---------------------------------------------------------------- tests

describe('the official Flashphoner WebSDK against Fanout', () => {
  for (const codec of ['VP8', 'H264'] as const) {
    it(`${codec}+opus: publish on the origin (PUBLISHING); a player sent to an edge by the balancer plays its own offer (PLAYING, ${codec} decoded there); stop() gives STOPPED; the publisher's stop() gives UNPUBLISHED and the player is told`, async () => {
      const name = `websdk-${codec.toLowerCase()}`;
      const pub = await publisher(name, codec);

      const first = await player(name);
      timings.sequential.push(await play(first.page));
      await expectDecoding(first.page, 'remoteVideo', codec);
      expect((await loads())[first.edge]?.subscribers).toBe(1);
      // The WebSDK offered: its play went through a mountpoint on that edge.
      expect(await inspectors.get(first.edge as NodeId)!.fanoutMountpoints()).toHaveLength(1);

      await first.page.click('#stopBtn');
      await status(first.page, 'playStatus', 'STOPPED');
      await eventually('the stopped player gone', loads, (l) => l[first.edge]?.subscribers === 0);
      await eventually('its mountpoint gone', () => inspectors.get(first.edge as NodeId)!.fanoutMountpoints(), (m) => m.length === 0);

      const second = await player(name);
      timings.sequential.push(await play(second.page));
      await expectDecoding(second.page, 'remoteVideo', codec);

      await pub.click('#stopBtn');
      await status(pub, 'publishStatus', 'UNPUBLISHED');
      const info = await status(second.page, 'playStatus', 'STOPPED');
      expect(info).toMatch(/ended|unpublished/i);
    });
  }

  it('session.disconnect() gives DISCONNECTED, and the streams of the session are torn down in the bridge and in Janus', async () => {
    const pub = await publisher('websdk-disconnect', 'VP8');
    const { page, edge } = await player('websdk-disconnect');
    await play(page);
    expect((await loads())[edge]?.subscribers).toBe(1);

    await page.click('#disconnectBtn');
    await status(page, 'sessionStatus', 'DISCONNECTED');
    await eventually('the player gone from its edge', loads, (l) => l[edge]?.subscribers === 0);
    await eventually('its mountpoint gone', () => inspectors.get(edge as NodeId)!.fanoutMountpoints(), (m) => m.length === 0);

    await pub.click('#disconnectBtn');
    await status(pub, 'sessionStatus', 'DISCONNECTED');
    // afterEach checks that nothing of the stream is left on any node.
  });

  it('the keep-alive pings of the worker are answered by the WebSDK, and a session that answers them stays ESTABLISHED past the ping timeout', async () => {
    const { page } = await player('nothing-yet');
    await new Promise((r) => setTimeout(r, PING_INTERVAL_MS * 4));
    const frames = await page.evaluate(() => window.__observed?.frames ?? []);
    const pings = frames.filter((f) => f.dir === 'in' && f.message === 'ping');
    const pongs = frames.filter((f) => f.dir === 'out' && f.message === 'pong');
    expect(pings.length).toBeGreaterThanOrEqual(3);
    expect(pongs.length).toBe(pings.length);
    expect(await page.getAttribute('#sessionStatus', 'data-status')).toBe('ESTABLISHED');
  });

  it('playing an unknown stream gives FAILED with "CDN stream not found"', async () => {
    const { page } = await player('no-such-stream');
    await page.click('#playBtn');
    expect(await status(page, 'playStatus', 'FAILED')).toBe('CDN stream not found');
  });

  it('8 WebSDK players joining one edge at once all decode; their time to first frame is recorded', async () => {
    const pub = await publisher('websdk-eight', 'VP8');
    // One page per player, all sent to the same edge: FEWESTCALLS would spread them, so pin the edge.
    const players = await Promise.all(
      Array.from({ length: 8 }, async () => {
        const page = await newPage('websdk-player.html');
        await page.fill('#url', 'ws://edge-1.localhost:8787');
        await page.fill('#lbUrl', '');
        await page.fill('#stream', 'websdk-eight');
        await page.click('#connectBtn');
        await status(page, 'sessionStatus', 'ESTABLISHED');
        return page;
      }),
    );
    timings.simultaneous.push(...(await Promise.all(players.map((p) => play(p)))));
    for (const p of players) expect((await decoding(p, 'remoteVideo')).framesDecoded).toBeGreaterThan(0);
    expect((await loads())['edge-1']?.subscribers).toBe(8);
    // One mountpoint serves them all (same payload-type profile).
    expect(await inspectors.get('edge-1')!.fanoutMountpoints()).toHaveLength(1);
    await pub.click('#stopBtn');
    await status(pub, 'publishStatus', 'UNPUBLISHED');
  });
});
