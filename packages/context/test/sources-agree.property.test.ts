import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type ContextSource, contextDigests, dirContext, memoryContext, tarContext } from '../src/index.js';
import { randomTreeFiles, removeAll, tarOf, writeTree } from './helpers/fixture-tree.js';

/** Random trees: names with dots, spaces and non-ASCII; files, symlinks; unusual modes. */
const segment = fc.constantFrom('a', 'b', 'c', '.x', 'sp ace', 'ü', 'Z9', 'long-name.txt');
const entry = fc.record({
  path: fc.array(segment, { minLength: 1, maxLength: 4 }),
  link: fc.option(fc.constantFrom('a', '../b', '/etc/passwd', 'sp ace/ü'), { nil: undefined }),
  mode: fc.constantFrom(0o644, 0o755, 0o600, 0o4755, 0o2711),
  content: fc.string({ maxLength: 300 }),
});

async function observe(source: ContextSource) {
  const listing: string[] = [];
  for await (const e of source.list())
    listing.push(`${e.path}|${e.type}|${e.mode.toString(8)}|${e.size}|${e.linkname ?? ''}`);
  return { listing, tree: await contextDigests(source).treeDigest('.') };
}

describe('property: memory, dir and tar contexts of the same random tree agree', () => {
  it('on listing and digests', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(entry, { minLength: 1, maxLength: 25 }), async (entries) => {
        const files = randomTreeFiles(entries);
        const dir = await writeTree(files);
        const out = await mkdtemp(join(tmpdir(), 'kiln-prop-tar-'));
        try {
          const tar = await tarContext(tarOf(dir, join(out, 't.tar')));
          const [m, d, t] = await Promise.all([
            observe(memoryContext(files)),
            observe(dirContext(dir)),
            observe(tar),
          ]);
          await tar.close?.();
          expect(d).toEqual(m);
          expect(t).toEqual(m);
        } finally {
          await removeAll([dir, out]);
        }
      }),
      { numRuns: 15 },
    );
  }, 60_000);
});
