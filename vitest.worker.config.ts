/// <reference path="./worker/test-support/provided-context.d.ts" />
/**
 * The worker suite: vitest inside workerd (@cloudflare/vitest-pool-workers) with wrangler.toml's
 * bindings, BRIDGE_URL pointing at a scripted bridge stand-in on 127.0.0.1 (started by globalSetup).
 *   npx vitest run --config vitest.worker.config.ts
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cloudflareTest } from '@cloudflare/vitest-pool-workers';
import { defineConfig } from 'vitest/config';

// Offline whoever runs this (see shared notes, workers.md): no metrics, no error reports, no
// Request.cf fetch, no update check; wrangler's and miniflare's files stay in the ignored .fanout/.
const fanout = fileURLToPath(new URL('./.fanout/', import.meta.url));
process.env['WRANGLER_SEND_METRICS'] ??= 'false';
process.env['WRANGLER_SEND_ERROR_REPORTS'] ??= 'false';
process.env['WRANGLER_HIDE_BANNER'] ??= 'true';
process.env['CLOUDFLARE_CF_FETCH_ENABLED'] ??= 'false';
process.env['XDG_CONFIG_HOME'] ??= join(fanout, 'xdg');
process.env['TMPDIR'] ??= join(fanout, 'tmp');
const updateCheck = join(process.env['TMPDIR'], 'update-check');
if (!existsSync(join(updateCheck, 'wrangler-latest.json'))) {
  mkdirSync(updateCheck, { recursive: true });
  writeFileSync(join(updateCheck, 'wrangler-latest.json'), JSON.stringify({ latest: '4.86.0', lastUpdate: 32503680000000 }));
}

export default defineConfig({
  plugins: [
    cloudflareTest(({ inject }) => ({
      main: './worker/index.ts',
      wrangler: { configPath: './wrangler.toml' },
      miniflare: {
        bindings: {
          BRIDGE_URL: inject('bridgeUrl'),
          BRIDGE_SECRET: inject('bridgeSecret'),
        },
      },
    })),
  ],
  test: {
    include: ['worker/**/*.test.ts'],
    globalSetup: ['./worker/test-support/global-setup.ts'],
    testTimeout: 15_000,
  },
});
