import { mkdirSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { inPlaceExecutor } from '../../src/executors/in-place-executor.js';
import { makeBusyboxRootfs } from './busybox-rootfs.js';
import { executorContract } from './contract.js';
import { disposeCompiledDriver, driverExecutor } from './driver-executor.js';
import { runScript, testRequest } from './test-request.js';

/*
 * The in-place executor treats `/` as the image. Its tests never run it on this machine's root: each request
 * is executed by executor-driver.ts inside a bubblewrap sandbox whose `/` is the contract's temp busybox
 * rootfs (host /usr bound read-only so Node itself can run, plus /proc and /dev as a pod would have). The
 * driver's environment holds KILN_CONTRACT_LEAK, standing for kiln's own environment.
 */
const sandboxedInPlace = driverExecutor('in-place (in a bubblewrap sandbox)', 'in-place', (req, driver) => ({
  file: 'bwrap',
  args: [
    ...['--unshare-pid', '--die-with-parent', '--bind', req.rootfs, '/'],
    ...['--ro-bind', '/usr', '/usr', '--ro-bind', '/usr/lib', '/lib', '--ro-bind', '/usr/lib64', '/lib64'],
    ...['--proc', '/proc', '--dev', '/dev', '--ro-bind', driver, '/kiln-driver', '--chdir', '/'],
    // Mount sources are host paths: one inside the rootfs is used at its path there; any other is bound at
    // /kiln-sources/<i> (a tmpfs, so nothing lands in the rootfs) and the request rewritten to use that path.
    ...['--tmpfs', '/kiln-sources'],
    ...req.mounts.flatMap((m, i) =>
      m.source && !inRoot(req.rootfs, m.source) ? ['--bind', m.source, `/kiln-sources/${i}`] : [],
    ),
    ...['--clearenv', '--setenv', 'KILN_CONTRACT_LEAK', 'leaked', '--'],
    ...['/usr/bin/node', '/kiln-driver/test/executors/executor-driver.js'],
  ],
  mounts: req.mounts.map((m, i) => {
    if (!m.source) return m;
    const rel = inRoot(req.rootfs, m.source);
    return { ...m, source: rel === undefined ? `/kiln-sources/${i}` : `/${rel}` };
  }),
}));

/** `p` relative to `root` when it is inside it. */
function inRoot(root: string, p: string): string | undefined {
  const rel = path.relative(root, p);
  return rel.startsWith('..') || path.isAbsolute(rel) ? undefined : rel;
}

afterAll(disposeCompiledDriver);

executorContract('in-place', {
  make: () => sandboxedInPlace,
  mounts: 'emulated',
  networkNone: false,
  rootfsExtra: {
    ...{ 'usr/': '', 'lib/': '', 'lib64/': '', 'proc/': '', 'dev/': '' },
    ...{ 'kiln-driver/': '', 'kiln-sources/': '' },
  },
});

describe('inPlaceExecutor refuses to start unless explicitly enabled', () => {
  test('without enabled or KILN_IN_PLACE=1 it throws KILN_IN_PLACE_DISABLED', () => {
    const saved = process.env.KILN_IN_PLACE;
    delete process.env.KILN_IN_PLACE;
    try {
      expect(() => inPlaceExecutor()).toThrow(expect.objectContaining({ code: 'KILN_IN_PLACE_DISABLED' }));
      expect(() => inPlaceExecutor({ enabled: false })).toThrow(/KILN_IN_PLACE=1/);
    } finally {
      if (saved !== undefined) process.env.KILN_IN_PLACE = saved;
    }
  });
  test('KILN_IN_PLACE=1 enables it; any rootfs but / is refused before anything runs', async () => {
    process.env.KILN_IN_PLACE = '1';
    try {
      const ex = inPlaceExecutor();
      expect(ex.name).toBe('in-place');
      await expect(ex.run(testRequest('/tmp/some-rootfs').req)).rejects.toMatchObject({
        code: 'KILN_RUN_ROOTFS',
      });
    } finally {
      delete process.env.KILN_IN_PLACE;
    }
  });
});

describe('in-place RUN --mount emulation', () => {
  test('a cache on the same filesystem is moved in and back out (same inode, no copy); the target comes back', async () => {
    const fs = makeBusyboxRootfs({
      'cache-src/old': 'o',
      'var/cache/app/orig': 'keep',
      'proc/': '',
      'dev/': '',
    });
    for (const d of ['usr', 'lib', 'lib64', 'kiln-driver', 'kiln-sources']) mkdirSync(path.join(fs.dir, d));
    try {
      const inode = statSync(path.join(fs.dir, 'cache-src')).ino;
      const r = await runScript(
        sandboxedInPlace,
        fs.dir,
        'ls /var/cache/app; stat -c %i /var/cache/app; echo new > /var/cache/app/new',
        { mounts: [{ type: 'cache', target: '/var/cache/app', source: path.join(fs.dir, 'cache-src') }] },
      );
      expect(r.out).toBe(`old\n${inode}\n`);
      expect(readdirSync(path.join(fs.dir, 'cache-src')).sort()).toEqual(['new', 'old']);
      expect(readdirSync(path.join(fs.dir, 'var/cache/app'))).toEqual(['orig']);
      expect(readdirSync(path.join(fs.dir, 'var/cache')).filter((n) => n.startsWith('.kiln-stash'))).toEqual(
        [],
      );
    } finally {
      fs.dispose();
    }
  });
});
