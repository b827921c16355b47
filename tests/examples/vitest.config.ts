import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// The examples' tests (scripts/examples.sh), apart from `npm test`: they pack the package, install it
// into each example and train there, so they run one at a time, after the build.
export default defineConfig({
  root: fileURLToPath(new URL('../..', import.meta.url)),
  test: {
    include: ['tests/examples/**/*.spec.ts'],
    pool: 'forks',
    fileParallelism: false,
    testTimeout: 300_000,
    hookTimeout: 120_000,
  },
});
