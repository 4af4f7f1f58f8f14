// Unit tests beside the code, in Node (the worker's own tests run inside workerd: vitest.worker.config.ts).
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['protocol/**/*.test.ts', 'bridge/**/*.test.ts', 'scripts/**/*.test.ts', 'sdk/**/*.test.ts', 'bench/**/*.test.ts'],
    environment: 'node',
  },
});
