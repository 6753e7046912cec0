import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import {
  entriesFromDirectory,
  extractLayer,
  type LayerEntry,
  MemoryFileSystem,
  measureLayer,
  readTar,
  zlibHasZstd,
} from '../src/index.js';
import { decompressAuto } from '../src/layer/compression.js';
import { layerBytes } from './helpers/layer-bytes.js';
import { describeTree, sh, type TreeSpec, tmpDir, writeTree } from './helpers/tree.js';

const TREE: TreeSpec = {
  'z/last': 'z',
  'a/first': 'a',
  'a.txt': 'dot sorts before slash',
  'm/sub/deep': { content: 'deep', mode: 0o600 },
  'm/link': { symlink: 'sub/deep' },
  'b/hard2': 'shared inode',
  'b/hard1': { hardlink: 'b/hard2' },
  exec: { content: '#!/bin/sh', mode: 0o755 },
};

/** Writes the tree in the given order of keys, at a given time. */
function checkout(order: string[], time: Date): string {
  const dir = tmpDir('det');
  const spec: TreeSpec = {};
  for (const k of order) spec[k] = TREE[k]!;
  // Hardlinks need their target first, whatever the order.
  const sorted = Object.entries(spec).sort(([, a]) => (typeof a === 'object' && 'hardlink' in a ? 1 : -1));
  writeTree(dir, Object.fromEntries(sorted));
  execFileSync('find', [dir, '-exec', 'touch', '-h', '-d', time.toISOString(), '{}', '+']);
  return dir;
}

describe('deterministic layers', () => {
  it('gives byte-identical layers twice, for two differently ordered copies and two checkout times', async () => {
    const keys = Object.keys(TREE);
    const one = checkout(keys, new Date('2024-01-01T00:00:00Z'));
    const two = checkout([...keys].reverse(), new Date('2025-06-01T12:34:56.789Z'));
    const opts = { deterministic: true, sourceDateEpoch: 1_700_000_000 };
    const a1 = await layerBytes(entriesFromDirectory(one), opts);
    const a2 = await layerBytes(entriesFromDirectory(one), opts);
    const b = await layerBytes(entriesFromDirectory(two), opts);
    expect(a2.bytes.equals(a1.bytes)).toBe(true);
    expect(b.bytes.equals(a1.bytes)).toBe(true);
    expect(b.desc).toEqual(a1.desc);
    // Not deterministic: the checkout time shows.
    const n1 = await layerBytes(entriesFromDirectory(one));
    const n2 = await layerBytes(entriesFromDirectory(two));
    expect(n1.desc.diffId).not.toBe(n2.desc.diffId);
  });

  it('sorts paths bytewise, clamps mtimes to SOURCE_DATE_EPOCH, drops user names, orders hardlinks after targets', async () => {
    const dir = checkout(Object.keys(TREE), new Date('2030-01-01T00:00:00Z'));
    const entries: LayerEntry[] = [];
    for await (const e of entriesFromDirectory(dir)) entries.push({ ...e, uname: 'someone', gname: 'group' });
    const { bytes } = await layerBytes(entries, { deterministic: true, sourceDateEpoch: 1_000 });
    const headers = [];
    for await (const e of readTar(await decompressAuto(Readable.from([bytes])))) headers.push(e.header);
    expect(headers.map((h) => h.name)).toEqual([...headers.map((h) => h.name)].sort());
    expect(headers.map((h) => h.name).slice(0, 3)).toEqual(['a', 'a.txt', 'a/first']);
    expect(new Set(headers.map((h) => h.mtimeMs))).toEqual(new Set([1_000_000]));
    expect(headers.every((h) => h.uname === '' && h.gname === '')).toBe(true);
    // Walk order met b/hard2 first only after b/hard1 sorted: the roles are swapped so the file comes first.
    expect(headers.find((h) => h.name === 'b/hard1')).toMatchObject({ type: 'file', size: 12 });
    expect(headers.find((h) => h.name === 'b/hard2')).toMatchObject({
      type: 'hardlink',
      linkname: 'b/hard1',
    });
    const out = tmpDir('x');
    sh('tar', ['-xzf', '-', '-C', out], { input: bytes });
    expect(fs.readFileSync(path.join(out, 'b/hard2'), 'utf8')).toBe('shared inode');
    // Older mtimes than the epoch are kept.
    const old = await layerBytes(
      [{ path: 'f', type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 5_000, open: () => Buffer.alloc(0) }],
      {
        deterministic: true,
        sourceDateEpoch: 1_000,
      },
    );
    for await (const e of readTar(await decompressAuto(Readable.from([old.bytes]))))
      expect(e.header.mtimeMs).toBe(5_000);
  });
});

describe('compression and file systems', () => {
  it('writes and reads zstd and uncompressed layers with their OCI media types', async () => {
    const entries = (): LayerEntry[] => [
      {
        path: 'f',
        type: 'file',
        mode: 0o644,
        uid: 0,
        gid: 0,
        open: () => Buffer.from('zstd content '.repeat(100)),
      },
    ];
    const z = await layerBytes(entries(), { compression: 'zstd', level: 5 });
    expect(z.desc.mediaType).toBe('application/vnd.oci.image.layer.v1.tar+zstd');
    expect(z.bytes.readUInt32LE(0)).toBe(0xfd2fb528);
    const plain = await layerBytes(entries(), { compression: 'none' });
    expect(plain.desc.mediaType).toBe('application/vnd.oci.image.layer.v1.tar');
    expect(plain.desc.digest).toBe(plain.desc.diffId);
    expect(z.desc.diffId).toBe(plain.desc.diffId);
    for (const { desc, bytes } of [z, plain]) {
      const m = await measureLayer(Readable.from([bytes]));
      expect(m).toEqual({
        digest: desc.digest,
        diffId: desc.diffId,
        size: desc.size,
        uncompressedSize: desc.uncompressedSize,
        compression: desc === z.desc ? 'zstd' : 'none',
      });
    }
    for (const bytes of [z.bytes, plain.bytes]) {
      const root = tmpDir('z');
      await extractLayer(Readable.from([bytes]), root);
      expect(fs.readFileSync(path.join(root, 'f'), 'utf8')).toBe('zstd content '.repeat(100));
    }
    expect(typeof zlibHasZstd).toBe('boolean');
    const docker = await layerBytes(entries(), { mediaTypes: 'docker' });
    expect(docker.desc.mediaType).toBe('application/vnd.docker.image.rootfs.diff.tar.gzip');
  });

  it('round-trips a tree through the in-memory file system: entries out, layer, extraction in', async () => {
    const mem = new MemoryFileSystem();
    const src = tmpDir('src');
    writeTree(src, TREE);
    const { bytes } = await layerBytes(entriesFromDirectory(src));
    await mem.mkdir('/root', { mode: 0o755 });
    const r = await extractLayer(Readable.from([bytes]), '/root', { fs: mem, ownership: 'keep' });
    expect(r.entries).toBe(13); // 5 directories, 5 files, 2 hardlinked names, 1 symlink
    const again = await layerBytes(entriesFromDirectory('/root', { fs: mem }));
    const back = tmpDir('back');
    await extractLayer(Readable.from([again.bytes]), back);
    expect(describeTree(back, { mtimes: true })).toEqual(describeTree(src, { mtimes: true }));
    expect((await mem.lstat('/root/b/hard1')).ino).toBe((await mem.lstat('/root/b/hard2')).ino);
  });

  it('streams files too big to write in one call (17 MiB on disk, 2 MiB in memory), replacing what was there', async () => {
    const big = randomBytes(17 * 2 ** 20);
    const entries = (content: Buffer): LayerEntry[] => [
      {
        path: 'big',
        type: 'file',
        mode: 0o600,
        uid: 0,
        gid: 0,
        size: content.length,
        open: () => Readable.from([content]),
      },
    ];
    const { bytes } = await layerBytes(entries(big), { level: 1 });
    const root = tmpDir('big');
    fs.symlinkSync('/etc/hostname', path.join(root, 'big')); // replaced, never written through
    await extractLayer(Readable.from([bytes]), root);
    expect(fs.readFileSync(path.join(root, 'big')).equals(big)).toBe(true);
    expect(fs.statSync(path.join(root, 'big')).mode & 0o777).toBe(0o600);
    const mem = new MemoryFileSystem();
    const two = big.subarray(0, 2 * 2 ** 20);
    await extractLayer(Readable.from([(await layerBytes(entries(two))).bytes]), '/', { fs: mem });
    expect((await mem.readFile('/big')).equals(two)).toBe(true);
  });

  it('stops with KILN_ABORTED when the signal fires', async () => {
    const src = tmpDir('src');
    writeTree(src, TREE);
    const { bytes } = await layerBytes(entriesFromDirectory(src));
    const ac = new AbortController();
    ac.abort('test');
    await expect(
      extractLayer(Readable.from([bytes]), tmpDir('a'), { signal: ac.signal }),
    ).rejects.toMatchObject({
      code: 'KILN_ABORTED',
    });
    await expect(layerBytes(entriesFromDirectory(src), { signal: ac.signal })).rejects.toMatchObject({
      code: 'KILN_ABORTED',
    });
  });

  it('reports a truncated or corrupt layer with KILN_TAR_INVALID', async () => {
    const { bytes } = await layerBytes(
      [{ path: 'f', type: 'file', mode: 0o644, uid: 0, gid: 0, open: () => Buffer.alloc(5000, 1) }],
      { compression: 'none' },
    );
    await expect(extractLayer(Readable.from([bytes.subarray(0, 1500)]), tmpDir('t'))).rejects.toMatchObject({
      code: 'KILN_TAR_INVALID',
    });
    const corrupt = Buffer.from(bytes);
    corrupt[10] = 0x41;
    await expect(extractLayer(Readable.from([corrupt]), tmpDir('t'))).rejects.toMatchObject({
      code: 'KILN_TAR_INVALID',
    });
  });
});
