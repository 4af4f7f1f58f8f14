/**
 * Several origins (test/fixtures/two-origins.xml: origin, origin-2, edge-1, edge-2), with real Janus
 * nodes, their agents, workerd and Chromium running the SDK:
 * - a publisher on each origin, each stream played through the load balancer on an edge;
 * - a name is published once across the CDN: the same name on the other origin is refused (the
 *   stream's record, a Durable Object, asked through real workerd), also after the records and the
 *   coordination objects are reset while both streams play (they rebuild from the agents; no client
 *   hears of it);
 * - kill -9 of one origin's Janus ends only the streams on it: the other stream's publisher and
 *   player see nothing and keep decoding, while the SDK's `republishOnFailure` publishes the killed
 *   origin's stream again, placed on the other origin, and its player (`replayOnFailure`) plays it
 *   again on an edge.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Browser } from '../harness/browser.ts';
import { bridgeLoads, eventually } from '../harness/poll.ts';
import { ROOT, Stack } from '../harness/stack.ts';

type Log = Array<{ status: string; info: string; at: number }>;

declare global {
  interface Window {
    Fanout: typeof import('../../sdk/index.ts');
    __origins?: { log: Log; stream: import('../../sdk/index.ts').Stream };
  }
}

const TOPOLOGY = join(ROOT, 'test/fixtures/two-origins.xml');
const WAIT_MS = 20_000;
const IN_USE = 'Stream name is already in use';

let stack: Stack | undefined;
let browser: Browser | undefined;
const pages: Page[] = [];

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

beforeAll(async () => {
  const built = spawnSync(process.execPath, [join(ROOT, 'scripts/build-sdk.mjs'), '--browser'], { cwd: ROOT, encoding: 'utf8' });
  if (built.status !== 0) throw new Error(`the SDK bundle did not build:\n${built.stdout}${built.stderr}`);
  // A killed Janus stays down (no restart): whatever plays afterwards runs on the other origin.
  stack = await Stack.start({ topology: TOPOLOGY, env: { FANOUT_JANUS_RESTART_MS: '0', WCS_MAX_SESSIONS_PER_MINUTE: '0' } });
  browser = await Browser.launch();
}, 150_000);

afterAll(async () => {
  for (const p of pages.splice(0)) await Promise.race([p.close({ runBeforeUnload: false }).catch(() => undefined), sleep(5000)]);
  await browser?.close();
  await stack?.stop();
}, 60_000);

/** A tab running the SDK: a session to `url`, one stream started with `how`, every status logged. */
async function sdkStream(url: string, name: string, how: 'publish' | 'play'): Promise<Page> {
  if (browser === undefined) throw new Error('no browser');
  const page = await browser.newPage();
  pages.push(page);
  await page.goto('http://localhost:8787/two-way-streaming.html');
  await page.evaluate(
    ({ url, name, how }) =>
      new Promise<void>((resolve, reject) => {
        const { createSession, SESSION_STATUS, STREAM_STATUS } = window.Fanout;
        const display = document.createElement('div');
        document.body.appendChild(display);
        const log: Log = [];
        const session = createSession({ urlServer: url });
        session.on(SESSION_STATUS.FAILED, (_, info) => reject(new Error(info)));
        session.on(SESSION_STATUS.ESTABLISHED, () => {
          const retry = { attempts: 6, delayMs: 500 };
          const st = session.createStream({ name, display, ...(how === 'publish' ? { republishOnFailure: retry } : { replayOnFailure: retry }) });
          window.__origins = { log, stream: st };
          for (const status of [STREAM_STATUS.PENDING, STREAM_STATUS.PUBLISHING, STREAM_STATUS.PLAYING, STREAM_STATUS.UNPUBLISHED, STREAM_STATUS.STOPPED] as const) {
            st.on(status, (x) => log.push({ status, info: x.getInfo() ?? '', at: Date.now() }));
          }
          st.on(STREAM_STATUS.FAILED, (_, info) => log.push({ status: 'FAILED', info, at: Date.now() }));
          if (how === 'publish') st.publish();
          else st.play();
          resolve();
        });
      }),
    { url, name, how },
  );
  return page;
}

function logOf(page: Page): Promise<Log> {
  return page.evaluate(() => window.__origins?.log ?? []);
}

/** Waits for the `n`-th entry with `status`; fails early on a final status. */
async function nth(page: Page, status: string, n: number, timeoutMs = WAIT_MS): Promise<Log> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const log = await logOf(page);
    if (log.filter((e) => e.status === status).length >= n) return log;
    if (log.some((e) => ['FAILED', 'STOPPED', 'UNPUBLISHED'].includes(e.status)) || Date.now() > deadline) throw new Error(`no ${status} #${n}: ${JSON.stringify(log)}`);
    await sleep(100);
  }
}

function framesDecoded(page: Page): Promise<number> {
  return page.evaluate(async () => {
    let frames = 0;
    (await window.__origins?.stream.getStats())?.forEach((r: Record<string, unknown>) => {
      if (r['type'] === 'inbound-rtp' && r['kind'] === 'video' && typeof r['framesDecoded'] === 'number') frames += r['framesDecoded'];
    });
    return frames;
  });
}

/** Frames keep being decoded: more than 5 within 10 s. */
async function decoding(page: Page, what: string): Promise<void> {
  const first = await framesDecoded(page);
  await eventually(`${what} decoding`, () => framesDecoded(page), (n) => n > first + 5, 10_000, 200);
}

/** A one-off publish of `name` at `url`, without retries: its final status and info. */
async function publishOnce(url: string, name: string): Promise<{ status: string; info: string }> {
  if (browser === undefined) throw new Error('no browser');
  const page = await browser.newPage();
  pages.push(page);
  await page.goto('http://localhost:8787/two-way-streaming.html');
  return page.evaluate(
    ({ url, name }) =>
      new Promise<{ status: string; info: string }>((resolve, reject) => {
        const { createSession, SESSION_STATUS, STREAM_STATUS } = window.Fanout;
        const session = createSession({ urlServer: url });
        session.on(SESSION_STATUS.FAILED, (_, info) => reject(new Error(info)));
        session.on(SESSION_STATUS.ESTABLISHED, () => {
          const st = session.createStream({ name, display: document.body });
          st.on(STREAM_STATUS.FAILED, (_, info) => {
            resolve({ status: 'FAILED', info });
            session.disconnect();
          });
          st.on(STREAM_STATUS.PUBLISHING, () => {
            resolve({ status: 'PUBLISHING', info: '' });
            session.disconnect();
          });
          st.publish();
        });
      }),
    { url, name },
  );
}

describe('two origins', () => {
  it('a publisher on each; a name is published once across the CDN; kill -9 of one origin\'s Janus ends only its stream, which the SDK republishes on the other origin, where its player finds it again', async () => {
    const tag = Date.now().toString(36);
    const onOrigin = `o1-${tag}`;
    const onOrigin2 = `o2-${tag}`;
    const pubA = await sdkStream('ws://origin.localhost:8787/', onOrigin, 'publish');
    const pubB = await sdkStream('ws://origin-2.localhost:8787/', onOrigin2, 'publish');
    await nth(pubA, 'PUBLISHING', 1);
    await nth(pubB, 'PUBLISHING', 1);
    const loads = await bridgeLoads(stack);
    expect([loads['origin']?.publishers, loads['origin-2']?.publishers]).toEqual([1, 1]);

    // Players ask either origin's load balancer and play on an edge.
    const playA = await sdkStream('ws://origin.localhost:8787/', onOrigin, 'play');
    const playB = await sdkStream('ws://origin-2.localhost:8787/', onOrigin2, 'play');
    await nth(playA, 'PLAYING', 1);
    await nth(playB, 'PLAYING', 1);
    await decoding(playA, 'player of the origin stream');
    await decoding(playB, 'player of the origin-2 stream');

    // The same name on the other origin: refused there by the stream's record (that origin's own
    // agent has no such stream), with WCS's info; the frame's reason names the holder (worker suite).
    expect(await publishOnce('ws://origin.localhost:8787/', onOrigin2)).toEqual({ status: 'FAILED', info: IN_USE });
    expect(await publishOnce('ws://origin-2.localhost:8787/', onOrigin)).toEqual({ status: 'FAILED', info: IN_USE });
    expect(await bridgeLoads(stack)).toMatchObject({ origin: { publishers: 1 }, 'origin-2': { publishers: 1 } });

    // The coordination objects and both streams' records reset, storage and all, while both play:
    // no client hears of it, and the records rebuild from the origins' agents (the names stay held).
    const resetAt = Date.now();
    const reset = await fetch(`http://127.0.0.1:8787/admin/reset?stream=${onOrigin}&stream=${onOrigin2}`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${stack!.secrets().bridgeSecret}` },
    });
    expect(await reset.json()).toEqual({ reset: ['balancer', 'coordinator', `stream ${onOrigin}`, `stream ${onOrigin2}`] });
    expect(await publishOnce('ws://origin.localhost:8787/', onOrigin2)).toEqual({ status: 'FAILED', info: IN_USE });
    expect(await publishOnce('ws://origin-2.localhost:8787/', onOrigin)).toEqual({ status: 'FAILED', info: IN_USE });
    for (const [what, page] of [['publisher A', pubA], ['publisher B', pubB], ['player A', playA], ['player B', playB]] as const) {
      expect((await logOf(page)).filter((e) => e.at >= resetAt), `${what} after the reset`).toEqual([]);
    }
    await decoding(playA, 'player of the origin stream after the reset');

    const killedAt = Date.now();
    process.kill(stack!.pidOf('janus origin'), 'SIGKILL');

    // The killed origin's stream: republished (PENDING, then PUBLISHING again), now on origin-2.
    const republished = await nth(pubA, 'PUBLISHING', 2, 30_000);
    const again = republished.filter((e) => e.status === 'PUBLISHING')[1]!;
    const pending = republished.find((e) => e.status === 'PENDING' && e.at >= killedAt);
    expect(pending?.info).toMatch(/^republishing \(attempt \d of 6\) after: /);
    const after = await eventually('both streams on origin-2', () => bridgeLoads(stack), (l) => l['origin-2']?.publishers === 2, 10_000);
    expect(after['origin-2']?.publishers).toBe(2);
    // Its player plays it again, from an edge, by itself.
    await nth(playA, 'PLAYING', 2, 30_000);
    await decoding(playA, 'player of the republished stream');

    // The other origin's stream saw nothing, and never stopped.
    for (const [what, page] of [['publisher', pubB], ['player', playB]] as const) {
      expect((await logOf(page)).filter((e) => e.at >= killedAt), `origin-2 ${what}`).toEqual([]);
    }
    await decoding(playB, 'player of the origin-2 stream after the kill');

    // The republished name is held on origin-2 now: asked anywhere, it is refused a second time.
    expect(await publishOnce('ws://origin-2.localhost:8787/', onOrigin)).toEqual({ status: 'FAILED', info: IN_USE });
    console.log(`[origins] killed origin's Janus; republished on origin-2 after ${again.at - killedAt} ms`);

    // Unpublish ends every player, on whichever origin the stream now lives.
    for (const page of [pubA, pubB]) await page.evaluate(() => window.__origins?.stream.stop());
    await nth(pubA, 'UNPUBLISHED', 1);
    await nth(pubB, 'UNPUBLISHED', 1);
    await eventually('no publisher left', () => bridgeLoads(stack), (l) => (l['origin-2']?.publishers ?? 0) === 0, 10_000);
  }, 180_000);
});
