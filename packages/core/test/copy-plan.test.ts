import { describe, expect, test } from 'vitest';
import { parseChmod } from '../src/fs/chmod.js';
import { FileTree } from '../src/fs/tree.js';
import { type MatchedSource, planCopy, type SourceEntry } from '../src/instructions/copy-plan.js';

const file = (size = 1, mode = 0o644): SourceEntry => ({ type: 'file', mode, uid: 501, gid: 20, size });
const dir = (mode = 0o755): SourceEntry => ({ type: 'dir', mode, uid: 501, gid: 20, size: 0 });

/** A Debian-like tree: /lib -> usr/lib, /tmp 1777, /root 0700. */
function debianTree(): FileTree {
  const t = new FileTree();
  t.set('usr', { type: 'dir', mode: 0o755, uid: 0, gid: 0, size: 0 });
  t.set('usr/lib', { type: 'dir', mode: 0o755, uid: 0, gid: 0, size: 0 });
  t.set('lib', { type: 'symlink', mode: 0o777, uid: 0, gid: 0, size: 0, linkname: 'usr/lib' });
  t.set('tmp', { type: 'dir', mode: 0o1777, uid: 0, gid: 0, size: 0 });
  t.set('root', { type: 'dir', mode: 0o700, uid: 0, gid: 0, size: 0 });
  t.set('etc', { type: 'dir', mode: 0o755, uid: 0, gid: 0, size: 0 });
  return t;
}

const plan = (sources: MatchedSource[], dest: string, extra: Partial<Parameters<typeof planCopy>[0]> = {}) =>
  planCopy({
    sources,
    dest,
    workdir: '/',
    tree: debianTree(),
    keepSourceOwner: false,
    multiple: sources.length > 1,
    text: 'COPY',
    ...extra,
  }).map((e) => `${e.path} ${e.node.type} ${e.node.mode.toString(8)} ${e.node.uid}:${e.node.gid}`);

describe('planCopy applies Docker destination rules', () => {
  test('a file to a path without a trailing slash is written at that path, owned by root', () => {
    expect(plan([{ path: 'a.txt', entry: file() }], '/b.txt')).toEqual(['b.txt file 644 0:0']);
  });
  test('a trailing slash makes the destination a directory, created 0755', () => {
    expect(plan([{ path: 'a.txt', entry: file() }], '/new/')).toEqual([
      'new dir 755 0:0',
      'new/a.txt file 644 0:0',
    ]);
  });
  test('a file onto an existing directory goes inside it and leaves the directory alone (/tmp keeps 1777)', () => {
    expect(plan([{ path: 'a.txt', entry: file() }], '/tmp')).toEqual(['tmp/a.txt file 644 0:0']);
  });
  test('a directory source copies its contents, not itself', () => {
    const src: MatchedSource = {
      path: 'src',
      entry: dir(0o700),
      children: [
        { rel: 'x', entry: file() },
        { rel: 'd', entry: dir(0o750) },
        { rel: 'd/y', entry: file() },
      ],
    };
    expect(plan([src], '/root')).toEqual([
      'root/x file 644 0:0',
      'root/d dir 750 0:0',
      'root/d/y file 644 0:0',
    ]);
  });
  test('a missing destination directory of a directory copy is created, parents 0755', () => {
    const src: MatchedSource = { path: 'src', entry: dir(0o755), children: [{ rel: 'x', entry: file() }] };
    expect(plan([src], '/opt/app')).toEqual([
      'opt dir 755 0:0',
      'opt/app dir 755 0:0',
      'opt/app/x file 644 0:0',
    ]);
  });
  test('symlinked directories of the image resolve inside it (/lib -> usr/lib)', () => {
    expect(plan([{ path: 'a.so', entry: file() }], '/lib/x86_64/')).toEqual([
      'usr/lib/x86_64 dir 755 0:0',
      'usr/lib/x86_64/a.so file 644 0:0',
    ]);
    expect(plan([{ path: 'a.so', entry: file() }], '/lib/a.so')).toEqual(['usr/lib/a.so file 644 0:0']);
  });
  test('--chown owns files and the parents the copy creates, not existing ones', () => {
    expect(plan([{ path: 'a', entry: file() }], '/tmp/new/', { owner: { uid: 1000, gid: 1000 } })).toEqual([
      'tmp/new dir 755 1000:1000',
      'tmp/new/a file 644 1000:1000',
    ]);
  });
  test('COPY --from keeps source owners unless --chown is given', () => {
    expect(plan([{ path: 'a', entry: file() }], '/a', { keepSourceOwner: true })).toEqual([
      'a file 644 501:20',
    ]);
  });
  test('--chmod applies to files and directories of the copy', () => {
    const src: MatchedSource = {
      path: 's',
      entry: dir(),
      children: [
        { rel: 'd', entry: dir() },
        { rel: 'd/f', entry: file() },
      ],
    };
    expect(plan([src], '/x/', { chmod: parseChmod('750') })).toEqual([
      'x dir 755 0:0',
      'x/d dir 750 0:0',
      'x/d/f file 750 0:0',
    ]);
  });
  test('several sources need a directory destination; relative destinations join WORKDIR', () => {
    expect(
      plan(
        [
          { path: 'a', entry: file() },
          { path: 'b', entry: file() },
        ],
        'out',
        { workdir: '/tmp', multiple: true },
      ),
    ).toEqual(['tmp/out dir 755 0:0', 'tmp/out/a file 644 0:0', 'tmp/out/b file 644 0:0']);
  });
  test('copying a directory onto a file is an error naming the path', () => {
    const t = debianTree();
    t.set('etc/f', { type: 'file', mode: 0o644, uid: 0, gid: 0, size: 1 });
    const src: MatchedSource = { path: 's', entry: dir(), children: [] };
    expect(() =>
      planCopy({
        sources: [src],
        dest: '/etc/f',
        workdir: '/',
        tree: t,
        keepSourceOwner: false,
        multiple: false,
        text: 'COPY s /etc/f',
      }),
    ).toThrow(/etc\/f: it is not a directory/);
  });
});

describe('parseChmod', () => {
  test.each([
    ['755', 0o644, false, 0o755],
    ['0600', 0o777, false, 0o600],
    ['u+x', 0o644, false, 0o744],
    ['go-w', 0o666, false, 0o644],
    ['a=r', 0o777, false, 0o444],
    ['u=rwx,g=rx,o=', 0o000, false, 0o750],
    ['a+X', 0o644, false, 0o644],
    ['a+X', 0o644, true, 0o755],
    ['a+X', 0o744, false, 0o755],
    ['+t', 0o777, true, 0o1777],
    ['u+s', 0o755, false, 0o4755],
  ])('%s on %o (dir %s) gives %o', (spec, mode, isDir, want) => {
    expect(parseChmod(spec).apply(mode, isDir)).toBe(want);
  });
  test.each(['8', 'u+q', 'x=r', 'abc', ''])('rejects %j', (spec) => {
    expect(() => parseChmod(spec)).toThrow(/--chmod/);
  });
});

describe('FileTree.resolve follows symlinks as chroot does', () => {
  const t = debianTree();
  t.set('usr/bin', { type: 'dir', mode: 0o755, uid: 0, gid: 0, size: 0 });
  t.set('bin', { type: 'symlink', mode: 0o777, uid: 0, gid: 0, size: 0, linkname: '/usr/bin' });
  t.set('up', { type: 'symlink', mode: 0o777, uid: 0, gid: 0, size: 0, linkname: '../../../../etc' });
  t.set('loop', { type: 'symlink', mode: 0o777, uid: 0, gid: 0, size: 0, linkname: 'loop' });
  test.each([
    ['lib/x', true, 'usr/lib/x'],
    ['bin/sh', true, 'usr/bin/sh'],
    ['bin', false, 'bin'],
    ['bin', true, 'usr/bin'],
    ['up/passwd', true, 'etc/passwd'],
    ['../../etc', true, 'etc'],
  ])('%s (follow final: %s) → %s', (p, follow, want) => {
    expect(t.resolve(p, follow)).toBe(want);
  });
  test('a symlink loop is an error, not a hang', () => {
    expect(() => t.resolve('loop/x', true)).toThrow(/too many levels/);
  });
});
