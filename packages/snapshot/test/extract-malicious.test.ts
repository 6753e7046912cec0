import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { extractLayer, MemoryFileSystem } from '../src/index.js';
import { type RawEntry, rawTar } from './helpers/raw-tar.js';
import { tmpDir } from './helpers/tree.js';

/** A root and, beside it, a "host" directory that no layer may touch. */
function setup() {
  const base = tmpDir('evil');
  const root = path.join(base, 'root');
  const host = path.join(base, 'host');
  fs.mkdirSync(root);
  fs.mkdirSync(host);
  fs.writeFileSync(path.join(host, 'secret'), 'host secret');
  return { base, root, host };
}

const extract = (entries: RawEntry[], root: string, options = {}) =>
  extractLayer(Readable.from([rawTar(entries, { gzip: true })]), root, options);

/** Every file below `dir`, relative, to show that nothing appeared or changed outside the root. */
function listing(dir: string): string[] {
  return fs.readdirSync(dir, { recursive: true, encoding: 'utf8' }).sort();
}

describe('extractLayer rejects or contains malicious layers', () => {
  it('rejects ../ traversal with KILN_PATH_ESCAPE naming the entry', async () => {
    const { base, root } = setup();
    await expect(extract([{ name: '../escaped', content: 'x' }], root)).rejects.toMatchObject({
      code: 'KILN_PATH_ESCAPE',
      entry: '../escaped',
    });
    await expect(extract([{ name: 'a/../../escaped', content: 'x' }], root)).rejects.toMatchObject({
      code: 'KILN_PATH_ESCAPE',
    });
    expect(fs.existsSync(path.join(base, 'escaped'))).toBe(false);
  });

  it('puts absolute paths inside the root, as chroot would', async () => {
    const { root, host } = setup();
    await extract([{ name: `${host}/secret`, content: 'pwned' }], root);
    expect(fs.readFileSync(path.join(host, 'secret'), 'utf8')).toBe('host secret');
    expect(fs.readFileSync(path.join(root, host, 'secret'), 'utf8')).toBe('pwned');
  });

  it('resolves a write through an absolute symlink inside the root, never on the host', async () => {
    const { root, host } = setup();
    await extract(
      [
        { name: 'evil', type: 'symlink', linkname: host },
        { name: 'evil/secret', content: 'pwned' },
      ],
      root,
    );
    expect(fs.readFileSync(path.join(host, 'secret'), 'utf8')).toBe('host secret');
    expect(fs.readFileSync(path.join(root, host, 'secret'), 'utf8')).toBe('pwned');
    expect(fs.readlinkSync(path.join(root, 'evil'))).toBe(host);
  });

  it('clamps a relative symlink climbing out of the root at the root', async () => {
    const { root, host } = setup();
    await extract(
      [
        { name: 'up', type: 'symlink', linkname: '../../../../../../host' },
        { name: 'up/secret', content: 'pwned' },
      ],
      root,
    );
    expect(fs.readFileSync(path.join(host, 'secret'), 'utf8')).toBe('host secret');
    expect(fs.readFileSync(path.join(root, 'host', 'secret'), 'utf8')).toBe('pwned');
  });

  it('replaces a final symlink instead of writing through it (same path twice)', async () => {
    const { root, host } = setup();
    await extract(
      [
        { name: 'link', type: 'symlink', linkname: path.join(host, 'secret') },
        { name: 'link', content: 'replaced' },
      ],
      root,
    );
    expect(fs.readFileSync(path.join(host, 'secret'), 'utf8')).toBe('host secret');
    expect(fs.lstatSync(path.join(root, 'link')).isFile()).toBe(true);
    expect(fs.readFileSync(path.join(root, 'link'), 'utf8')).toBe('replaced');
  });

  it('refuses a hardlink to a host file, by absolute or relative name or through a symlink', async () => {
    const { root, host } = setup();
    await expect(
      extract([{ name: 'h', type: 'hardlink', linkname: path.join(host, 'secret') }], root),
    ).rejects.toMatchObject({
      code: 'KILN_BAD_HARDLINK',
      entry: 'h',
    });
    await expect(
      extract([{ name: 'h', type: 'hardlink', linkname: '../host/secret' }], root),
    ).rejects.toMatchObject({
      code: 'KILN_PATH_ESCAPE',
    });
    await expect(
      extract(
        [
          { name: 'l', type: 'symlink', linkname: host },
          { name: 'h', type: 'hardlink', linkname: 'l/secret' },
        ],
        root,
      ),
    ).rejects.toMatchObject({ code: 'KILN_BAD_HARDLINK' });
    expect(fs.statSync(path.join(host, 'secret')).nlink).toBe(1);
  });

  it('reports symlink loops with KILN_SYMLINK_LOOP', async () => {
    const { root } = setup();
    await expect(
      extract(
        [
          { name: 'a', type: 'symlink', linkname: 'b' },
          { name: 'b', type: 'symlink', linkname: 'a' },
          { name: 'a/x', content: 'x' },
        ],
        root,
      ),
    ).rejects.toMatchObject({ code: 'KILN_SYMLINK_LOOP', entry: 'a/x' });
    await expect(
      extract(
        [
          { name: 'self', type: 'symlink', linkname: 'self/self' },
          { name: 'self/x', content: '' },
        ],
        root,
      ),
    ).rejects.toMatchObject({ code: 'KILN_SYMLINK_LOOP' });
  });

  it('rejects device nodes unless allowed, and can skip them instead', async () => {
    const { root } = setup();
    const dev: RawEntry = { name: 'dev/sda', type: 'block', devmajor: 8, devminor: 0, mode: 0o660 };
    await expect(extract([dev], root)).rejects.toMatchObject({
      code: 'KILN_DEVICE_NOT_ALLOWED',
      entry: 'dev/sda',
    });
    const r = await extract([dev, { name: 'ok', content: '1' }], root, { allowDevices: 'skip' });
    expect(r.devicesSkipped).toBe(1);
    expect(fs.existsSync(path.join(root, 'dev/sda'))).toBe(false);
  });

  it('creates device nodes when allowed (as root)', async () => {
    if (process.getuid?.() !== 0) return;
    const { root } = setup();
    await extract([{ name: 'dev/null', type: 'char', devmajor: 1, devminor: 3, mode: 0o666 }], root, {
      allowDevices: true,
    });
    const st = fs.lstatSync(path.join(root, 'dev/null'));
    expect(st.isCharacterDevice()).toBe(true);
    expect(st.rdev).toBe(fs.statSync('/dev/null').rdev);
  });

  it('replaces a file by a directory and back, and a directory by a symlink before writing into it', async () => {
    const { root, host } = setup();
    await extract(
      [
        { name: 'p', content: 'file' },
        { name: 'p', type: 'dir' },
        { name: 'p/q', content: 'child' },
        { name: 'p', content: 'file again' },
        { name: 'd', type: 'dir' },
        { name: 'd/old', content: 'x' },
        { name: 'd', type: 'symlink', linkname: host },
        { name: 'd/new', content: 'inside' },
      ],
      root,
    );
    expect(fs.readFileSync(path.join(root, 'p'), 'utf8')).toBe('file again');
    expect(fs.readFileSync(path.join(root, host, 'new'), 'utf8')).toBe('inside');
    expect(listing(path.join(root, '..', 'host'))).toEqual(['secret']);
  });

  it('never follows a symlink replacing a directory when setting directory times at the end', async () => {
    const { root, host } = setup();
    const before = fs.statSync(host);
    await extract(
      [
        { name: 'x', type: 'dir', mode: 0o700 },
        { name: 'x', type: 'symlink', linkname: host },
      ],
      root,
    );
    const after = fs.statSync(host);
    expect(after.mode).toBe(before.mode);
    expect(after.mtimeMs).toBe(before.mtimeMs);
  });

  it('rejects a whiteout that tries to name a path outside its directory', async () => {
    const { root } = setup();
    await expect(extract([{ name: 'a/.wh...', content: '' }], root)).rejects.toMatchObject({
      code: 'KILN_PATH_ESCAPE',
    });
  });

  it('refuses a PAX header claiming gigabytes instead of buffering it', async () => {
    const { root } = setup();
    const header = rawTar([{ name: 'x', content: '' }]).subarray(0, 512);
    header.write('x', 156, 'latin1'); // typeflag: PAX extended header
    header.write(`${(2 ** 31).toString(8).padStart(11, '0')}\0`, 124, 12, 'latin1');
    header.fill(0x20, 148, 156);
    let sum = 0;
    for (const b of header) sum += b;
    header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'latin1');
    const started = process.memoryUsage().rss;
    await expect(extractLayer(Readable.from([header, Buffer.alloc(4096)]), root)).rejects.toMatchObject({
      code: 'KILN_TAR_INVALID',
      message: expect.stringContaining('2147483648 bytes'),
    });
    expect(process.memoryUsage().rss - started).toBeLessThan(256 * 2 ** 20);
  });

  it('contains the same attacks on the in-memory file system', async () => {
    const mem = new MemoryFileSystem();
    await mem.mkdir('/host', { mode: 0o755 });
    await mem.writeFile('/host/secret', Buffer.from('host secret'), { mode: 0o644 });
    await mem.mkdir('/root', { mode: 0o755 });
    await extract(
      [
        { name: 'evil', type: 'symlink', linkname: '/host' },
        { name: 'evil/secret', content: 'pwned' },
        { name: 'up', type: 'symlink', linkname: '../../host' },
        { name: 'up/other', content: 'pwned' },
      ],
      '/root',
      { fs: mem },
    );
    expect((await mem.readFile('/host/secret')).toString()).toBe('host secret');
    expect(await mem.readdir('/host')).toEqual(['secret']);
    expect((await mem.readFile('/root/host/secret')).toString()).toBe('pwned');
    expect((await mem.readFile('/root/host/other')).toString()).toBe('pwned');
  });
});
