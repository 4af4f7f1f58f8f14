/**
 * Headless Chromium for the browser suites: Debian's /usr/bin/chromium driven by playwright-core
 * (never a downloaded browser), with a fake camera and microphone, a fresh profile, and nothing
 * that phones home. `close()` is safe to call twice and removes the profile.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type ConsoleMessage, type Page } from 'playwright-core';
import { errorText } from '../../protocol/index.ts';

export const CHROMIUM_PATH = process.env['FANOUT_CHROMIUM'] ?? '/usr/bin/chromium';

export const CHROMIUM_ARGS: readonly string[] = [
  '--no-sandbox',
  '--use-fake-ui-for-media-stream',
  '--use-fake-device-for-media-stream',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-gpu',
  '--disable-dev-shm-usage',
  // Background tabs would throttle timers and rendering of the pages not in front.
  '--disable-background-timer-throttling',
  '--disable-renderer-backgrounding',
  '--disable-backgrounding-occluded-windows',
];

export interface BrowserOptions {
  /** Extra Chromium flags. */
  args?: string[];
  viewport?: { width: number; height: number };
}

/** What a page printed that a test may want in its failure message. */
export interface PageLog {
  lines: string[];
  errors: string[];
}

export class Browser {
  readonly context: BrowserContext;
  readonly #profile: string;
  readonly #logs = new WeakMap<Page, PageLog>();
  #closed = false;

  private constructor(context: BrowserContext, profile: string) {
    this.context = context;
    this.#profile = profile;
  }

  /** Launches Chromium with a fresh profile (a persistent context is how playwright takes one). */
  static async launch(opts: BrowserOptions = {}): Promise<Browser> {
    const profile = mkdtempSync(join(tmpdir(), 'fanout-chromium-'));
    try {
      const context = await chromium.launchPersistentContext(profile, {
        executablePath: CHROMIUM_PATH,
        headless: true,
        args: [...CHROMIUM_ARGS, ...(opts.args ?? [])],
        viewport: opts.viewport ?? { width: 1280, height: 860 },
        permissions: ['camera', 'microphone'],
        timeout: 30_000,
      });
      return new Browser(context, profile);
    } catch (err) {
      rmSync(profile, { recursive: true, force: true });
      throw new Error(`cannot launch ${CHROMIUM_PATH}: ${errorText(err)}`);
    }
  }

  /** A new tab whose console output and page errors are kept (see `log`). */
  async newPage(): Promise<Page> {
    const page = await this.context.newPage();
    const log: PageLog = { lines: [], errors: [] };
    this.#logs.set(page, log);
    page.on('console', (m: ConsoleMessage) => {
      log.lines.push(`[${m.type()}] ${m.text()}`);
      if (log.lines.length > 500) log.lines.shift();
    });
    page.on('pageerror', (err) => log.errors.push(err.message));
    return page;
  }

  log(page: Page): PageLog {
    return this.#logs.get(page) ?? { lines: [], errors: [] };
  }

  /** Closes every tab and the browser, then removes the profile. Safe to call twice. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      await Promise.race([this.context.close(), new Promise((r) => setTimeout(r, 10_000))]);
    } finally {
      this.context.browser()?.close().catch(() => undefined);
      rmSync(this.#profile, { recursive: true, force: true });
    }
  }
}
