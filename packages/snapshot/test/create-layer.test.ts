import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { type LayerEntry, readTar } from '../src/index.js';
import { entriesFromDirectory } from '../src/layer/entries-from-directory.js';
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
