import { Readable } from 'node:stream';
import { readTar } from '@kiln/snapshot';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  compareWith,
  corpus,
  type Layer,
  line,
  type Outcome,
  outcome,
  randomStack,
} from '../../snapshot/test/helpers/layer-stacks.js';
import { FileTree, type TreeLayerEntry } from '../src/fs/tree.js';

/**
 * A stage's FileTree, fed layers with applyLayer (as RUN and COPY layers are), must be what the extractor makes
 * of the same layers on disk: the corpus and random stacks of the file index's equivalence test
 * (packages/snapshot/test/index-extract-equivalence.test.ts), compared line for line.
 */

/** The tree in the extractor's walk order; the first name of a hardlinked file is the file. */
function treeView(tree: FileTree): string[] {
  const out: string[] = [];
  const first = new Map<object, string>();
  for (const p of tree.walk('')) {
    const n = tree.get(p)!;
    let what: string = n.type;
    if (n.type === 'symlink') what = `symlink -> ${n.linkname ?? ''}`;
    else if (n.type === 'file' || n.type === 'hardlink') {
      const primary = n.inode && first.get(n.inode);
      if (n.inode && !primary) first.set(n.inode, p);
      what = primary ? `hardlink of ${primary}` : `file ${n.size}`;
    }
    out.push(line(p, what, n.mode, n.uid, n.gid));
  }
  return out;
}

async function applied(layers: Buffer[]): Promise<Outcome> {
  const tree = new FileTree();
  try {
    for (const bytes of layers) {
      const entries: TreeLayerEntry[] = [];
      for await (const { header: h } of readTar(Readable.from([bytes]))) {
        const { type, mode, uid, gid, size, linkname } = h;
        entries.push({ path: h.name, node: { type, mode, uid, gid, size, linkname } });
      }
      tree.applyLayer(entries);
    }
  } catch (e) {
    const r = outcome(e);
    // The extractor's name for a non-directory in the way.
    return 'error' in r && r.error === 'KILN_NOT_A_DIRECTORY' ? { error: 'KILN_ENTRY_INVALID' } : r;
  }
  return { view: treeView(tree) };
}

const compare = (stack: Layer[]) => compareWith(stack, applied);

describe('FileTree.applyLayer and extraction agree', () => {
  for (const c of corpus) {
    it(c.name, async () => {
      const { disk, view } = await compare(c.stack);
      expect(view).toEqual(disk);
    });
  }

  it('agree on random stacks of symlinks, hardlinks, whiteouts and replacements', async () => {
    await fc.assert(
      fc.asyncProperty(randomStack(), async (s) => {
        const { disk, view } = await compare(s);
        expect(view).toEqual(disk);
      }),
      { numRuns: Number(process.env.KILN_EQUIV_RUNS ?? 300) },
    );
  });
});
