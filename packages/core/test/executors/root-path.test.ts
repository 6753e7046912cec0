import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { resolveInRoot } from '../../src/executors/root-path.js';
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
