import { fileURLToPath } from 'node:url';

const src = (p: string) => fileURLToPath(new URL(`./packages/${p}`, import.meta.url));

/** Tests and benchmarks run against the TypeScript sources of the packages (no build step needed). */
export const kilnAliases = {
  '@kiln/registry/testing': src('registry/src/testing/index.ts'),
  '@kiln/dockerfile': src('dockerfile/src/index.ts'),
  '@kiln/registry': src('registry/src/index.ts'),
  '@kiln/snapshot': src('snapshot/src/index.ts'),
  '@kiln/context': src('context/src/index.ts'),
  '@kiln/core': src('core/src/index.ts'),
  '@kiln/cli': src('cli/src/index.ts'),
};
