/**
 * The live dashboard (worker/public/status.html) in headless Chromium during real streams: the
 * local stack in the test's network namespace with one agent per Janus node, werift publishers
 * and players through each node's agent API (the coordinator relays the streams to the edges),
 * and the page reading /status.json through the worker, which merges every agent's view (issue
 * 15, point 6: the dashboard aggregates every node). It checks the nodes' health and player
 * counts, each stream's edges and viewers, Janus's bitrates and the chart, sees the page follow a
 * new player without a reload, and saves .fanout/screenshots/dashboard.png.
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

const NODES = ['origin', 'edge-1', 'edge-2'] as const;
type NodeId = (typeof NODES)[number];

let stack: Stack;
/** A client of each node's agent API: a node's publishes and plays are its agent's. */
const clients = new Map<NodeId, BridgeClient>();
let browser: Browser;
let page: Page;
const peers: Array<WeriftPublisher | WeriftSubscriber> = [];

beforeAll(async () => {
  stack = await Stack.start();
  // One agent per node: the page must show what three processes know, merged.
  expect(new Set(NODES.map((n) => stack.agentUrl(n))).size).toBe(NODES.length);
  for (const n of NODES) clients.set(n, await BridgeClient.connect(stack.agentUrl(n), await stack.agentSecret(n)));
  browser = await Browser.launch({ viewport: { width: 1280, height: 1000 } });
});

afterAll(async () => {
  await browser?.close();
  await Promise.all(peers.splice(0).map((p) => p.close()));
  await Promise.all([...clients.values()].map((c) => c.close()));
  await stack?.stop();
});

function client(node: NodeId): BridgeClient {
  const c = clients.get(node);
  if (c === undefined) throw new Error(`no client of ${node}'s agent`);
  return c;
}

async function publish(name: string): Promise<void> {
  const pub = new WeriftPublisher({ keyframeIntervalMs: 2000 });
  peers.push(pub);
  const publishId = newMediaId('pub');
  const r = await client('origin').request('publish', { publishId, node: 'origin', stream: name, sdp: await pub.offer() });
  await pub.accept(r.sdp);
  await client('origin').waitForEvent('PUBLISHING', isPublisherEvent(publishId, 'PUBLISHING'), { timeoutMs: 15_000 });
}

async function play(node: NodeId, name: string): Promise<void> {
  const playId = newMediaId('play');
  const r = await client(node).request('play', { playId, node, stream: name });
  const sub = new WeriftSubscriber();
  peers.push(sub);
  await client(node).request('answer', { playId, sdp: await sub.answer(r.sdp) });
  await client(node).waitForEvent('PLAYING', isPlayerEvent(playId, 'PLAYING'), { timeoutMs: 10_000 });
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
    // The cascade time: the origin's agent times its forwards to both edges.
    await shows('tr[data-stream="keynote"] td:last-child', /^\d+ ms$/);
    for (const id of NODES) expect(await page.$(`tr[data-node="${id}"] .pill.up`)).not.toBeNull();

    // Janus's statistics arrive every 2 s: ingest per stream and what each edge sends its players.
    await shows('tr[data-stream="keynote"] td.ingest', /^\d+ kbit\/s$|^[\d.]+ Mbit\/s$/);
    await shows('tr[data-node="edge-1"] td.egress', /^\d+ kbit\/s$|^[\d.]+ Mbit\/s$/);
    await shows('#ingest', /kbit\/s|Mbit\/s/);
    const ingestKbps = Number(/^(\d+) kbit\/s$/.exec(await text('tr[data-stream="keynote"] td.ingest'))?.[1] ?? 'NaN');
    if (!Number.isNaN(ingestKbps)) expect(ingestKbps).toBeGreaterThan(50);

    // The chart: the agents' histories merged, whose last sample counts the 4 players (on two edges' agents).
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
