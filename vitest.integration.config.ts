// Integration, browser and fault suites against the real processes (Janus, bridge, workerd,
// Chromium). They run one file at a time inside test/netns: see package.json's test:integration.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/integration/**/*.test.ts'],
    environment: 'node',
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    teardownTimeout: 30_000,
    reporters: ['default'],
  },
});
