import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { extractLayer, type FileSystem, fsError, MemoryFileSystem, nodeFileSystem } from '../src/index.js';
import { rawTar } from './helpers/raw-tar.js';
import { tmpDir } from './helpers/tree.js';

const asRoot = process.getuid?.() === 0;
const layer = () =>
  rawTar(
    [
      { name: 'home', type: 'dir' },
      { name: 'home/app', type: 'dir', uid: 1000, gid: 1000, mode: 0o700 },
      { name: 'home/app/data', content: 'd', uid: 1000, gid: 1000, mode: 0o4750 },
      { name: 'home/app/link', type: 'symlink', linkname: 'data', uid: 1000, gid: 1000 },
      { name: 'root-file', content: 'r' },
    ],
    { gzip: true },
  );

/** A file system like a user namespace that maps only uid/gid 0: other ids fail with EINVAL. */
function namespaced(base: FileSystem): FileSystem {
  const check = (p: string, uid: number, gid: number) => {
    if (uid !== 0 || gid !== 0) throw fsError('EINVAL', 'chown', p);
  };
  // Object.create keeps a class instance's methods (a spread would drop them).
  const wrapped: FileSystem = Object.create(base);
  wrapped.lchown = async (p, uid, gid) => {
    check(p, uid, gid);
    return base.lchown(p, uid, gid);
  };
  if (base.createFile) {
    wrapped.createFile = async (p, data, meta) => {
      if (meta.owner) check(p, meta.owner.uid, meta.owner.gid);
      return base.createFile!(p, data, meta);
    };
  }
  return wrapped;
}

describe.skipIf(!asRoot)('extractLayer ownership', () => {
  it('keeps owners and setuid bits as root (chown before chmod)', async () => {
    const root = tmpDir('own');
    await extractLayer(Readable.from([layer()]), root, { ownership: 'keep' });
    const st = fs.statSync(path.join(root, 'home/app/data'));
    expect([st.uid, st.gid, st.mode & 0o7777]).toEqual([1000, 1000, 0o4750]);
    expect(fs.lstatSync(path.join(root, 'home/app/link')).uid).toBe(1000);
    expect(fs.statSync(path.join(root, 'home/app')).mode & 0o7777).toBe(0o700);
  });

  it('auto: in a namespace that cannot map an id, keeps going and counts what it could not chown', async () => {
    for (const base of [nodeFileSystem, new MemoryFileSystem()]) {
      const root = base === nodeFileSystem ? tmpDir('ns') : '/';
      const r = await extractLayer(Readable.from([layer()]), root, {
        fs: namespaced(base),
        ownership: 'auto',
      });
      expect(r.ownershipSkipped).toBe(3);
      const st = await base.lstat(path.join(root, 'home/app/data'));
      expect([st.uid, st.mode]).toEqual([0, 0o4750]);
      expect((await base.readFile(path.join(root, 'home/app/data'))).toString()).toBe('d');
    }
  });

  it('keep: fails when an owner cannot be applied; ignore: never chowns', async () => {
    await expect(
      extractLayer(Readable.from([layer()]), tmpDir('keep'), {
        fs: namespaced(nodeFileSystem),
        ownership: 'keep',
      }),
    ).rejects.toMatchObject({ code: 'EINVAL' });
    const mem = new MemoryFileSystem();
    const r = await extractLayer(Readable.from([layer()]), '/', { fs: mem, ownership: 'ignore' });
    expect(r.ownershipSkipped).toBe(0);
    expect((await mem.lstat('/home/app/data')).uid).toBe(0);
  });
});
