import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type ContextSource,
  dirContext,
  dockerignore,
  listIndexed,
  memoryContext,
  tarContext,
} from '../src/index.js';
import { randomTreeFiles, removeAll, tarOf, writeTree } from './helpers/fixture-tree.js';

const segment = fc.constantFrom('a', 'b', '.x', 'sp ace', 'ü', 'Z9');
const tree = fc.array(
  fc.record({
    path: fc.array(segment, { minLength: 1, maxLength: 4 }),
    link: fc.option(fc.constantFrom('a', '../b', 'b/a'), { nil: undefined }),
    mode: fc.constantFrom(0o644, 0o755),
    content: fc.string({ maxLength: 20 }),
  }),
  { minLength: 1, maxLength: 20 },
);
// .dockerignore lines, exceptions (re-included descendants of excluded directories) included.
const ignoreLines = fc.array(
  fc.constantFrom('a', 'b/*', '**/.x', '!a/b', '!b/ü', 'sp ace', '!**/Z9', '*/a'),
  {
    maxLength: 4,
  },
);

const line = (e: { path: string; type: string; mode: number; size: number; linkname?: string }) =>
  `${e.path}|${e.type}|${e.mode.toString(8)}|${e.size}|${e.linkname ?? ''}`;

/** For every directory of the source (and the root): listIndexed gives what list({ under, ignore }) gives. */
async function agree(source: ContextSource, lines: string[]): Promise<void> {
  const ignore = lines.length ? dockerignore().add(lines) : undefined;
  const opts = ignore ? { ignore } : {};
  const dirs = ['.'];
  for await (const e of source.list()) if (e.type === 'dir') dirs.push(e.path);
  for (const under of dirs) {
    const listed: string[] = [];
    for await (const e of source.list(under === '.' ? opts : { ...opts, under })) listed.push(line(e));
    expect((await listIndexed(source, under, ignore)).map(line), `under ${under}`).toEqual(listed);
  }
}

describe('property: listIndexed agrees with a fresh listing', () => {
  it('for dir, tar and memory contexts, with and without .dockerignore exceptions', async () => {
    await fc.assert(
      fc.asyncProperty(tree, ignoreLines, async (entries, lines) => {
        const files = randomTreeFiles(entries);
        const dir = await writeTree(files);
        const out = await mkdtemp(join(tmpdir(), 'kiln-list-indexed-'));
        try {
          await agree(dirContext(dir), lines);
          await agree(memoryContext(files), lines);
          await agree(await tarContext(tarOf(dir, join(out, 't.tar'))), lines);
        } finally {
          await removeAll([dir, out]);
        }
      }),
      { numRuns: 60 },
    );
  });
});
