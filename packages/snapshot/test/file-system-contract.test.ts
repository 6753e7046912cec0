import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import {
  entriesFromDirectory,
  type FileSystem,
  MemoryFileSystem,
  nodeFileSystem,
  readTar,
} from '../src/index.js';
import { decompressAuto } from '../src/layer/compression.js';
import { layerBytes } from './helpers/layer-bytes.js';
import { tmpDir } from './helpers/tree.js';

const asRoot = process.getuid?.() === 0;

/** One contract, every implementation: what extraction and diffs rely on. */
const implementations: [string, () => { fs: FileSystem; root: string }][] = [
  ['nodeFileSystem', () => ({ fs: nodeFileSystem, root: tmpDir('fs-contract') })],
  ['MemoryFileSystem', () => ({ fs: new MemoryFileSystem(), root: '/' })],
];

describe.each(implementations)('FileSystem contract: %s', (_name, make) => {
  it('reports kinds, modes and errno codes like node:fs', async () => {
    const { fs, root } = make();
    const p = (s: string) => path.posix.join(root, s);
    await fs.mkdir(p('d'), { mode: 0o755 });
    await fs.writeFile(p('d/f'), Buffer.from('abc'), { mode: 0o644 });
    await fs.chmod(p('d/f'), 0o4755);
    await fs.symlink('d/f', p('l'));
    expect(await fs.lstat(p('d'))).toMatchObject({ kind: 'dir' });
    expect(await fs.lstat(p('d/f'))).toMatchObject({ kind: 'file', size: 3, mode: 0o4755, nlink: 1 });
    expect(await fs.lstat(p('l'))).toMatchObject({ kind: 'symlink', size: 3 });
    expect(await fs.readlink(p('l'))).toBe('d/f');
    expect((await fs.readdir(p('d'))).sort()).toEqual(['f']);
    await expect(fs.lstat(p('missing'))).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(fs.lstat(p('d/f/x'))).rejects.toMatchObject({ code: 'ENOTDIR' });
    await expect(fs.mkdir(p('d'), { mode: 0o755 })).rejects.toMatchObject({ code: 'EEXIST' });
    await expect(fs.mkdir(p('x/y'), { mode: 0o755 })).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('follows symlinks in directory components but never in the last one', async () => {
    const { fs, root } = make();
    const p = (s: string) => path.posix.join(root, s);
    await fs.mkdir(p('real'), { mode: 0o755 });
    await fs.symlink('real', p('alias'));
    await fs.writeFile(p('alias/f'), Buffer.from('via alias'), { mode: 0o644 });
    expect((await fs.readFile(p('real/f'))).toString()).toBe('via alias');
    await fs.lchown(p('alias'), 0, 0);
    expect((await fs.lstat(p('alias'))).kind).toBe('symlink');
    await fs.rm(p('alias'));
    expect((await fs.lstat(p('real/f'))).kind).toBe('file');
  });

  it('creates write streams exclusively, never through a symlink', async () => {
    const { fs, root } = make();
    const p = (s: string) => path.posix.join(root, s);
    await fs.writeFile(p('target'), Buffer.from('keep'), { mode: 0o644 });
    await fs.symlink(p('target'), p('link'));
    await expect(
      pipeline(Readable.from([Buffer.from('x')]), fs.createWriteStream(p('link'), { mode: 0o644 })),
    ).rejects.toMatchObject({
      code: 'EEXIST',
    });
    expect((await fs.readFile(p('target'))).toString()).toBe('keep');
    await pipeline(Readable.from([Buffer.from('new')]), fs.createWriteStream(p('new'), { mode: 0o600 }));
    expect((await fs.readFile(p('new'))).toString()).toBe('new');
    const chunks: Buffer[] = [];
    for await (const c of fs.createReadStream(p('new'))) chunks.push(c as Buffer);
    expect(Buffer.concat(chunks).toString()).toBe('new');
  });

  it('shares inodes between hardlinks, renames, removes trees and keeps times', async () => {
    const { fs, root } = make();
    const p = (s: string) => path.posix.join(root, s);
    await fs.writeFile(p('a'), Buffer.from('1'), { mode: 0o644 });
    await fs.link(p('a'), p('b'));
    const [a, b] = [await fs.lstat(p('a')), await fs.lstat(p('b'))];
    expect([a.ino, a.nlink, a.dev]).toEqual([b.ino, 2, b.dev]);
    await fs.rename(p('b'), p('c'));
    expect((await fs.lstat(p('c'))).ino).toBe(a.ino);
    await fs.lutimes(p('c'), 1_000_000, 1_234_000);
    expect((await fs.lstat(p('a'))).mtimeMs).toBe(1_234_000);
    await fs.mkdir(p('t'), { mode: 0o755 });
    await fs.mkdir(p('t/u'), { mode: 0o755 });
    await fs.writeFile(p('t/u/f'), Buffer.from(''), { mode: 0o644 });
    await fs.rm(p('t'), { recursive: true });
    await fs.rm(p('t'));
    await expect(fs.lstat(p('t'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it.skipIf(!asRoot)('creates FIFOs and device nodes, and round-trips xattrs', async () => {
    const { fs, root } = make();
    const p = (s: string) => path.posix.join(root, s);
    await fs.mknod!(p('fifo'), 'fifo', 0o644, 0, 0);
    await fs.mknod!(p('null'), 'char', 0o666, 1, 3);
    expect(await fs.lstat(p('fifo'))).toMatchObject({ kind: 'fifo' });
    expect(await fs.lstat(p('null'))).toMatchObject({ kind: 'char', rdevMajor: 1, rdevMinor: 3 });
    await fs.mkdir(p('d'), { mode: 0o755 });
    await fs.writeFile(p('d/f'), Buffer.from('content'), { mode: 0o755 });
    const cap = Buffer.from([1, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    await fs.setXattrs!(p('d/f'), 'file', {
      'security.capability': cap,
      'user.bin': Buffer.from([0, 255, 10]),
    });
    await fs.setXattrs!(p('d'), 'dir', { 'trusted.overlay.opaque': Buffer.from('y') });
    const got = await fs.readXattrs!([p('d'), p('d/f'), p('fifo')]);
    expect(got.get(p('d'))).toEqual({ 'trusted.overlay.opaque': Buffer.from('y') });
    expect(got.get(p('d/f'))).toEqual({ 'security.capability': cap, 'user.bin': Buffer.from([0, 255, 10]) });
    expect((await fs.readFile(p('d/f'))).toString()).toBe('content');
    expect((await fs.lstat(p('d/f'))).mode).toBe(0o755);
    // And entriesFromDirectory carries them into a layer.
    const { bytes } = await layerBytes(entriesFromDirectory(p('d'), { fs, xattrs: true }));
    const headers = [];
    for await (const e of readTar(await decompressAuto(Readable.from([bytes])))) headers.push(e.header);
    expect(headers[0]).toMatchObject({ name: 'f', xattrs: { 'security.capability': cap } });
  });
});
