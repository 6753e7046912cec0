import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { buildFileIndex, type LayerEntry } from '../src/index.js';
import { layerBytes } from './helpers/layer-bytes.js';
import { rawTar } from './helpers/raw-tar.js';
import { sh, tmpDir, writeTree } from './helpers/tree.js';

const dir = (p: string, mode = 0o755, uid = 0): LayerEntry => ({ path: p, type: 'dir', mode, uid, gid: uid });
const file = (p: string, content: string, mode = 0o644, uid = 0): LayerEntry => ({
  path: p,
  type: 'file',
  mode,
  uid,
  gid: uid,
  open: () => Buffer.from(content),
});
const link = (p: string, target: string): LayerEntry => ({
  path: p,
  type: 'symlink',
  mode: 0o777,
  uid: 0,
  gid: 0,
  linkname: target,
});
const wh = (p: string): LayerEntry => ({
  path: p,
  type: 'file',
  mode: 0o644,
  uid: 0,
  gid: 0,
  open: () => Buffer.alloc(0),
});

let counter = 0;
/** Layers as the index takes them, counting how often each is opened. */
async function stack(...layers: LayerEntry[][]) {
  const opens: number[] = layers.map(() => 0);
  const out = [];
  for (const [i, entries] of layers.entries()) {
    const { bytes } = await layerBytes(entries);
    out.push({
      digest: `sha256:${String(++counter).padStart(64, '0')}`,
      open: async () => {
        opens[i]!++;
        return Readable.from([bytes]);
      },
    });
  }
  return { layers: out, opens };
}

describe('buildFileIndex', () => {
  it('merges layers from headers, applying whiteouts and opaque directories across the stack', async () => {
    const { layers } = await stack(
      [
        dir('usr'),
        dir('usr/lib'),
        file('usr/lib/a.so', 'aaaa'),
        file('usr/lib/b.so', 'b'),
        dir('opt'),
        file('opt/x', 'x'),
        dir('opt/y'),
      ],
      [
        wh('usr/lib/.wh.b.so'),
        dir('opt', 0o700),
        wh('opt/.wh..wh..opq'),
        file('opt/new', 'n'),
        link('lib', 'usr/lib'),
      ],
    );
    const index = await buildFileIndex(layers);
    expect([...index.entries()].map(([p]) => p)).toEqual([
      'lib',
      'opt',
      'opt/new',
      'usr',
      'usr/lib',
      'usr/lib/a.so',
    ]);
    expect(index.get('usr/lib/a.so')).toMatchObject({ type: 'file', size: 4, mode: 0o644 });
    expect(index.get('opt')).toMatchObject({ type: 'dir', mode: 0o700 });
    expect(index.get('usr/lib/b.so')).toBeUndefined();
  });

  it('resolves paths through symlinked directories like chroot (/lib -> usr/lib), with loops reported', async () => {
    const { layers } = await stack([
      dir('usr'),
      dir('usr/lib'),
      file('usr/lib/libc.so.6', 'elf'),
      link('lib', 'usr/lib'),
      link('lib64', '/usr/lib'),
      link('usr/lib/up', '../../../../..'),
      link('loop1', 'loop2'),
      link('loop2', 'loop1'),
      link('dangling', 'nowhere'),
    ]);
    const index = await buildFileIndex(layers);
    expect(index.resolve('/lib/libc.so.6')).toMatchObject({
      path: 'usr/lib/libc.so.6',
      entry: { type: 'file' },
    });
    expect(index.resolve('lib64/libc.so.6')?.path).toBe('usr/lib/libc.so.6');
    expect(index.resolve('usr/lib/up/usr')?.path).toBe('usr');
    expect(index.resolve('lib', { followFinal: false })).toMatchObject({
      path: 'lib',
      entry: { type: 'symlink' },
    });
    expect(index.resolve('lib/new-file')).toEqual({ path: 'usr/lib/new-file', entry: undefined });
    expect(index.resolve('missing/dir/file')).toBeUndefined();
    expect(index.exists('dangling')).toBe(true);
    expect(index.resolve('dangling')).toEqual({ path: 'nowhere', entry: undefined });
    expect(() => index.resolve('loop1/x')).toThrow(expect.objectContaining({ code: 'KILN_SYMLINK_LOOP' }));
  });

  it('keeps captured file contents (following symlinks) and only those', async () => {
    const { layers } = await stack(
      [
        dir('etc'),
        file('etc/passwd', 'root:x:0:0::/root:/bin/sh\n'),
        file('etc/hosts', 'h'),
        file('etc/group.real', 'root:x:0:\n'),
        link('etc/group', 'group.real'),
      ],
      [file('etc/passwd', 'root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/app:/bin/sh\n')],
    );
    const capture = (p: string) => p.startsWith('etc/passwd') || p.startsWith('etc/group');
    const index = await buildFileIndex(layers, { capture });
    expect(index.readCaptured('/etc/passwd')?.toString()).toContain('app:x:1000');
    expect(index.readCaptured('etc/group')?.toString()).toBe('root:x:0:\n');
    expect(index.readCaptured('etc/hosts')).toBeUndefined();
  });

  it('caches per layer digest on disk: a rebuild in a fresh process state never opens a layer', async () => {
    const cacheDir = tmpDir('index-cache');
    const { layers, opens } = await stack(
      [dir('etc'), file('etc/passwd', 'root:x:0:0::/root:/bin/sh\n')],
      [file('x', 'y')],
    );
    const capture = (p: string) => p === 'etc/passwd';
    await buildFileIndex(layers, { capture, cacheDir });
    expect(opens).toEqual([1, 1]);
    expect(fs.readdirSync(cacheDir).sort()).toEqual(
      layers.map((l) => `${l.digest.replace(':', '-')}.json`).sort(),
    );
    // Same digests, new openers that would fail: only the cache can answer.
    const again = layers.map((l) => ({
      digest: l.digest,
      open: async () => Promise.reject(new Error('downloaded')),
    }));
    const index = await buildFileIndex(again, { capture, cacheDir });
    expect(index.readCaptured('etc/passwd')?.toString()).toBe('root:x:0:0::/root:/bin/sh\n');
    expect(index.get('x')).toMatchObject({ type: 'file', size: 1 });
  });

  it('rebuilds a corrupt cache file instead of trusting it', async () => {
    const cacheDir = tmpDir('index-cache');
    const { layers, opens } = await stack([file('a', 'x')]);
    fs.writeFileSync(
      path.join(cacheDir, `${layers[0]!.digest.replace(':', '-')}.json`),
      '{"version":1,"entr',
    );
    const index = await buildFileIndex(layers, { cacheDir });
    expect(opens).toEqual([1]);
    expect(index.get('a')).toMatchObject({ type: 'file', size: 1 });
    expect(
      JSON.parse(fs.readFileSync(path.join(cacheDir, fs.readdirSync(cacheDir)[0]!), 'utf8')).version,
    ).toBe(2);
  });

  it('rebuilds a cache file of the first format (whiteouts applied apart from the entries)', async () => {
    const cacheDir = tmpDir('index-cache');
    const { layers, opens } = await stack([link('etc', '/x/etc'), file('etc/passwd', 'p')]);
    const v1 = {
      version: 1,
      entries: [
        ['etc', 'symlink', 0o777, 0, 0, 0, '/x/etc', 0],
        ['etc/passwd', 'file', 0o644, 0, 0, 1, '', 0],
      ],
      whiteouts: [],
      opaques: [],
      captured: {},
      tooBig: [],
    };
    fs.writeFileSync(path.join(cacheDir, `${layers[0]!.digest.replace(':', '-')}.json`), JSON.stringify(v1));
    const index = await buildFileIndex(layers, { cacheDir });
    expect(opens).toEqual([1]);
    expect(index.get('etc')).toMatchObject({ type: 'symlink', linkname: '/x/etc' });
    expect(index.get('x/etc/passwd')).toMatchObject({ type: 'file', size: 1 });
  });

  it('re-reads a cached layer when a new capture selects a file whose content was not kept', async () => {
    const { layers, opens } = await stack([dir('etc'), file('etc/group', 'g'), file('etc/passwd', 'p')]);
    await buildFileIndex(layers, { capture: (p) => p === 'etc/passwd' });
    const index = await buildFileIndex(layers, { capture: (p) => p === 'etc/group' });
    expect(opens).toEqual([2]);
    expect(index.readCaptured('etc/group')?.toString()).toBe('g');
  });

  it('indexes a GNU tar layer (./ prefixes, hardlinks, implicit parent directories)', async () => {
    const src = tmpDir('src');
    writeTree(src, { 'bin/busybox': { content: 'bb', mode: 0o755 }, 'bin/sh': { hardlink: 'bin/busybox' } });
    const gnu = sh('tar', ['-czf', '-', '--numeric-owner', '-C', src, './bin/busybox', './bin/sh']);
    const implicit = rawTar([{ name: 'var/log/app.log', content: 'log' }]);
    const index = await buildFileIndex([
      { digest: 'sha256:gnu', open: async () => Readable.from([gnu]) },
      { digest: 'sha256:implicit', open: async () => Readable.from([implicit]) },
    ]);
    expect(index.get('bin/sh')).toMatchObject({
      type: 'hardlink',
      linkname: 'bin/busybox',
      mode: 0o755,
      size: 2,
    });
    expect(index.get('var/log')).toMatchObject({ type: 'dir', implicit: true });
    expect(index.get(path.posix.join('var', 'log', 'app.log'))).toMatchObject({ type: 'file', size: 3 });
  });
});
