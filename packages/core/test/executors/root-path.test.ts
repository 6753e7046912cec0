import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { text } from 'node:stream/consumers';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { openInRoot, readInRoot, resolveInRoot } from '../../src/executors/root-path.js';
import { makeBusyboxRootfs, type TestRootfs } from './busybox-rootfs.js';

describe('resolveInRoot follows symlinks as a chroot would, never leaving the root', () => {
  let fs: TestRootfs;
  beforeAll(() => {
    fs = makeBusyboxRootfs({ 'usr/lib/x/': '', 'usr/lib/file': 'f' });
    symlinkSync('/usr/lib', `${fs.dir}/lib`);
    symlinkSync('../../../../../../../../usr', `${fs.dir}/up`);
    symlinkSync('loop-b', `${fs.dir}/loop-a`);
    symlinkSync('loop-a', `${fs.dir}/loop-b`);
    mkdirSync(`${fs.dir}/rel`);
    symlinkSync('../usr/lib/x', `${fs.dir}/rel/to-x`);
    writeFileSync(`${fs.dir}/plain`, '');
  });
  afterAll(() => fs.dispose());

  test.each([
    ['/lib/x', '/usr/lib/x', true],
    ['/up/lib/file', '/usr/lib/file', true],
    ['/../../usr/./lib//x', '/usr/lib/x', true],
    ['/rel/to-x', '/usr/lib/x', true],
    ['/lib/missing/deeper', '/usr/lib/missing/deeper', false],
    ['/', '/', true],
  ])('%s → %s (exists: %s)', async (target, inner, exists) => {
    const r = await resolveInRoot(fs.dir, target);
    expect(r).toEqual({ inner, host: `${fs.dir}${inner === '/' ? '/' : inner}`, exists });
  });

  test('a symlink loop is KILN_RUN_PATH_LOOP', async () => {
    await expect(resolveInRoot(fs.dir, '/loop-a/x')).rejects.toMatchObject({ code: 'KILN_RUN_PATH_LOOP' });
  });

  test('walking through a file is KILN_RUN_PATH_NOT_DIR', async () => {
    await expect(resolveInRoot(fs.dir, '/plain/x')).rejects.toMatchObject({ code: 'KILN_RUN_PATH_NOT_DIR' });
  });
});

describe('openInRoot and readInRoot follow the symlinks of the root inside it', () => {
  // A root whose `etc` is a symlink to an absolute path that exists on the host too: a plain path join would
  // read the host's file.
  let base: string;
  let root: string;
  let host: string;
  beforeAll(() => {
    base = mkdtempSync(path.join(tmpdir(), 'kiln-read-in-root-'));
    root = path.join(base, 'root');
    host = path.join(base, 'host');
    mkdirSync(path.join(host, 'etc'), { recursive: true });
    writeFileSync(path.join(host, 'etc', 'passwd'), 'host\n');
    mkdirSync(path.join(root, host, 'etc'), { recursive: true });
    writeFileSync(path.join(root, host, 'etc', 'passwd'), 'image\n');
    symlinkSync(path.join(host, 'etc'), path.join(root, 'etc'));
  });
  afterAll(() => rmSync(base, { recursive: true, force: true }));

  test('a path through an absolute symlink reads the file of the root, not of the host', async () => {
    expect(await readInRoot(root, 'etc/passwd')).toBe('image\n');
    expect(await text(await openInRoot(root, '/etc/passwd'))).toBe('image\n');
  });

  test('a missing file reads as undefined, and fails to open', async () => {
    expect(await readInRoot(root, 'etc/shadow')).toBeUndefined();
    await expect(text(await openInRoot(root, 'etc/shadow'))).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
