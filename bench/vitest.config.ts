import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const src = (p: string) => fileURLToPath(new URL(`../packages/${p}`, import.meta.url));

// Benchmarks that need the test setup (registries, seeded base images, the oracle builders) run as vitest
// "tests" that print figures; they assert nothing about time.
export default defineConfig({
  resolve: {
    alias: {
      '@kiln/registry/testing': src('registry/src/testing/index.ts'),
      '@kiln/dockerfile': src('dockerfile/src/index.ts'),
      '@kiln/registry': src('registry/src/index.ts'),
      '@kiln/snapshot': src('snapshot/src/index.ts'),
      '@kiln/context': src('context/src/index.ts'),
      '@kiln/core': src('core/src/index.ts'),
    },
  },
  test: {
    root: fileURLToPath(new URL('..', import.meta.url)),
    include: ['bench/**/*.measure.ts'],
    globalSetup: ['test/setup/global-setup.ts'],
    testTimeout: 1_800_000,
    hookTimeout: 900_000,
    fileParallelism: false,
  },
});
