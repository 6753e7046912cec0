import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_IGNORED_PATHS,
  diffDirectories,
  extractLayer,
  type FileStat,
  type LayerEntry,
  layerFromOverlayUpper,
  MemoryFileSystem,
  nodeFileSystem,
  recordTree,
} from '../src/index.js';
import { layerBytes } from './helpers/layer-bytes.js';
import { canUnshare } from './helpers/overlay.js';
import { describeTree, type TreeSpec, tmpDir, writeTree } from './helpers/tree.js';

const LOWER: TreeSpec = {
  'etc/hosts': '127.0.0.1 localhost\n',
  'etc/motd': 'hello',
  'usr/share/doc/a/README': 'a',
  'usr/share/doc/a/LICENSE': 'l',
  'usr/share/doc/b/README': 'b',
  'var/cache/apt/pkgcache.bin': 'cache'.repeat(100),
  'var/lib/x/state': 's',
  'bin/tool': { content: 'tool', mode: 0o755 },
  'proc/ignored': 'p',
};

/** The changes a RUN might make; applied to a plain dir (diff) or to an overlay's merged dir. */
function mutate(root: string): void {
  fs.writeFileSync(path.join(root, 'etc/motd'), 'changed'); // same dir, new content
  fs.appendFileSync(path.join(root, 'etc/hosts'), '::1 localhost\n');
  fs.rmSync(path.join(root, 'usr/share/doc/a'), { recursive: true }); // deleted dir: one whiteout
  fs.rmSync(path.join(root, 'var/cache/apt/pkgcache.bin'));
  fs.rmSync(path.join(root, 'var/lib/x'), { recursive: true }); // replaced dir: opaque (overlay)
  fs.mkdirSync(path.join(root, 'var/lib/x'));
  fs.writeFileSync(path.join(root, 'var/lib/x/new'), 'n');
  fs.chmodSync(path.join(root, 'bin/tool'), 0o700);
  fs.mkdirSync(path.join(root, 'opt/app'), { recursive: true });
  fs.writeFileSync(path.join(root, 'opt/app/run'), 'run');
  fs.linkSync(path.join(root, 'opt/app/run'), path.join(root, 'opt/app/run2'));
  fs.symlinkSync('app/run', path.join(root, 'opt/link'));
  fs.writeFileSync(path.join(root, 'proc/ignored'), 'changed but ignored');
}

/** Writes `entries` as a layer and applies it to a copy of the lower tree. */
async function applyToLower(entries: LayerEntry[]): Promise<string> {
  const target = tmpDir('applied');
  writeTree(target, LOWER);
  const { bytes } = await layerBytes(entries, { deterministic: true });
  await extractLayer(Readable.from([bytes]), target);
  return target;
}

const skipProc = (r: string) => r === 'proc' || r.startsWith('proc/');

describe('diffDirectories', () => {
  it('finds added, changed and deleted paths and its layer reproduces the new tree on the old one', async () => {
    const root = tmpDir('diff');
    writeTree(root, LOWER);
    const before = await recordTree(root, { ignore: ['proc'] });
    mutate(root);
    const diff = await diffDirectories(before);
    expect(diff.added).toEqual([
      'opt',
      'opt/app',
      'opt/app/run',
      'opt/app/run2',
      'opt/link',
      'var/lib/x/new',
    ]);
    expect(diff.deleted).toEqual(['usr/share/doc/a', 'var/cache/apt/pkgcache.bin', 'var/lib/x/state']);
    expect(diff.changed).toEqual(
      expect.arrayContaining([
        'bin/tool',
        'etc/hosts',
        'etc/motd',
        'usr/share/doc',
        'var/cache/apt',
        'var/lib/x',
      ]),
    );
    expect(diff.changed).not.toContain('proc/ignored');
    expect(diff.changed).not.toContain('usr/share/doc/b/README');
    const paths = diff.entries.map((e) => e.path);
    expect(paths).toContain('usr/share/doc/.wh.a');
    expect(paths).not.toContain('usr/share/doc/a/.wh.README'); // nothing under an already-deleted dir
    expect(diff.entries.find((e) => e.path === 'opt/app/run2')).toMatchObject({
      type: 'hardlink',
      linkname: 'opt/app/run',
    });
    const applied = await applyToLower(diff.entries);
    expect(describeTree(applied, { skip: skipProc })).toEqual(describeTree(root, { skip: skipProc }));
  });

  it.skipIf(process.getuid?.() !== 0)(
    'skips mount points (another device) unless sameDevice is false',
    async () => {
      const root = tmpDir('mounts');
      writeTree(root, { 'mnt/.keep': '', 'etc/hosts': 'h', 'proc/x': '' });
      execFileSync('mount', ['-t', 'tmpfs', 'tmpfs', path.join(root, 'mnt')]);
      try {
        const before = await recordTree(root, { ignore: DEFAULT_IGNORED_PATHS });
        fs.writeFileSync(path.join(root, 'mnt/inside'), 'not in the image');
        fs.writeFileSync(path.join(root, 'etc/hosts'), 'bind-mounted by the runtime');
        fs.writeFileSync(path.join(root, 'etc/real'), 'kept');
        const diff = await diffDirectories(before);
        expect(diff.added).toEqual(['etc/real']);
        expect(diff.changed).toEqual(['etc']);
        const all = await recordTree(root, { sameDevice: false });
        expect([...all.paths.keys()]).toContain('mnt/inside');
      } finally {
        execFileSync('umount', [path.join(root, 'mnt')]);
      }
    },
  );

  it('hashes content only for racy files whose metadata did not move', async () => {
    const mem = new MemoryFileSystem();
    // A file system whose timestamps cannot tell the change: only content hashing can.
    const frozen: typeof mem = Object.create(mem);
    frozen.lstat = async (p: string): Promise<FileStat> => ({
      ...(await mem.lstat(p)),
      mtimeMs: 1,
      ctimeMs: 1,
    });
    await mem.mkdir('/r', { mode: 0o755 });
    await mem.writeFile('/r/f', Buffer.from('aaaa'), { mode: 0o644 });
    const old = await recordTree('/r', { fs: frozen });
    expect(old.paths.get('f')?.hash).toBeUndefined(); // mtime 1 ms: not racy, not hashed
    const racy = await recordTree('/r', { fs: mem });
    expect(racy.paths.get('f')?.hash).toMatch(/^[0-9a-f]{64}$/);
    await mem.writeFile('/r/f', Buffer.from('bbbb'), { mode: 0o644 });
    const viaFrozen = { ...racy, options: { fs: frozen } };
    racy.paths.set('f', { ...racy.paths.get('f')!, mtimeMs: 1, ctimeMs: 1 });
    expect((await diffDirectories(viaFrozen)).changed).toEqual(['f']);
    expect((await diffDirectories({ ...old, options: { fs: frozen } })).changed).toEqual([]);
  });

  it('diffs 2,000 aged files and reports exactly the 3 changed paths', async () => {
    const root = tmpDir('many');
    for (let d = 0; d < 20; d++) {
      fs.mkdirSync(path.join(root, `d${d}`));
      for (let f = 0; f < 100; f++) fs.writeFileSync(path.join(root, `d${d}`, `f${f}`), `${d}-${f}`);
    }
    // Age the tree so that nothing is racy (as a freshly extracted base image would be).
    execFileSync('find', [root, '-exec', 'touch', '-h', '-d', '2020-01-01', '{}', '+']);
    const before = await recordTree(root);
    fs.writeFileSync(path.join(root, 'd3/f7'), 'x');
    fs.rmSync(path.join(root, 'd4/f1'));
    fs.writeFileSync(path.join(root, 'd5/new'), 'n');
    const diff = await diffDirectories(before);
    expect(diff.added).toEqual(['d5/new']);
    expect(diff.deleted).toEqual(['d4/f1']);
    expect(diff.changed).toEqual(['d3/f7', 'd4', 'd5']); // d3's mtime: unchanged by rewriting a file in it
  });
});

const canMount =
  process.getuid?.() === 0 &&
  (() => {
    const d = tmpDirSync();
    try {
      for (const s of ['l', 'u', 'w', 'm']) fs.mkdirSync(path.join(d, s));
      execFileSync(
        'mount',
        ['-t', 'overlay', 'overlay', '-o', `lowerdir=${d}/l,upperdir=${d}/u,workdir=${d}/w`, `${d}/m`],
        { stdio: 'ignore' },
      );
      execFileSync('umount', [`${d}/m`]);
      return true;
    } catch {
      return false;
    } finally {
      fs.rmSync(d, { recursive: true, force: true });
    }
  })();

function tmpDirSync(): string {
  return fs.mkdtempSync(path.join(process.env.TMPDIR ?? '/tmp', 'kiln-ovl-probe-'));
}

describe('layerFromOverlayUpper', () => {
  it.skipIf(!canMount)(
    'converts a real overlayfs upper dir; the layer over the lower tree equals the merged view',
    async () => {
      const base = tmpDir('ovl');
      const [lower, upper, work, merged] = ['l', 'u', 'w', 'm'].map((s) => path.join(base, s)) as [
        string,
        string,
        string,
        string,
      ];
      for (const d of [lower, upper, work, merged]) fs.mkdirSync(d);
      writeTree(lower, LOWER);
      execFileSync('mount', [
        '-t',
        'overlay',
        'overlay',
        '-o',
        `lowerdir=${lower},upperdir=${upper},workdir=${work}`,
        merged,
      ]);
      let expected: string[];
      try {
        mutate(merged);
        expected = describeTree(merged, { skip: skipProc });
      } finally {
        execFileSync('umount', [merged]);
      }
      const changes = await layerFromOverlayUpper(upper, { ignore: ['proc'] });
      expect(changes.deleted).toEqual(['usr/share/doc/a', 'var/cache/apt/pkgcache.bin']);
      expect(changes.opaque).toEqual(['var/lib/x']);
      const paths = changes.entries.map((e) => e.path);
      expect(paths).toContain('var/lib/x/.wh..wh..opq');
      expect(paths).toContain('usr/share/doc/.wh.a');
      expect(paths.some((p) => p.startsWith('usr/share/doc/b'))).toBe(false); // untouched: not in upper
      const applied = await applyToLower(changes.entries);
      expect(describeTree(applied, { skip: skipProc })).toEqual(expected);
    },
  );

  it.skipIf(!canUnshare)(
    'converts a rootless overlay (user namespace, userxattr: user.overlay.opaque)',
    async () => {
      const base = tmpDir('ovl-userns');
      const [lower, upper, work, merged, plain] = ['l', 'u', 'w', 'm', 'p'].map((s) =>
        path.join(base, s),
      ) as [string, string, string, string, string];
      for (const d of [lower, upper, work, merged]) fs.mkdirSync(d);
      writeTree(lower, LOWER);
      execFileSync('cp', ['-a', lower, plain]);
      // The same shell mutations on the overlay (inside the namespace) and on a plain copy.
      const script = (root: string) =>
        `cd ${root} && rm etc/motd && rm -rf usr/share/doc/a var/lib/x && mkdir var/lib/x && echo n > var/lib/x/new && echo hi > new-file`;
      const mountOpts = `lowerdir=${lower},upperdir=${upper},workdir=${work},userxattr`;
      execFileSync('unshare', [
        '-rm',
        'sh',
        '-c',
        `mount -t overlay overlay -o ${mountOpts} ${merged} && ${script(merged)} && cd / && umount ${merged}`,
      ]);
      execFileSync('sh', ['-c', script(plain)]);
      const changes = await layerFromOverlayUpper(upper);
      expect(changes.opaque).toEqual(['var/lib/x']);
      expect(changes.deleted).toEqual(['etc/motd', 'usr/share/doc/a']);
      const applied = await applyToLower(changes.entries);
      // Owners inside the namespace map to root outside: compare everything but owners.
      const noOwner = (lines: string[]) => lines.map((l) => l.replace(/ \d+:\d+$/, ''));
      expect(noOwner(describeTree(applied))).toEqual(noOwner(describeTree(plain)));
    },
  );

  it('converts a simulated upper dir (0:0 char-device whiteouts, opaque xattr set through GNU tar)', async () => {
    if (process.getuid?.() !== 0) return; // mknod needs root
    const upper = tmpDir('upper');
    writeTree(upper, { 'etc/motd': 'changed', 'var/lib/x/new': 'n' });
    execFileSync('mknod', [path.join(upper, 'etc/hosts'), 'c', '0', '0']);
    await nodeFileSystem.setXattrs!(path.join(upper, 'var/lib/x'), 'dir', {
      'trusted.overlay.opaque': Buffer.from('y'),
    });
    const changes = await layerFromOverlayUpper(upper);
    expect(changes.deleted).toEqual(['etc/hosts']);
    expect(changes.opaque).toEqual(['var/lib/x']);
    expect(changes.entries.map((e) => e.path)).toEqual([
      'etc',
      'etc/.wh.hosts',
      'etc/motd',
      'var',
      'var/lib',
      'var/lib/x',
      'var/lib/x/.wh..wh..opq',
      'var/lib/x/new',
    ]);
  });

  it('rejects an upper dir whose data stays in lower layers (redirect_dir)', async () => {
    const mem = new MemoryFileSystem();
    await mem.mkdir('/u', { mode: 0o755 });
    await mem.mkdir('/u/moved', { mode: 0o755 });
    await mem.setXattrs('/u/moved', 'dir', { 'trusted.overlay.redirect': Buffer.from('/orig') });
    await expect(layerFromOverlayUpper('/u', { fs: mem })).rejects.toMatchObject({
      code: 'KILN_OVERLAY_UNSUPPORTED',
      entry: 'moved',
    });
  });
});
