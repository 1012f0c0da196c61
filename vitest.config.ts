import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // The Temporal core bridge is native: run test files in forks, not worker threads.
    pool: 'forks',
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 180_000,
    reporters: ['default'],
  },
});
