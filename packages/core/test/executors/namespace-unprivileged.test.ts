import {
  lchownSync,
  lstatSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { RunRequest } from '../../src/executor.js';
import { makeBusyboxRootfs, type TestRootfs } from './busybox-rootfs.js';
import { interfaces } from './contract.js';
import { disposeCompiledDriver, driverExecutor } from './driver-executor.js';
import { runScript } from './test-request.js';
import { treeState } from './tree-state.js';

const CALLER = 1000;

/** Gives a whole tree to `uid`, as if that user had unpacked it. */
function chownTree(p: string, uid: number): void {
  lchownSync(p, uid, uid);
  if (lstatSync(p).isDirectory()) for (const n of readdirSync(p)) chownTree(path.join(p, n), uid);
}

/*
 * kiln run by an ordinary user: the test (root, as CI runs) starts the namespace executor through
 * executor-driver.ts as uid 1000 with no supplementary groups, on a rootfs owned by that user.
 */
describe.skipIf(process.getuid?.() !== 0)(
  'namespace executor run by an unprivileged caller (uid 1000)',
  () => {
    let fs: TestRootfs;
    let host: string;
    const ex = driverExecutor('namespace as uid 1000', 'namespace-single-id', (_req, driver) => ({
      file: 'setpriv',
      args: ['--reuid', `${CALLER}`, '--regid', `${CALLER}`, '--clear-groups', '--', '/usr/bin/node'].concat(
        path.join(driver, 'test/executors/executor-driver.js'),
      ),
    }));
    beforeAll(() => {
      fs = makeBusyboxRootfs();
      chownTree(fs.dir, CALLER);
      host = mkdtempSync(path.join(tmpdir(), 'kiln-unpriv-'));
      writeFileSync(path.join(host, 'input.txt'), 'in\n');
      chownTree(host, CALLER);
    });
    afterAll(() => {
      fs.dispose();
      disposeCompiledDriver();
      rmSync(host, { recursive: true, force: true });
    });
    const run = (script: string, over: Partial<RunRequest> = {}) => runScript(ex, fs.dir, script, over);

    test('USER root is uid 0 inside, but its files belong to the caller and chown to other ids fails', async () => {
      const r = await run('id -u; touch /tmp/mine; chown 5:5 /tmp/mine 2>/dev/null || echo chown-fails');
      expect(r.out).toBe('0\nchown-fails\n');
      expect(statSync(path.join(fs.dir, 'tmp/mine'))).toMatchObject({ uid: CALLER, gid: CALLER });
    });

    test.each([
      ['app', '1000 1000'],
      ['4242', '4242 0'],
      ['app:staff', '1000 50'],
    ])(
      'USER %s runs as uid gid %s (no supplementary groups in a single-id namespace)',
      async (user, want) => {
        const r = await run('echo $(id -u) $(id -g); touch /tmp/by-$(id -u)', { user });
        expect(r.out.trim()).toBe(want);
        expect(statSync(path.join(fs.dir, `tmp/by-${want.split(' ')[0]}`)).uid).toBe(CALLER);
      },
    );

    test('mount points are removed again and mounts work; network none has only loopback', async () => {
      const before = treeState(fs.dir);
      const r = await run('cat /src/input.txt; echo t > /scratch/t && cat /scratch/t; cat /proc/net/dev', {
        network: 'none',
        mounts: [
          { type: 'bind', target: '/src', source: host },
          { type: 'tmpfs', target: '/scratch' },
        ],
      });
      expect(r.out.slice(0, 5)).toBe('in\nt\n');
      expect(interfaces(r.out.slice(5))).toEqual(['lo']);
      expect(treeState(fs.dir)).toEqual(before);
      expect(readFileSync(path.join(host, 'input.txt'), 'utf8')).toBe('in\n');
    });
  },
);
