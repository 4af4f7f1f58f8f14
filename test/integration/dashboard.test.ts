/**
 * The live dashboard (worker/public/status.html) in headless Chromium during real streams: the
 * local stack in the test's network namespace, werift publishers and players through the bridge
 * API, and the page reading /status.json through the worker. It checks the nodes' health and
 * player counts, each stream's edges and viewers, Janus's bitrates and the chart, sees the page
 * follow a new player without a reload, and saves .fanout/screenshots/dashboard.png.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Browser } from '../harness/browser.ts';
import { BridgeClient, isPlayerEvent, isPublisherEvent } from '../harness/bridge-client.ts';
import { newMediaId } from '../../protocol/index.ts';
import { ROOT, Stack } from '../harness/stack.ts';
import { WeriftPublisher, WeriftSubscriber } from '../harness/werift-peer.ts';

const SCREENSHOT = join(ROOT, '.fanout/screenshots/dashboard.png');
const WAIT_MS = 20_000;

let stack: Stack;
let client: BridgeClient;
let browser: Browser;
let page: Page;
const peers: Array<WeriftPublisher | WeriftSubscriber> = [];

beforeAll(async () => {
  stack = await Stack.start();
  client = await BridgeClient.connect(stack.info().bridgeUrl, stack.secrets().bridgeSecret);
  browser = await Browser.launch({ viewport: { width: 1280, height: 1000 } });
});

afterAll(async () => {
  await browser?.close();
  await Promise.all(peers.splice(0).map((p) => p.close()));
  await client?.close();
  await stack?.stop();
});

async function publish(name: string): Promise<void> {
  const pub = new WeriftPublisher({ keyframeIntervalMs: 2000 });
  peers.push(pub);
  const publishId = newMediaId('pub');
  const r = await client.request('publish', { publishId, node: 'origin', stream: name, sdp: await pub.offer() });
  await pub.accept(r.sdp);
  await client.waitForEvent('PUBLISHING', isPublisherEvent(publishId, 'PUBLISHING'), { timeoutMs: 15_000 });
}

async function play(node: string, name: string): Promise<void> {
  const playId = newMediaId('play');
  const r = await client.request('play', { playId, node, stream: name });
  const sub = new WeriftSubscriber();
  peers.push(sub);
  await client.request('answer', { playId, sdp: await sub.answer(r.sdp) });
  await client.waitForEvent('PLAYING', isPlayerEvent(playId, 'PLAYING'), { timeoutMs: 10_000 });
}

const text = async (selector: string): Promise<string> => (await page.textContent(selector))?.trim() ?? '';

/** Waits until the page shows `expected` at `selector` (it polls every 2 s: no reload here). */
async function shows(selector: string, expected: string | RegExp): Promise<void> {
  await page.waitForFunction(
    ([sel, want, isRe]) => {
      const t = document.querySelector(sel)?.textContent?.trim() ?? '';
      return isRe ? new RegExp(want).test(t) : t === want;
    },
    [selector, typeof expected === 'string' ? expected : expected.source, typeof expected !== 'string'] as const,
    { timeout: WAIT_MS },
  );
}

describe('the CDN status dashboard', () => {
  it('shows nodes, streams with their edges and viewers, bitrates and the viewers chart, live', async () => {
    await publish('lobby');
    await publish('keynote');
    page = await browser.newPage();
    await page.goto(`${stack.info().workerUrl}/status.html`);
    await page.waitForSelector('tr[data-node="edge-2"] .pill.up', { timeout: WAIT_MS });

    // Players join over a few seconds, so the chart has a rise to show.
    await play('edge-1', 'keynote');
    await new Promise((r) => setTimeout(r, 2200));
    await play('edge-1', 'keynote');
    await play('edge-2', 'keynote');
    await new Promise((r) => setTimeout(r, 2200));
    await play('edge-2', 'lobby');

    await shows('#liveStreams', '2');
    await shows('#players', '4');
    await shows('tr[data-node="edge-1"] td.players', '2');
    await shows('tr[data-node="edge-2"] td.players', '2');
    await shows('tr[data-node="origin"] td.publishers', '2');
    await shows('tr[data-stream="keynote"] td.viewers', '3');
    await shows('tr[data-stream="lobby"] td.viewers', '1');
    await shows('tr[data-stream="keynote"] .chip[data-node="edge-1"] .count', '2');
    await shows('tr[data-stream="keynote"] .chip[data-node="edge-2"] .count', '1');
    await shows('tr[data-stream="keynote"] .chip[data-node="origin"] .count', '0');
    for (const id of ['origin', 'edge-1', 'edge-2']) expect(await page.$(`tr[data-node="${id}"] .pill.up`)).not.toBeNull();

    // Janus's statistics arrive every 2 s: ingest per stream and what each edge sends its players.
    await shows('tr[data-stream="keynote"] td.ingest', /^\d+ kbit\/s$|^[\d.]+ Mbit\/s$/);
    await shows('tr[data-node="edge-1"] td.egress', /^\d+ kbit\/s$|^[\d.]+ Mbit\/s$/);
    await shows('#ingest', /kbit\/s|Mbit\/s/);
    const ingestKbps = Number(/^(\d+) kbit\/s$/.exec(await text('tr[data-stream="keynote"] td.ingest'))?.[1] ?? 'NaN');
    if (!Number.isNaN(ingestKbps)) expect(ingestKbps).toBeGreaterThan(50);

    // The chart: the bridge's history, whose last sample counts the 4 players.
    await page.waitForFunction(() => {
      const c = document.getElementById('chart');
      return Number(c?.dataset['samples'] ?? 0) >= 4 && c?.dataset['lastViewers'] === '4';
    }, undefined, { timeout: WAIT_MS });
    expect(await page.$('#chart svg polyline.viewers')).not.toBeNull();

    // Live: a new player shows up without a reload.
    const updates = Number(await page.getAttribute('body', 'data-updates'));
    await play('edge-1', 'lobby');
    await shows('#players', '5');
    await shows('tr[data-stream="lobby"] td.viewers', '2');
    expect(Number(await page.getAttribute('body', 'data-updates'))).toBeGreaterThan(updates);
    await page.waitForFunction(() => document.getElementById('chart')?.dataset['lastViewers'] === '5', undefined, { timeout: WAIT_MS });
    // Let one more statistics period pass so every bitrate on the picture is filled in.
    await shows('tr[data-node="edge-2"] td.egress', /^\d+ kbit\/s$|^[\d.]+ Mbit\/s$/);

    expect(browser.log(page).errors).toEqual([]);
    mkdirSync(join(ROOT, '.fanout/screenshots'), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    // And on a phone: nothing may overflow the width.
    await page.setViewportSize({ width: 390, height: 844 });
    await page.waitForFunction(() => document.getElementById('chart')?.querySelector('svg')?.getAttribute('width') === String(document.getElementById('chart')?.clientWidth), undefined, { timeout: WAIT_MS });
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await page.screenshot({ path: SCREENSHOT.replace(/\.png$/, '-phone.png'), fullPage: true });
  });
});
