import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';
import { kilnAliases } from '../vitest.aliases.js';

// Benchmarks that need the test setup (registries, seeded base images, the oracle builders) run as vitest
// "tests" that print figures; they assert nothing about time.
export default defineConfig({
  resolve: { alias: kilnAliases },
  test: {
    root: fileURLToPath(new URL('..', import.meta.url)),
    include: ['bench/**/*.measure.ts'],
    globalSetup: ['test/setup/global-setup.ts'],
    testTimeout: 1_800_000,
    hookTimeout: 900_000,
    fileParallelism: false,
  },
});
