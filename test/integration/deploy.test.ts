/**
 * The deploy path, offline: `wrangler deploy --dry-run --outdir <tmp>` bundles the worker (and runs
 * wrangler.toml's build step, the browser SDK) without an account or a network. Run inside
 * test/netns there is no network at all, so a step that phoned home would fail here. wrangler's
 * telemetry, update check and Request.cf fetch are off, its files in a temporary folder.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT } from '../harness/stack.ts';

const dir = mkdtempSync(join(tmpdir(), 'fanout-deploy-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function offlineEnv(): Record<string, string> {
  const tmp = join(dir, 'tmp');
  mkdirSync(join(tmp, 'update-check'), { recursive: true });
  // wrangler checks npm for a newer version when it prints an error: tell it it is current.
  writeFileSync(join(tmp, 'update-check', 'wrangler-latest.json'), JSON.stringify({ latest: '4.86.0', lastUpdate: 32503680000000 }));
  return {
    PATH: process.env['PATH'] ?? '/usr/bin:/bin',
    HOME: dir,
    XDG_CONFIG_HOME: join(dir, 'xdg'),
    TMPDIR: tmp,
    WRANGLER_SEND_METRICS: 'false',
    WRANGLER_SEND_ERROR_REPORTS: 'false',
    WRANGLER_HIDE_BANNER: 'true',
    CLOUDFLARE_CF_FETCH_ENABLED: 'false',
    NO_COLOR: '1',
  };
}

describe('wrangler deploy --dry-run', () => {
  it('bundles the worker offline with its Durable Object, assets and vars bound, and the SDK built', () => {
    const out = join(dir, 'out');
    const r = spawnSync(join(ROOT, 'node_modules/.bin/wrangler'), ['deploy', '--dry-run', '--outdir', out], { cwd: ROOT, env: offlineEnv(), encoding: 'utf8', timeout: 90_000 });
    const log = `${r.stdout}\n${r.stderr}`;
    expect(r.status, log).toBe(0);
    expect(log).toContain('--dry-run: exiting now.');
    expect(log).toMatch(/env\.BALANCER \(Balancer\)\s+Durable Object/);
    expect(log).toMatch(/env\.ASSETS\s+Assets/);
    expect(log).toContain('env.BRIDGE_URL');
    expect(log).toContain('build-sdk: worker/public/sdk/fanout.js');

    const bundle = join(out, 'index.js');
    expect(existsSync(bundle)).toBe(true);
    expect(statSync(bundle).size).toBeGreaterThan(50_000);
    const text = readFileSync(bundle, 'utf8');
    // The entry's exports: the fetch handler and the Balancer class wrangler binds.
    expect(text).toMatch(/export\s*\{[^}]*\bBalancer\b[^}]*\}/);
    expect(text).toContain('/status.json');
    // Runtime-free code only: nothing Node-only was pulled into the worker.
    expect(text).not.toMatch(/from ["']node:(fs|child_process|net)["']/);
  });

  it('wrangler.toml\'s commented production settings, uncommented, bundle for --env production with the production vars', () => {
    const toml = readFileSync(join(ROOT, 'wrangler.toml'), 'utf8');
    const start = toml.indexOf('# [env.production]');
    expect(start).toBeGreaterThan(0);
    // Uncomment the block; paths absolute, since the copy lives outside the repository.
    const production = toml
      .slice(start)
      .split('\n')
      .map((l) => l.replace(/^# ?/, ''))
      .join('\n');
    const config = (toml.slice(0, start) + production)
      .replace('main = "worker/index.ts"', `main = "${join(ROOT, 'worker/index.ts')}"`)
      .replace('directory = "worker/public"', `directory = "${join(ROOT, 'worker/public')}"`)
      .replace('command = "node scripts/build-sdk.mjs --browser"', `command = "node ${join(ROOT, 'scripts/build-sdk.mjs')} --browser"`)
      .replace('watch_dir = "sdk"', `watch_dir = "${join(ROOT, 'sdk')}"`);
    expect(config).toContain('routes = [');
    const file = join(dir, 'wrangler.production.toml');
    writeFileSync(file, config);
    const out = join(dir, 'out-production');
    const r = spawnSync(join(ROOT, 'node_modules/.bin/wrangler'), ['deploy', '--dry-run', '--env', 'production', '--config', file, '--outdir', out], {
      cwd: ROOT,
      env: offlineEnv(),
      encoding: 'utf8',
      timeout: 90_000,
    });
    const log = `${r.stdout}\n${r.stderr}`;
    expect(r.status, log).toBe(0);
    expect(log).toContain('env.BRIDGE_URL ("https://bridge.cdn.example.com")');
    expect(log).toContain('env.WORKER_HOSTS ("cdn.example.com")');
    expect(log).toMatch(/env\.BALANCER \(Balancer\)\s+Durable Object/);
    expect(log).not.toMatch(/warn|error/i);
    expect(existsSync(join(out, 'index.js'))).toBe(true);
  });
});
