import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    // Each test file makes its own Dawn device; SwiftShader uses every core, so two files at a time.
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 180_000,
    hookTimeout: 180_000,
    // No background tuning unless a test about the tuner turns it on (engine.tuner.background).
    env: { WEBGPU_DL_BACKGROUND_TUNE: '0' },
  },
});
