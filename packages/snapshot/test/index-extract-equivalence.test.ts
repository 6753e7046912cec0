import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { buildFileIndex, type FileIndex } from '../src/index.js';
import {
  asRoot,
  compareWith,
  corpus,
  dir,
  file,
  hard,
  type Layer,
  line,
  type Outcome,
  outcome,
  randomStack,
  sym,
  wh,
} from './helpers/layer-stacks.js';
import { rawTar } from './helpers/raw-tar.js';

/**
 * The file index must describe exactly what extracting the same layers gives: every layer of a stack
 * is extracted with `extractLayer` into a temporary root, the root is walked, and the lines must equal
 * the index's, or both must refuse the stack with the same code.
 */

function indexView(index: FileIndex): string[] {
  const out: string[] = [];
  for (const [p, e] of index.entries()) {
    let what: string = e.type;
    if (e.type === 'symlink') what = `symlink -> ${e.linkname}`;
    else if (e.type === 'file') what = `file ${e.size}`;
    else if (e.type === 'hardlink') what = `hardlink of ${e.linkname}`;
    out.push(line(p, what, e.mode, e.uid, e.gid));
  }
  return out;
}

async function indexed(layers: Buffer[]): Promise<Outcome> {
  try {
    const index = await buildFileIndex(
      layers.map((bytes) => ({
        digest: `sha256:${createHash('sha256').update(bytes).digest('hex')}`,
        open: async () => Readable.from([bytes]),
      })),
    );
    return { view: indexView(index) };
  } catch (e) {
    return outcome(e);
  }
}

const compare = (stack: Layer[]) => compareWith(stack, indexed);

describe('file index and extraction agree', () => {
  for (const c of corpus) {
    it(c.name, async () => {
      const { disk, view: index } = await compare(c.stack);
      expect(index).toEqual(disk);
      if (typeof c.expect === 'string') expect(disk).toEqual({ error: c.expect });
      else
        expect('view' in disk && disk.view.map((l) => l.split(' ').slice(0, 2).join(' '))).toEqual(c.expect);
    });
  }

  it('extraction: a directory listed after its implicit creation, or twice, takes the last entry', async () => {
    const { disk } = await compare([
      [file('a/b/c'), dir('a/b', 0o700, 5), dir('d', 0o700, 6), dir('d', 0o751, 7)],
      [dir('p/d', 0o700), sym('p', 'q'), dir('p', 0o755), file('p/d/f')],
    ]);
    const modes = 'view' in disk ? disk.view.map((l) => l.split(' ').slice(0, 4).join(' ')) : disk;
    const owner = (id: number) => (asRoot ? `${id}:${id}` : '');
    expect(modes).toEqual(
      expect.arrayContaining([`a/b dir 700 ${owner(5)}`, `d dir 751 ${owner(7)}`, `p/d dir 755 ${owner(0)}`]),
    );
  });

  it('captured files are found through symlinked parents and hardlinks', async () => {
    const layers = [
      rawTar([sym('etc', '/x/etc'), file('etc/passwd', 'root:x:0:0::/root:/bin/sh\n')]),
      rawTar([hard('etc/group', 'x/etc/passwd'), wh('x/etc/.wh.passwd')]),
    ];
    const index = await buildFileIndex(
      layers.map((bytes, i) => ({
        digest: `sha256:captured-${i}`,
        open: async () => Readable.from([bytes]),
      })),
      { capture: (p) => p.startsWith('etc/') },
    );
    expect(index.get('x/etc/group')).toMatchObject({ type: 'file', size: 26 });
    expect(index.readCaptured('/etc/group')?.toString()).toBe('root:x:0:0::/root:/bin/sh\n');
    expect(index.readCaptured('/etc/passwd')).toBeUndefined();
  });

  it('agree on random stacks of symlinks, hardlinks, whiteouts and replacements', async () => {
    await fc.assert(
      fc.asyncProperty(randomStack(), async (s) => {
        const { disk, view: index } = await compare(s);
        expect(index).toEqual(disk);
      }),
      { numRuns: Number(process.env.KILN_EQUIV_RUNS ?? 300) },
    );
  });
});
