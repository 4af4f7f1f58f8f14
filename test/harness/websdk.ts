/**
 * The official Flashphoner WebSDK (`@flashphoner/websdk`, as published on npm) for the browser
 * suites: its own `src/flashphoner-core.js` bundled for the browser with esbuild, unmodified (no
 * patches, no plugins, no shims: esbuild only resolves the package's own requires), and served with
 * the test pages (test/pages) from a small static server on loopback. The pages' origin is
 * http://localhost:<port>, a secure context for getUserMedia; they reach the CDN cross-origin, as a
 * WCS user's own site would.
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import { extname, join, normalize } from 'node:path';
import { build } from 'esbuild';
import { ROOT } from './stack.ts';

export const PAGES_DIR = join(ROOT, 'test/pages');

/** The package's entry point, resolved the way a bundler of a WCS user's page would. */
export function webSdkEntry(): string {
  return createRequire(join(ROOT, 'package.json')).resolve('@flashphoner/websdk/src/flashphoner-core.js');
}

export function webSdkVersion(): string {
  const pkg: unknown = JSON.parse(readFileSync(join(ROOT, 'node_modules/@flashphoner/websdk/package.json'), 'utf8'));
  return typeof pkg === 'object' && pkg !== null && 'version' in pkg && typeof pkg.version === 'string' ? pkg.version : 'unknown';
}

/** Bundles flashphoner-core.js into one script that defines the global `Flashphoner`. */
export async function bundleWebSdk(): Promise<string> {
  const result = await build({
    entryPoints: [webSdkEntry()],
    bundle: true,
    format: 'iife',
    globalName: 'Flashphoner',
    platform: 'browser',
    write: false,
    logLevel: 'silent',
  });
  const out = result.outputFiles[0];
  if (out === undefined) throw new Error('esbuild produced no bundle for the WebSDK');
  return out.text;
}

const TYPES: Record<string, string> = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8' };

export interface PageServer {
  /** e.g. http://localhost:41234 */
  readonly url: string;
  close(): Promise<void>;
}

/** Serves test/pages and `/flashphoner.js` (the bundle) on 127.0.0.1, on a free port. */
export async function servePages(bundle: string): Promise<PageServer> {
  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (path === '/flashphoner.js') {
      res.writeHead(200, { 'content-type': TYPES['.js'], 'cache-control': 'no-store' });
      res.end(bundle);
      return;
    }
    const file = normalize(join(PAGES_DIR, path === '/' ? 'index.html' : path));
    if (!file.startsWith(PAGES_DIR)) {
      res.writeHead(403).end();
      return;
    }
    try {
      const body = readFileSync(file);
      res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-store' });
      res.end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('the page server has no port');
  return {
    url: `http://localhost:${address.port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
