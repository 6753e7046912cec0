import { lstatSync, readFileSync } from 'node:fs';
import { lstat, mkdir, mkdtemp, readdir, readFile, realpath, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { extractLayer } from '@kiln/snapshot';
import tar from 'tar-stream';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { emptyConfig } from '../src/image/config.js';
import type { LayerRecord } from '../src/image/layer-record.js';
import { HostRoot } from '../src/stage/host-root.js';
import {
  elfInterpreter,
  findOwnPaths,
  parseMountInfo,
  runtimePrefix,
  symlinkChain,
} from '../src/stage/own-paths.js';
import type { StageContext } from '../src/stage/run-stage.js';
import { emptyFilesystem, StageState } from '../src/stage/stage-state.js';

/*
 * The in-place machinery on a temp directory standing for `/` (HostRoot.of takes the root): nothing here
 * touches the machine's real root. The whole path, on a real `/`, is tested in test/in-place/.
 */

type Entry =
  | { name: string; type: 'file'; body: string; mode?: number }
  | { name: string; type: 'directory' | 'symlink' | 'link'; linkname?: string; mode?: number };

async function tarOf(entries: Entry[]): Promise<Buffer> {
  const pack = tar.pack();
  for (const e of entries) {
    const header = {
      name: e.name,
      type: e.type,
      mode: e.mode ?? (e.type === 'directory' ? 0o755 : 0o644),
      mtime: new Date(0),
      uid: 0,
      gid: 0,
      ...('linkname' in e && e.linkname ? { linkname: e.linkname } : {}),
    };
    if (e.type === 'file') pack.entry(header, e.body);
    else pack.entry(header);
  }
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

let n = 0;
async function layer(entries: Entry[]): Promise<LayerRecord> {
  const data = await tarOf(entries);
  const id = `sha256:${String(++n).padStart(64, '0')}`;
  return {
    mediaType: 'application/vnd.oci.image.layer.v1.tar',
    digest: id,
    diffId: id,
    size: data.length,
    file: `/nonexistent/${n}`,
    open: async () => Readable.from([data]),
  };
}

const stage = (layers: LayerRecord[]) =>
  new StageState(emptyConfig({ os: 'linux', architecture: 'amd64' }), layers, emptyFilesystem());

let dir: string;
let root: string;
let work: string;
beforeEach(async () => {
  dir = await realpath(await mkdtemp(path.join(os.tmpdir(), 'kiln-host-root-')));
  root = path.join(dir, 'root');
  work = path.join(dir, 'work');
  await mkdir(work);
  // A stand-in for a pod's `/`: kiln's work dir inside tmp/, its installation in kiln/, a runtime library in
  // usr/lib, and files of the pod's own image that an in-place build replaces.
  for (const d of ['tmp/kiln-work', 'kiln/app', 'usr/lib', 'usr/share/doc', 'etc'])
    await mkdir(path.join(root, d), { recursive: true });
  await writeFile(path.join(root, 'tmp/kiln-work/state'), 'kiln');
  await writeFile(path.join(root, 'tmp/leftover'), 'pod');
  await writeFile(path.join(root, 'kiln/app/main.js'), 'kiln');
  await writeFile(path.join(root, 'usr/lib/libruntime.so'), 'runtime');
  await writeFile(path.join(root, 'usr/share/doc/readme'), 'pod');
  await writeFile(path.join(root, 'etc/os-release'), 'pod');
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const own = () => [path.join(root, 'tmp/kiln-work'), path.join(root, 'kiln'), path.join(root, 'missing/out')];
const read = (p: string) => readFile(path.join(root, p), 'utf8');
const exists = (p: string) =>
  lstat(path.join(root, p)).then(
    () => true,
    () => false,
  );

describe('HostRoot on a stand-in root', () => {
  test('emptying keeps kiln’s own paths, their parents and runtime files, and deletes the rest', async () => {
    const host = await HostRoot.of(root, own(), [path.join(root, 'usr/lib/libruntime.so')]);
    await host.empty();
    expect(await read('tmp/kiln-work/state')).toBe('kiln');
    expect(await read('kiln/app/main.js')).toBe('kiln');
    expect(await read('usr/lib/libruntime.so')).toBe('runtime');
    for (const p of ['tmp/leftover', 'usr/share', 'etc']) expect(await exists(p)).toBe(false);
    expect((await readdir(root)).sort()).toEqual(['kiln', 'tmp', 'usr']);
    expect(host.ignored).toEqual(['kiln', 'missing/out', 'tmp/kiln-work']);
  });

  test('a layer cannot write, replace, link to or remove kiln’s own paths; everything else applies', async () => {
    const host = await HostRoot.of(root, own());
    const first = await tarOf([
      { name: 'kiln/app/main.js', type: 'file', body: 'image' },
      { name: 'kiln/app/new.js', type: 'file', body: 'image' },
      { name: 'tmp/kiln-work', type: 'symlink', linkname: '/etc' },
      // A directory holding kiln's files, replaced by a symlink: its other content goes, it stays a directory.
      { name: 'tmp', type: 'symlink', linkname: '/var/tmp' },
      { name: 'etc/', type: 'directory' },
      { name: 'etc/os-release', type: 'file', body: 'image' },
      { name: 'etc/stolen', type: 'link', linkname: 'kiln/app/main.js' },
      { name: 'missing/out/x', type: 'file', body: 'image' },
    ]);
    await extractLayer(Readable.from([first]), root, host.extractOptions());
    expect(await read('kiln/app/main.js')).toBe('kiln');
    expect(await exists('kiln/app/new.js')).toBe(false);
    expect(await read('tmp/kiln-work/state')).toBe('kiln');
    expect(lstatSync(path.join(root, 'tmp')).isDirectory()).toBe(true);
    expect(await exists('tmp/leftover')).toBe(false);
    expect(await read('etc/os-release')).toBe('image');
    expect(await exists('etc/stolen')).toBe(false);
    expect(await exists('missing/out/x')).toBe(false);
    // An opaque whiteout at the root and whiteouts of kiln's paths remove only what is not kiln's.
    const second = await tarOf([
      { name: '.wh..wh..opq', type: 'file', body: '' },
      { name: 'kiln/.wh.app', type: 'file', body: '' },
      { name: 'etc/', type: 'directory' },
      { name: 'etc/hostname', type: 'file', body: 'image' },
    ]);
    await extractLayer(Readable.from([second]), root, host.extractOptions());
    expect(await read('kiln/app/main.js')).toBe('kiln');
    expect(await read('tmp/kiln-work/state')).toBe('kiln');
    expect(await exists('usr')).toBe(false);
    expect(await exists('etc/os-release')).toBe(false);
    expect(await read('etc/hostname')).toBe('image');
  });

  test('stages take turns: the next stage empties the root, unless it starts with the holder’s layers', async () => {
    const host = await HostRoot.of(root, own());
    const ctx = { workDir: work, cleanups: [], hostRoot: host } as unknown as StageContext;
    const base = await layer([{ name: 'base.txt', type: 'file', body: 'base' }]);
    const a = stage([base, await layer([{ name: 'a.txt', type: 'file', body: 'a' }])]);
    expect(await host.take(ctx, a)).toBe(root);
    expect(a.rootfsDir).toBe(root);
    expect(await read('a.txt')).toBe('a');
    expect(await exists('etc')).toBe(false);
    await expect(host.take(ctx, stage([base]))).rejects.toMatchObject({ code: 'KILN_IN_PLACE_BUSY' });
    host.finished(a);

    // FROM a: nothing is deleted, only the new layer is applied.
    await writeFile(path.join(root, 'marker'), 'kept');
    const b = stage([...a.layers, await layer([{ name: 'b.txt', type: 'file', body: 'b' }])]);
    await host.take(ctx, b);
    expect([await read('marker'), await read('a.txt'), await read('b.txt')]).toEqual(['kept', 'a', 'b']);
    expect(a.rootfsDir).toBeUndefined();
    // a's files now come from a copy in the work dir.
    const chunks: Buffer[] = [];
    for await (const c of await a.openFile('a.txt')) chunks.push(c as Buffer);
    expect(Buffer.concat(chunks).toString()).toBe('a');
    expect(a.rootfsDir?.startsWith(work)).toBe(true);
    host.finished(b);

    // Another image: the root is emptied first.
    const c = stage([await layer([{ name: 'c.txt', type: 'file', body: 'c' }])]);
    await host.take(ctx, c);
    expect((await readdir(root)).sort()).toEqual(['c.txt', 'kiln', 'tmp']);
    expect(await read('tmp/kiln-work/state')).toBe('kiln');
  });
});

describe('findOwnPaths', () => {
  test('kiln’s directories, kernel file systems, mounts and the runtime files', async () => {
    const found = await findOwnPaths({
      workDir: work,
      cacheDir: path.join(dir, 'cache/not-yet'),
      contextDir: root,
      ignorePaths: ['var/run'],
      keepPaths: [path.join(dir, 'digest')],
      destinations: [`oci:${dir}/layout:tag`, `docker-archive:${dir}/image.tar:app:1`, 'registry.test/a:b'],
      secretFiles: [path.join(dir, 'secret')],
      env: { HOME: dir },
    });
    const core = path.resolve(import.meta.dirname, '..');
    for (const p of [
      '/proc',
      '/sys',
      '/dev',
      work,
      path.join(dir, 'cache/not-yet'),
      root,
      '/var/run',
      path.join(dir, 'digest'),
      path.join(dir, 'layout'),
      path.join(dir, 'image.tar'),
      path.join(dir, 'secret'),
      path.join(dir, '.docker'),
      await realpath(core),
    ])
      expect(found.own).toContain(p);
    expect(found.own).not.toContain('/');
    expect(found.own.some((p) => p.endsWith('/node_modules'))).toBe(true);
    const node = await realpath(process.execPath);
    if (!runtimePrefix(node)) expect(found.runtime).toContain(node);
    expect(found.runtime.some((p) => /\/libc[.-]/.test(p))).toBe(true);
  });

  test('mountinfo: every mount point but /, with octal escapes decoded', () => {
    const text = [
      '27 1 254:0 / / rw,relatime - ext4 /dev/vda rw',
      '22 27 0:21 / /proc rw,relatime - proc proc rw',
      '40 27 0:40 / /mnt/with\\040space rw - tmpfs tmpfs rw',
      '',
    ].join('\n');
    expect(parseMountInfo(text)).toEqual(['/proc', '/mnt/with space']);
  });

  test('the runtime has a directory of its own only outside shared system directories', () => {
    expect(runtimePrefix('/kiln/node/bin/node')).toBe('/kiln/node');
    expect(runtimePrefix('/opt/node-v20/bin/node')).toBe('/opt/node-v20');
    expect(runtimePrefix('/kiln/node')).toBe('/kiln');
    for (const p of ['/usr/bin/node', '/usr/local/bin/node', '/bin/node', '/opt/bin/node'])
      expect(runtimePrefix(p)).toBeUndefined();
  });

  test('the ELF interpreter of this Node, and none for other files', () => {
    const head = readFileSync(process.execPath).subarray(0, 8192);
    const interp = elfInterpreter(head);
    if (interp !== undefined) expect(interp).toMatch(/^\/.*ld.*\.so/);
    expect(elfInterpreter(Buffer.from('#!/bin/sh\n'.padEnd(100)))).toBeUndefined();
  });

  test('symlinkChain lists each symlink met and the real path', async () => {
    await mkdir(path.join(dir, 'real/lib'), { recursive: true });
    await writeFile(path.join(dir, 'real/lib/ld.so'), '');
    await symlink('real', path.join(dir, 'alias'));
    await symlink(`${dir}/alias/lib/ld.so`, path.join(dir, 'entry'));
    expect(await symlinkChain(path.join(dir, 'entry'))).toEqual([
      path.join(dir, 'entry'),
      path.join(dir, 'alias'),
      path.join(dir, 'real/lib/ld.so'),
    ]);
    expect(await symlinkChain(path.join(dir, 'alias/none/x'))).toEqual([
      path.join(dir, 'alias'),
      path.join(dir, 'real/none/x'),
    ]);
  });
});
