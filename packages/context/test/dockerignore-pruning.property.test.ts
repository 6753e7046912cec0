import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type ContextSource,
  dirContext,
  dockerignore,
  memoryContext,
  type PathFilter,
} from '../src/index.js';
import { removeAll, writeTree } from './helpers/fixture-tree.js';

/**
 * Skipping excluded directories must never lose a file: for random trees and random ignore
 * files, listing with `mayIncludeUnder` pruning gives exactly what a full walk that asks
 * `ignores()` for every path gives.
 */
const name = fc.constantFrom('a', 'b', 'ab', 'c.md', 'x');
const patternSegment = fc.constantFrom('a', 'b', '*', '?', '**', '[ab]', 'a*', '*.md', 'x');
const line = fc
  .tuple(fc.boolean(), fc.array(patternSegment, { minLength: 1, maxLength: 3 }))
  .map(([bang, segs]) => `${bang ? '!' : ''}${segs.join('/')}`);

async function paths(source: ContextSource, ignore: PathFilter): Promise<string[]> {
  const out: string[] = [];
  for await (const e of source.list({ ignore })) out.push(e.path);
  return out;
}

describe('property: pruning excluded directories never changes the listing', () => {
  it('for memory contexts', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(
          fc.array(name, { minLength: 1, maxLength: 4 }).map((s) => s.join('/')),
          { maxLength: 20 },
        ),
        fc.array(line, { minLength: 1, maxLength: 5 }),
        async (files, lines) => {
          // keep only leaves: a path that is also a parent of another becomes a directory
          const leaves = files.filter((f) => !files.some((g) => g.startsWith(`${f}/`)));
          const ctx = memoryContext(Object.fromEntries(leaves.map((f) => [f, f])));
          const m = dockerignore().add(lines);
          const pruned = await paths(ctx, m);
          const full = await paths(ctx, { ignores: (p) => m.ignores(p) });
          expect(pruned).toEqual(full);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('for directory contexts (the walk itself skips)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(
          fc.array(name, { minLength: 1, maxLength: 3 }).map((s) => s.join('/')),
          { maxLength: 12 },
        ),
        fc.array(line, { minLength: 1, maxLength: 4 }),
        async (files, lines) => {
          const leaves = files.filter((f) => !files.some((g) => g.startsWith(`${f}/`)));
          const dir = await writeTree(Object.fromEntries(leaves.map((f) => [f, { content: f }])));
          try {
            const m = dockerignore().add(lines);
            expect(await paths(dirContext(dir), m)).toEqual(
              await paths(dirContext(dir), { ignores: (p) => m.ignores(p) }),
            );
          } finally {
            await removeAll([dir]);
          }
        },
      ),
      { numRuns: 40 },
    );
  }, 60_000);
});
