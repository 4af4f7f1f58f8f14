/**
 * The worker suite: vitest inside workerd (@cloudflare/vitest-pool-workers) with wrangler.toml's
 * bindings, BRIDGE_URL pointing at a scripted bridge stand-in on 127.0.0.1 (started by globalSetup).
 *   npx vitest run --config vitest.worker.config.ts
 */
/// <reference path="./worker/test-support/provided-context.d.ts" />
import { cloudflareTest } from '@cloudflare/vitest-pool-workers';
import { defineConfig } from 'vitest/config';

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
