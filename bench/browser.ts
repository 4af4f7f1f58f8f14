/**
 * Headless Chromium for the benchmark: the test harness's Browser (Debian's chromium, fake camera,
 * fresh profile) with the bench page (bench/page/bench-page.ts, bundled here by esbuild) served by
 * a tiny HTTP server on 127.0.0.1. A real loopback server, not request interception: Chromium
 * treats an intercepted page as public and then refuses its requests to loopback (local network
 * access). The page loads Fanout's SDK from the worker, as a customer's page would.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { build } from 'esbuild';
import type { Page } from 'playwright-core';
import { Browser } from '../test/harness/browser.ts';
import type { FanoutPlayArgs, JanusPlayArgs, PlayResult, PublishArgs, PublishResult } from './page/bench-page.ts';
import { errorText } from '../protocol/index.ts';

async function bundlePage(): Promise<string> {
  const out = await build({
    entryPoints: [new URL('./page/bench-page.ts', import.meta.url).pathname],
    bundle: true,
    format: 'iife',
    target: 'chrome120',
    write: false,
    logLevel: 'silent',
  });
  const file = out.outputFiles[0];
  if (file === undefined) throw new Error('esbuild produced no bench page bundle');
  return file.text;
}

function html(sdkUrl: string): string {
  return `<!doctype html><html><head><meta charset="utf-8"><title>Fanout bench</title>
<style>body{margin:0;background:#111}.player{display:inline-block;width:160px;height:120px}video{width:160px;height:120px}</style>
</head><body><div id="players"></div>
<script src="${sdkUrl}"></script><script src="/bench.js"></script></body></html>`;
}

/** A tab with the bench page loaded and its API ready. */
export class BenchPage {
  constructor(readonly page: Page) {}

  fanoutPlay(a: FanoutPlayArgs): Promise<PlayResult> {
    return this.page.evaluate((x) => window.fanoutBench.fanoutPlay(x), a);
  }

  /** Several Fanout players asked in the same tick. */
  fanoutPlayMany(a: FanoutPlayArgs, n: number): Promise<PlayResult[]> {
    return this.page.evaluate(({ x, k }) => Promise.all(Array.from({ length: k }, () => window.fanoutBench.fanoutPlay(x))), { x: a, k: n });
  }

  janusPlay(a: JanusPlayArgs): Promise<PlayResult> {
    return this.page.evaluate((x) => window.fanoutBench.janusPlay(x), a);
  }

  /** Several raw-Janus players asked in the same tick, one per args entry. */
  janusPlayMany(as: JanusPlayArgs[]): Promise<PlayResult[]> {
    return this.page.evaluate((xs) => Promise.all(xs.map((x) => window.fanoutBench.janusPlay(x))), as);
  }

  publish(a: PublishArgs): Promise<PublishResult> {
    return this.page.evaluate((x) => window.fanoutBench.fanoutPublish(x), a);
  }

  closeAll(): Promise<number> {
    return this.page.evaluate(() => window.fanoutBench.closeAll());
  }
}

export class BenchBrowser {
  readonly #browser: Browser;
  readonly #server: Server;
  readonly #pageUrl: string;
  readonly version: string;

  private constructor(browser: Browser, server: Server) {
    this.#browser = browser;
    this.#server = server;
    this.#pageUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/bench.html`;
    this.version = browser.context.browser()?.version() ?? '';
  }

  static async launch(sdkUrl: string): Promise<BenchBrowser> {
    const script = await bundlePage();
    const page = html(sdkUrl);
    const server = createServer((req, res) => {
      const body = req.url === '/bench.js' ? script : req.url === '/bench.html' ? page : undefined;
      res.writeHead(body === undefined ? 404 : 200, { 'content-type': req.url === '/bench.js' ? 'text/javascript' : 'text/html' });
      res.end(body ?? 'not found');
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    try {
      const browser = await Browser.launch({ args: ['--autoplay-policy=no-user-gesture-required'] });
      return new BenchBrowser(browser, server);
    } catch (err) {
      server.close();
      throw err;
    }
  }

  async newPage(): Promise<BenchPage> {
    const page = await this.#browser.newPage();
    const p = new BenchPage(page);
    try {
      await page.goto(this.#pageUrl, { timeout: 15_000 });
      await page.waitForFunction(() => window.fanoutBench !== undefined && window.Fanout !== undefined, undefined, { timeout: 15_000 });
    } catch (err) {
      throw new Error(`the bench page did not load: ${errorText(err)}\n${this.log(p)}`);
    }
    return p;
  }

  /** The page's recent console output, for failure messages. */
  log(p: BenchPage): string {
    const l = this.#browser.log(p.page);
    return [...l.errors.map((e) => `[pageerror] ${e}`), ...l.lines.slice(-20)].join('\n');
  }

  /** Closes the browser and the page server. Safe to call twice. */
  async close(): Promise<void> {
    this.#server.closeAllConnections();
    this.#server.close();
    await this.#browser.close();
  }
}
