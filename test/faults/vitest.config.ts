import { defineConfig } from 'vitest/config';

// The fault-injection suite: restarts PostgreSQL, kills berth and containers, restarts dockerd.
// One file, run alone (`npm run test:faults`): faults must not hit other tests' processes.
export default defineConfig({
  test: {
    root: new URL('../..', import.meta.url).pathname,
    include: ['test/faults/**/*.fault.ts'],
    testTimeout: 180_000,
    hookTimeout: 300_000,
    pool: 'forks',
    maxWorkers: 1,
    fileParallelism: false,
    reporters: ['default'],
  },
});
