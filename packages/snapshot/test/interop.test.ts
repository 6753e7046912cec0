import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { entriesFromDirectory, extractLayer, type LayerEntry, measureLayer } from '../src/index.js';
import { layerBytes } from './helpers/layer-bytes.js';
import { readOciLayers, writeOciLayout } from './helpers/oci-layout.js';
import { describeTree, sh, type TreeSpec, tmpDir, writeTree } from './helpers/tree.js';

// Real readers and writers of layers: umoci (OCI's reference unpacker), GNU tar and buildah.
const asRoot = process.getuid?.() === 0;

/** A tree with every kind of object a layer carries, odd modes, owners and a long path. */
const RICH_TREE: TreeSpec = {
  'bin/sh': { content: '#!/bin/sh\necho hi\n', mode: 0o755 },
  'etc/passwd': { content: 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n' },
  'etc/shadow': { content: 'root:*:1::::::\n', mode: 0o640, uid: 0, gid: 42 },
  'home/app': { dir: true, uid: 1000, gid: 1000, mode: 0o750 },
  'home/app/.bashrc': { content: 'PS1=x', uid: 1000, gid: 1000, mode: 0o600 },
  lib: { symlink: 'usr/lib' },
  'usr/lib/libz.so.1.3': { content: 'z'.repeat(70_000) },
  'usr/lib/libz.so.1': { symlink: 'libz.so.1.3' },
  'usr/lib/libz-hard.so': { hardlink: 'usr/lib/libz.so.1.3' },
  'usr/bin/passwd': { content: 'suid', mode: 0o4755 },
  'usr/bin/wall': { content: 'sgid', mode: 0o2755, uid: 0, gid: 5 },
  tmp: { dir: true, mode: 0o1777 },
  'run/initctl': { fifo: true },
  [`deep/${'n'.repeat(90)}/${'m'.repeat(90)}/${'o'.repeat(90)}.txt`]: 'long path',
  'big/owner': { content: 'x', uid: 3_000_000, gid: 3_000_001 },
  dangling: { symlink: '/nowhere/at/all' },
  empty: '',
};

describe.skipIf(!asRoot)('interop with umoci, GNU tar and buildah (as root, to compare owners)', () => {
  it('umoci unpacks a kiln layer into the same tree (types, modes, owners, targets, content, mtimes)', async () => {
    const src = tmpDir('src');
    writeTree(src, RICH_TREE);
    const { desc, bytes } = await layerBytes(entriesFromDirectory(src));
    expect(await measureLayer(Readable.from([bytes]))).toMatchObject({
      digest: desc.digest,
      diffId: desc.diffId,
      size: desc.size,
      uncompressedSize: desc.uncompressedSize,
    });
    const layout = path.join(tmpDir('layout'), 'oci');
    writeOciLayout(layout, 'v1', [{ bytes, diffId: desc.diffId, mediaType: desc.mediaType }]);
    const bundle = path.join(tmpDir('bundle'), 'b');
    sh('umoci', ['unpack', '--image', `${layout}:v1`, bundle]);
    const rootfs = path.join(bundle, 'rootfs');
    expect(describeTree(rootfs, { mtimes: true })).toEqual(describeTree(src, { mtimes: true }));
  });

  it('umoci applies a kiln layer stack with whiteouts and opaque dirs as kiln extraction does', async () => {
    const lower: LayerEntry[] = [
      { path: 'a', type: 'dir', mode: 0o755, uid: 0, gid: 0 },
      { path: 'a/keep', type: 'file', mode: 0o644, uid: 0, gid: 0, open: () => Buffer.from('k') },
      { path: 'a/gone', type: 'file', mode: 0o644, uid: 0, gid: 0, open: () => Buffer.from('g') },
      { path: 'o', type: 'dir', mode: 0o755, uid: 0, gid: 0 },
      { path: 'o/old1', type: 'file', mode: 0o644, uid: 0, gid: 0, open: () => Buffer.from('1') },
      { path: 'o/sub', type: 'dir', mode: 0o755, uid: 0, gid: 0 },
      { path: 'o/sub/old2', type: 'file', mode: 0o644, uid: 0, gid: 0, open: () => Buffer.from('2') },
      { path: 'd', type: 'dir', mode: 0o755, uid: 0, gid: 0 },
      { path: 'd/x', type: 'file', mode: 0o644, uid: 0, gid: 0, open: () => Buffer.from('x') },
    ];
    const upper: LayerEntry[] = [
      { path: 'a/.wh.gone', type: 'file', mode: 0o644, uid: 0, gid: 0, open: () => Buffer.alloc(0) },
      { path: 'o', type: 'dir', mode: 0o700, uid: 0, gid: 0 },
      { path: 'o/.wh..wh..opq', type: 'file', mode: 0o644, uid: 0, gid: 0, open: () => Buffer.alloc(0) },
      { path: 'o/new', type: 'file', mode: 0o644, uid: 0, gid: 0, open: () => Buffer.from('n') },
      { path: '.wh.d', type: 'file', mode: 0o644, uid: 0, gid: 0, open: () => Buffer.alloc(0) },
    ];
    const layers = [await layerBytes(lower), await layerBytes(upper, { deterministic: true })];
    const layout = path.join(tmpDir('layout'), 'oci');
    writeOciLayout(
      layout,
      'v1',
      layers.map(({ desc, bytes }) => ({ bytes, diffId: desc.diffId, mediaType: desc.mediaType })),
    );
    const bundle = path.join(tmpDir('bundle'), 'b');
    sh('umoci', ['unpack', '--image', `${layout}:v1`, bundle]);
    const ours = tmpDir('ours');
    for (const { bytes } of layers) await extractLayer(Readable.from([bytes]), ours);
    const theirs = describeTree(path.join(bundle, 'rootfs'));
    expect(describeTree(ours)).toEqual(theirs);
    expect(theirs.map((l) => l.split(' ')[0])).toEqual(['a', 'a/keep', 'o', 'o/new']);
  });

  it('extracts a GNU tar layer into the same tree as GNU tar itself', async () => {
    const src = tmpDir('src');
    writeTree(src, RICH_TREE);
    const layer = sh('tar', ['-czf', '-', '--numeric-owner', '-C', src, '.']);
    const ours = tmpDir('ours');
    const r = await extractLayer(Readable.from([layer]), ours);
    expect(r.entries).toBeGreaterThan(20);
    const theirs = tmpDir('theirs');
    sh('tar', ['-xzpf', '-', '--numeric-owner', '-C', theirs], { input: layer });
    expect(describeTree(ours, { mtimes: true })).toEqual(describeTree(theirs, { mtimes: true }));
    expect(describeTree(ours, { mtimes: true })).toEqual(describeTree(src, { mtimes: true }));
  });

  it('applies xattrs from a GNU tar --xattrs layer (security.capability and user.*)', async () => {
    const src = tmpDir('src');
    writeTree(src, { 'bin/ping': { content: 'ping', mode: 0o755 }, data: { dir: true } });
    const cap = Buffer.from([1, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    // Build with kiln (xattrs are PAX SCHILY records), then let GNU tar confirm what it extracts.
    const entries: LayerEntry[] = [
      { path: 'bin', type: 'dir', mode: 0o755, uid: 0, gid: 0 },
      {
        path: 'bin/ping',
        type: 'file',
        mode: 0o755,
        uid: 0,
        gid: 0,
        open: () => Buffer.from('ping'),
        xattrs: { 'security.capability': cap },
      },
      {
        path: 'data',
        type: 'dir',
        mode: 0o755,
        uid: 0,
        gid: 0,
        xattrs: { 'user.note': Buffer.from('hello') },
      },
    ];
    const { bytes } = await layerBytes(entries);
    const ours = tmpDir('ours');
    const r = await extractLayer(Readable.from([bytes]), ours);
    expect(r.xattrsSkipped).toEqual([]);
    const listed = sh('tar', [
      '--xattrs',
      '--xattrs-include=*',
      '-cvvf',
      '/dev/null',
      '-C',
      ours,
      'bin/ping',
      'data',
    ]).toString();
    const dump = sh('tar', ['--xattrs', '--xattrs-include=*', '-cf', '-', '-C', ours, 'bin/ping', 'data']);
    const tv = sh('tar', ['--xattrs', '--xattrs-include=*', '-tvvf', '-'], { input: dump }).toString();
    expect(listed + tv).toContain('x: 20 security.capability');
    expect(tv).toContain('x: 5 user.note');
    expect(fs.readFileSync(path.join(ours, 'bin/ping'), 'utf8')).toBe('ping');
    expect(fs.statSync(path.join(ours, 'bin/ping')).mode & 0o7777).toBe(0o755);
  });

  it('extracts a layer buildah wrote into the tree buildah copied', async () => {
    const src = tmpDir('src');
    writeTree(src, {
      'app/main.js': { content: 'console.log(1)', mode: 0o644 },
      'app/run.sh': { content: '#!/bin/sh', mode: 0o755 },
      'app/lib': { symlink: '../usr/lib' },
      'usr/lib/x.so': 'so',
      'etc/conf.d': { dir: true, mode: 0o700 },
    });
    const work = tmpDir('buildah');
    const g = [
      '--root',
      path.join(work, 'storage'),
      '--runroot',
      path.join(work, 'run'),
      '--storage-driver',
      'vfs',
    ];
    const ctr = sh('buildah', [...g, 'from', 'scratch'])
      .toString()
      .trim();
    sh('buildah', [...g, 'copy', ctr, src, '/']);
    sh('buildah', [...g, 'commit', '-q', ctr, `oci:${path.join(work, 'layout')}:latest`]);
    const [layer] = readOciLayers(path.join(work, 'layout'));
    const ours = tmpDir('ours');
    await extractLayer(Readable.from([layer!]), ours);
    expect(describeTree(ours)).toEqual(describeTree(src));
  });
});
