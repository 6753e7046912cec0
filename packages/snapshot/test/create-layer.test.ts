import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { createLayer, type LayerEntry, readTar } from '../src/index.js';
import { entriesFromDirectory } from '../src/layer/entries-from-directory.js';
import { encodeTarHeader, padding } from '../src/tar/tar-header.js';
import { layerBytes } from './helpers/layer-bytes.js';
import { describeTree, sh, tmpDir, writeTree } from './helpers/tree.js';

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

describe('createLayer', () => {
  it('measures digest, diffID and both sizes in one pass, matching the bytes', async () => {
    const entries: LayerEntry[] = [
      { path: 'etc', type: 'dir', mode: 0o755, uid: 0, gid: 0 },
      {
        path: 'etc/hello',
        type: 'file',
        mode: 0o644,
        uid: 0,
        gid: 0,
        size: 6,
        open: () => Readable.from([Buffer.from('hello\n')]),
      },
    ];
    const { desc, bytes } = await layerBytes(entries);
    const tar = gunzipSync(bytes);
    expect(desc).toEqual({
      digest: sha(bytes),
      diffId: sha(tar),
      size: bytes.length,
      uncompressedSize: tar.length,
      mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
    });
    expect(tar.length % 512).toBe(0);
  });

  it('writes PAX records GNU tar reads back: long names and targets, big ids, non-ASCII, xattrs', async () => {
    const long = `${'d'.repeat(120)}/${'f'.repeat(150)}`;
    const target = `/${'t'.repeat(200)}`;
    const cap = Buffer.from([1, 0, 0, 2, 0, 32, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    const entries: LayerEntry[] = [
      {
        path: long,
        type: 'file',
        mode: 0o4755,
        uid: 3_000_000,
        gid: 2_097_152,
        size: 2,
        open: () => Buffer.from('hi'),
        mtime: 1_700_000_000_500,
      },
      { path: 'ünïcödé', type: 'symlink', mode: 0o777, uid: 0, gid: 0, linkname: target },
      {
        path: 'ping',
        type: 'file',
        mode: 0o755,
        uid: 0,
        gid: 0,
        size: 1,
        open: () => Buffer.from('x'),
        xattrs: { 'security.capability': cap },
      },
    ];
    const { bytes } = await layerBytes(entries, { compression: 'none', subsecondMtime: true });
    const dir = tmpDir();
    fs.writeFileSync(path.join(dir, 'l.tar'), bytes);
    const listing = sh('tar', ['--numeric-owner', '--full-time', '-tvf', 'l.tar'], { cwd: dir }).toString();
    expect(listing).toContain(`-rwsr-xr-x 3000000/2097152   2 2023-11-14 22:13:20.5 ${long}`);
    expect(listing).toContain(`ünïcödé -> ${target}`);
    const xattrs = sh('tar', ['--xattrs', '--xattrs-include=*', '-tvvf', 'l.tar'], { cwd: dir }).toString();
    expect(xattrs).toContain('x: 20 security.capability');
    // And our own reader sees the exact values, binary xattr included.
    const seen = [];
    for await (const e of readTar(Readable.from([bytes]))) seen.push(e.header);
    expect(seen[0]).toMatchObject({
      name: long,
      uid: 3_000_000,
      gid: 2_097_152,
      mode: 0o4755,
      mtimeMs: 1_700_000_000_500,
    });
    expect(seen[1]).toMatchObject({ name: 'ünïcödé', linkname: target, type: 'symlink' });
    expect(seen[2]!.xattrs!['security.capability']).toEqual(cap);
  });

  it('rejects a file whose content is shorter than its declared size (changed while read)', async () => {
    const entries: LayerEntry[] = [
      {
        path: 'a',
        type: 'file',
        mode: 0o644,
        uid: 0,
        gid: 0,
        size: 10,
        open: () => Readable.from([Buffer.from('abc')]),
      },
    ];
    await expect(layerBytes(entries)).rejects.toMatchObject({ code: 'KILN_ENTRY_INVALID', entry: 'a' });
  });

  it('rejects unclean paths', async () => {
    for (const p of ['/abs', '../up', 'a/../b', './a', 'a//b', '']) {
      await expect(layerBytes([{ path: p, type: 'dir', mode: 0o755, uid: 0, gid: 0 }])).rejects.toMatchObject(
        {
          code: 'KILN_ENTRY_INVALID',
        },
      );
    }
  });

  it('is read by GNU tar with the same types, modes, owners, targets and content as the source tree', async () => {
    const src = tmpDir();
    writeTree(src, {
      'bin/sh': { content: '#!/bin/sh\n', mode: 0o755 },
      'etc/passwd': { content: 'root:x:0:0::/root:/bin/sh\n', mode: 0o644 },
      'home/app': { dir: true, uid: 1000, gid: 1000, mode: 0o750 },
      'home/app/.profile': { content: 'x', uid: 1000, gid: 1000 },
      lib: { symlink: 'usr/lib' },
      'usr/lib/libc.so': { content: 'elf'.repeat(100_000) },
      'usr/lib/libc.so.6': { hardlink: 'usr/lib/libc.so' },
      tmp: { dir: true, mode: 0o1777 },
      'run/fifo': { fifo: true },
      'usr/bin/su': { content: 'su', mode: 0o4755 },
    });
    const { bytes } = await layerBytes(entriesFromDirectory(src));
    const dst = tmpDir();
    sh('tar', ['-xzpf', '-', '--numeric-owner', '-C', dst], { input: bytes });
    expect(describeTree(dst, { mtimes: true })).toEqual(describeTree(src, { mtimes: true }));
  });
});

describe('createLayer edge cases', () => {
  it('encodes sizes of 8 GiB and more in a PAX size record that the reader honours', async () => {
    const size = 9 * 2 ** 30;
    const header = encodeTarHeader({
      name: 'huge.img',
      type: 'file',
      mode: 0o644,
      uid: 0,
      gid: 0,
      size,
      mtimeMs: 0,
      linkname: '',
      uname: '',
      gname: '',
      devmajor: 0,
      devminor: 0,
      xattrs: undefined,
    });
    expect(header.toString('latin1')).toContain(`size=${size}\n`);
    const it = readTar(Readable.from([header]))[Symbol.asyncIterator]();
    const first = await it.next();
    expect(first.value?.header).toMatchObject({ name: 'huge.img', size });
    expect(padding(size)).toBe(0);
  });

  it('writes device nodes and FIFOs found on disk with their numbers', async () => {
    if (process.getuid?.() !== 0) return; // mknod needs root
    const src = tmpDir();
    sh('mknod', [path.join(src, 'null'), 'c', '1', '3']);
    sh('mknod', [path.join(src, 'loop9'), 'b', '7', '9']);
    sh('mkfifo', [path.join(src, 'pipe')]);
    const { bytes } = await layerBytes(entriesFromDirectory(src));
    const listing = sh('tar', ['-tvzf', '-'], { input: bytes }).toString();
    expect(listing).toMatch(/^crw-r--r-- 0\/0\s+1,3 .* null$/m);
    expect(listing).toMatch(/^brw-r--r-- 0\/0\s+7,9 .* loop9$/m);
    expect(listing).toMatch(/^prw-r--r-- .* pipe$/m);
  });

  it('fails with the output stream error instead of hanging (disk full, closed socket)', async () => {
    const out = new Writable({
      write(_chunk, _enc, cb) {
        cb(new Error('ENOSPC: no space left on device'));
      },
    });
    const big: LayerEntry = {
      path: 'f',
      type: 'file',
      mode: 0o644,
      uid: 0,
      gid: 0,
      size: 1 << 20,
      open: () => Readable.from([randomBytes(1 << 20)]),
    };
    await expect(createLayer([big], { out, compression: 'none' })).rejects.toThrow(/ENOSPC/);
    // A failure after the last write (on end) is reported too, not waited for forever.
    const failsOnFinal = new Writable({
      write: (_c, _e, cb) => cb(),
      final: (cb) => cb(new Error('EIO on close')),
    });
    await expect(createLayer([big], { out: failsOnFinal })).rejects.toThrow(/EIO on close/);
  });
});
