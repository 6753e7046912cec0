import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const src = (p: string) => fileURLToPath(new URL(`./packages/${p}`, import.meta.url));

// Tests run against the TypeScript sources (no build step needed for unit tests).
const alias = {
  '@kiln/registry/testing': src('registry/src/testing/index.ts'),
  '@kiln/dockerfile': src('dockerfile/src/index.ts'),
  '@kiln/registry': src('registry/src/index.ts'),
  '@kiln/snapshot': src('snapshot/src/index.ts'),
  '@kiln/context': src('context/src/index.ts'),
  '@kiln/core': src('core/src/index.ts'),
  '@kiln/cli': src('cli/src/index.ts'),
};

export default defineConfig({
  resolve: { alias },
  test: {
    projects: [
      {
        resolve: { alias },
        test: {
          name: 'unit',
          include: ['packages/*/test/**/*.test.ts', 'examples/**/*.test.ts'],
          testTimeout: 30_000,
        },
      },
      {
        resolve: { alias },
        test: {
          name: 'e2e',
          include: ['test/**/*.test.ts'],
          globalSetup: ['test/setup/global-setup.ts'],
          testTimeout: 300_000,
          hookTimeout: 600_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
