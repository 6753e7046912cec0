import { Readable } from 'node:stream';
import fc from 'fast-check';
import { extractLayer } from '../../src/index.js';
import { type RawEntry, rawTar } from './raw-tar.js';
import { describeTree, tmpDir } from './tree.js';

/**
 * Layer stacks that write through symlinked parents, for checking that a metadata view of a stack (the file
 * index, core's FileTree) is what `extractLayer` makes of it on disk. Shared by
 * `index-extract-equivalence.test.ts` and core's `tree-extract-equivalence.test.ts`.
 */

export type Layer = RawEntry[];

// Owners are compared when extraction can keep them.
export const asRoot = process.getuid?.() === 0;

export const dir = (name: string, mode = 0o755, uid = 0): RawEntry => ({
  name,
  type: 'dir',
  mode,
  uid,
  gid: uid,
});
export const file = (name: string, content = name, mode = 0o644, uid = 0): RawEntry => ({
  name,
  content,
  mode,
  uid,
  gid: uid,
});
export const sym = (name: string, linkname: string): RawEntry => ({
  name,
  type: 'symlink',
  linkname,
  mode: 0o777,
});
export const hard = (name: string, linkname: string): RawEntry => ({ name, type: 'hardlink', linkname });
export const wh = (name: string): RawEntry => ({ name, content: '' });

/**
 * A view's line for one object, in `describeTree`'s form without content: `path what mode owner`, `what`
 * being `dir`, `symlink -> target`, `file size` or `hardlink of first-name` (no mode for symlinks).
 */
export function line(p: string, what: string, mode: number, uid: number, gid: number): string {
  const m = what.startsWith('symlink') ? '' : (mode & 0o7777).toString(8);
  return `${p} ${what} ${m}${asRoot ? ` ${uid}:${gid}` : ''}`;
}

/** The extracted root, walked in the views' order (depth first, names sorted); later names of a file are hardlinks. */
export function diskView(root: string): string[] {
  return describeTree(root, { content: false, owners: asRoot });
}

export type Outcome = { view: string[] } | { error: string };

/** A refusal (a `KILN_…` code, from the extractor or a view); anything else is a bug, thrown again. */
export function outcome(e: unknown): Outcome {
  const code = (e as { code?: unknown } | undefined)?.code;
  if (typeof code === 'string' && code.startsWith('KILN_')) return { error: code };
  throw e;
}

export async function extracted(layers: Buffer[]): Promise<Outcome> {
  const root = tmpDir('equiv');
  try {
    for (const l of layers)
      await extractLayer(Readable.from([l]), root, { ownership: asRoot ? 'keep' : 'ignore' });
  } catch (e) {
    return outcome(e);
  }
  return { view: diskView(root) };
}

/** Tricky stacks, each with what extraction gives (or the code it fails with), so a change in both shows. */
export const corpus: { name: string; stack: Layer[]; expect: string[] | string }[] = [
  {
    name: 'absolute symlinked parent, file in a later layer',
    stack: [[sym('etc', '/x/etc')], [file('etc/passwd', 'root:x:0:0::/root:/bin/sh\n')]],
    expect: ['etc symlink', 'x dir', 'x/etc dir', 'x/etc/passwd file'],
  },
  {
    name: 'absolute symlinked parent, same layer',
    stack: [[sym('etc', '/x/etc'), file('etc/passwd'), dir('etc/ssh', 0o700, 7)]],
    expect: ['etc symlink', 'x dir', 'x/etc dir', 'x/etc/passwd file', 'x/etc/ssh dir'],
  },
  {
    name: 'relative target climbing out clamps at the root',
    stack: [[dir('a'), sym('a/etc', '../../../x'), file('a/etc/passwd')]],
    expect: ['a dir', 'a/etc symlink', 'x dir', 'x/passwd file'],
  },
  {
    name: 'chain of links, absolute and relative, into missing directories',
    stack: [
      [sym('a', 'b'), sym('b', '/c/d'), file('a/f')],
      [file('/a/g'), file('./b/h')],
    ],
    expect: ['a symlink', 'b symlink', 'c dir', 'c/d dir', 'c/d/f file', 'c/d/g file', 'c/d/h file'],
  },
  {
    name: 'absolute target with .. and a link to /',
    stack: [[sym('l', '/../../x/./y'), sym('r', '/'), file('l/f'), file('r/r/l/g')]],
    expect: ['l symlink', 'r symlink', 'x dir', 'x/y dir', 'x/y/f file', 'x/y/g file'],
  },
  {
    name: 'link to . and .. inside a directory',
    stack: [[dir('d'), sym('d/up', '../../..'), sym('dot', '.'), file('d/up/d/up/f'), file('dot/dot/g')]],
    expect: ['d dir', 'd/up symlink', 'dot symlink', 'f file', 'g file'],
  },
  {
    name: 'nested link with ..',
    stack: [[dir('usr/lib', 0o750), sym('lib', 'usr/lib'), sym('usr/lib64', '../lib'), file('usr/lib64/x')]],
    expect: ['lib symlink', 'usr dir', 'usr/lib dir', 'usr/lib/x file', 'usr/lib64 symlink'],
  },
  {
    name: 'loop of two links',
    stack: [[sym('l1', 'l2'), sym('l2', 'l1')], [file('l1/f')]],
    expect: 'KILN_SYMLINK_LOOP',
  },
  { name: 'link to itself', stack: [[sym('s', 's'), file('s/f')]], expect: 'KILN_SYMLINK_LOOP' },
  {
    name: 'a link through a file',
    stack: [[file('f'), sym('l', 'f/x'), file('l/y')]],
    expect: 'KILN_ENTRY_INVALID',
  },
  { name: 'a file as a parent', stack: [[file('f')], [file('f/g')]], expect: 'KILN_ENTRY_INVALID' },
  {
    name: 'whiteout under a symlinked directory',
    stack: [[dir('d'), file('d/a'), file('d/b'), sym('l', 'd')], [wh('l/.wh.a')]],
    expect: ['d dir', 'd/b file', 'l symlink'],
  },
  {
    name: 'opaque directory through an absolute link',
    stack: [
      [dir('d'), file('d/a'), dir('d/sub'), file('d/sub/x'), sym('l', '/d')],
      [file('l/new'), wh('l/.wh..wh..opq'), file('l/after')],
    ],
    expect: ['d dir', 'd/after file', 'd/new file', 'l symlink'],
  },
  {
    name: 'whiteout of the link itself, and through a dangling link',
    stack: [
      [dir('d'), file('d/a'), sym('l', 'd'), sym('m', 'missing')],
      [wh('.wh.l'), wh('m/.wh.x')],
    ],
    expect: ['d dir', 'd/a file', 'm symlink'],
  },
  {
    name: 'a layer replacing a symlinked etc with a directory, then whiting out in both',
    stack: [
      [sym('etc', '/x/etc'), file('etc/passwd')],
      [dir('etc'), wh('etc/.wh.passwd'), wh('x/etc/.wh.passwd'), file('etc/group')],
    ],
    expect: ['etc dir', 'etc/group file', 'x dir', 'x/etc dir'],
  },
  {
    name: 'whiteouts spare what the same layer wrote, even below a symlink',
    stack: [
      [dir('d'), file('d/old'), sym('l', 'd')],
      [file('l/x'), wh('.wh.d'), wh('d/.wh.x'), wh('l/.wh..wh..opq')],
    ],
    expect: ['d dir', 'd/x file', 'l symlink'],
  },
  {
    name: 'file, directory, symlink replacing each other',
    stack: [[file('p')], [dir('p'), file('p/q')], [sym('p', '/r'), file('p/z')], [file('r')]],
    expect: ['p symlink', 'r file'],
  },
  {
    name: 'directory replaced by a symlink in a later layer, written through',
    stack: [
      [dir('d'), file('d/a')],
      [sym('d', 'e'), file('d/b')],
    ],
    expect: ['d symlink', 'e dir', 'e/b file'],
  },
  {
    name: 'symlink replaced by a directory after writing through it',
    stack: [[sym('l', 't'), file('l/f'), dir('l', 0o711), file('l/g')]],
    expect: ['l dir', 'l/g file', 't dir', 't/f file'],
  },
  {
    name: 'file replaced by a symlink, then written through',
    stack: [[file('f')], [sym('f', 'd'), file('f/x')]],
    expect: ['d dir', 'd/x file', 'f symlink'],
  },
  {
    name: 'hardlink whose target path goes through a symlink',
    stack: [[dir('d'), file('d/f', 'data', 0o640, 5), sym('l', '/d'), hard('h', 'l/f')]],
    expect: ['d dir', 'd/f file', 'h hardlink', 'l symlink'],
  },
  {
    name: 'hardlink placed under a symlinked directory',
    stack: [[dir('d'), sym('l', 'd'), file('f'), hard('l/h', 'f')]],
    expect: ['d dir', 'd/h file', 'f hardlink', 'l symlink'],
  },
  {
    name: 'hardlink to a symlink is a symlink, and resolves as one',
    stack: [[dir('d'), sym('s', 'd'), hard('h', 's'), file('h/f')]],
    expect: ['d dir', 'd/f file', 'h symlink', 's symlink'],
  },
  { name: 'hardlink to a directory', stack: [[dir('d'), hard('h', 'd')]], expect: 'KILN_BAD_HARDLINK' },
  { name: 'hardlink to nothing', stack: [[file('a')], [hard('h', 'l/a')]], expect: 'KILN_BAD_HARDLINK' },
  { name: 'hardlink to itself', stack: [[file('a')], [hard('a', 'a')]], expect: 'KILN_BAD_HARDLINK' },
  {
    name: 'hardlinks outliving their first name (whiteout, replacement)',
    stack: [
      [file('a', 'one'), hard('b', 'a'), hard('c', 'b'), file('x', 'x1', 0o600), hard('y', 'x')],
      [wh('.wh.a'), file('x', 'new', 0o644)],
    ],
    expect: ['b file', 'c hardlink', 'x file', 'y file'],
  },
  {
    name: 'implicit directories, then listed; duplicate directory entries (the last wins)',
    stack: [[file('a/b/c'), dir('a/b', 0o700, 5), dir('d', 0o700), dir('d', 0o751, 6)]],
    expect: ['a dir', 'a/b dir', 'a/b/c file', 'd dir'],
  },
  {
    name: 'a directory replaced and made again below a replaced parent keeps the new mode',
    stack: [[dir('p/d', 0o700), sym('p', 'q'), dir('p', 0o755), file('p/d/f')]],
    expect: ['p dir', 'p/d dir', 'p/d/f file'],
  },
  {
    name: 'opaque marker at the root',
    stack: [
      [dir('a'), file('a/x'), sym('l', 'a')],
      [file('n'), wh('.wh..wh..opq')],
    ],
    expect: ['n file'],
  },
  { name: 'whiteout naming ..', stack: [[dir('d')], [wh('d/.wh...')]], expect: 'KILN_PATH_ESCAPE' },
];

/** Random stacks of 1–3 layers over the names a, b, c: directories, files, symlinks, hardlinks, whiteouts. */
export function randomStack(): fc.Arbitrary<Layer[]> {
  const name = fc.constantFrom('a', 'b', 'c');
  const pathArb = fc.array(name, { minLength: 1, maxLength: 3 }).map((p) => p.join('/'));
  const prefix = fc.constantFrom('', '/', './');
  const target = fc.oneof(
    pathArb,
    pathArb.map((p) => `/${p}`),
    pathArb.map((p) => `../${p}`),
    fc.constantFrom('.', '..', '/', '../..', 'a/..'),
  );
  const whiteout = pathArb.map((p) => {
    const i = p.lastIndexOf('/');
    return wh(`${p.slice(0, i + 1)}.wh.${p.slice(i + 1)}`);
  });
  const opaque = fc.array(name, { maxLength: 2 }).map((d) => wh([...d, '.wh..wh..opq'].join('/')));
  const entry: fc.Arbitrary<RawEntry> = fc.oneof(
    {
      weight: 3,
      arbitrary: fc.tuple(prefix, pathArb, fc.constantFrom(0o755, 0o700)).map(([x, p, m]) => dir(x + p, m)),
    },
    {
      weight: 4,
      arbitrary: fc
        .tuple(prefix, pathArb, fc.constantFrom(0, 1))
        .map(([x, p, u]) => file(x + p, p, 0o644, u)),
    },
    { weight: 3, arbitrary: fc.tuple(pathArb, target).map(([p, t]) => sym(p, t)) },
    // The target is picked below among the names written before (one written through a link, often).
    { weight: 2, arbitrary: fc.tuple(pathArb, fc.nat()).map(([p, n]) => hard(p, String(n))) },
    { weight: 2, arbitrary: whiteout },
    { weight: 1, arbitrary: opaque },
  );
  return fc
    .array(fc.array(entry, { minLength: 1, maxLength: 8 }), { minLength: 1, maxLength: 3 })
    .map((layers) => {
      const written: string[] = [];
      return layers.map((l) =>
        l.flatMap((e) => {
          if (e.type === 'hardlink') {
            if (written.length === 0) return [];
            e.linkname = written[Number(e.linkname) % written.length]!;
          }
          if (!e.name.includes('.wh.')) written.push(e.name);
          return [e];
        }),
      );
    });
}

/** Extracts the stack into a temporary root and asks `view` for its view of the same layers (tar bytes). */
export async function compareWith(
  stack: Layer[],
  view: (layers: Buffer[]) => Promise<Outcome>,
): Promise<{ disk: Outcome; view: Outcome }> {
  const layers = stack.map((entries) => rawTar(entries));
  return { disk: await extracted(layers), view: await view(layers) };
}
