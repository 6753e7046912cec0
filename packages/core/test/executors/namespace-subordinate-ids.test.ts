import {
  existsSync,
  lchownSync,
  lstatSync,
  mkdtempSync,
  readdirSync,
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
const SUB = 200_000;
const COUNT = 65_536;
/** Host id of an id inside the caller's namespace: 0 is the caller, 1.. the subordinate range. */
const hostId = (inner: number) => (inner === 0 ? CALLER : SUB + inner - 1);

function chownTree(p: string, owner: (rel: string) => number, rel = ''): void {
  lchownSync(p, owner(rel), owner(rel));
  if (lstatSync(p).isDirectory())
    for (const n of readdirSync(p)) chownTree(path.join(p, n), owner, `${rel}/${n}`);
}

/*
 * kiln run by an ordinary user that has subordinate ids. The test (root, as CI runs) never edits the machine's
 * /etc/subuid: it starts the driver in a private mount namespace where /etc/subuid and /etc/subgid are
 * bind-mounted from temp files giving uid 1000 the range 200000-265535, then drops to uid 1000. The rootfs is
 * owned as that user's namespace sees it: root's files by 1000, uid 1000's by 200999.
 */
describe.skipIf(process.getuid?.() !== 0 || !existsSync('/etc/subuid') || !existsSync('/usr/bin/newuidmap'))(
  'namespace executor run by an unprivileged caller with subordinate ids',
  () => {
    let fs: TestRootfs;
    const dir = mkdtempSync(path.join(tmpdir(), 'kiln-subids-'));
    const ranges = path.join(dir, 'ranges');
    const ex = driverExecutor('namespace as uid 1000 with subordinate ids', 'namespace', (_req, driver) => ({
      file: 'unshare',
      args: [
        ...['-m', '--propagation', 'private', '--', '/bin/sh', '-c'],
        'mount --bind "$1" /etc/subuid && mount --bind "$1" /etc/subgid && shift && exec "$@"',
        ...['sh', ranges, 'setpriv', '--reuid', `${CALLER}`, '--regid', `${CALLER}`, '--clear-groups', '--'],
        ...['/usr/bin/node', path.join(driver, 'test/executors/executor-driver.js')],
      ],
    }));
    beforeAll(() => {
      writeFileSync(ranges, `someone:100000:10\n${CALLER}:${SUB}:${COUNT}\n`, { mode: 0o644 });
      fs = makeBusyboxRootfs();
      chownTree(fs.dir, (rel) => (rel.startsWith('/home/app') ? hostId(1000) : CALLER));
    });
    afterAll(() => {
      fs.dispose();
      disposeCompiledDriver();
      rmSync(dir, { recursive: true, force: true });
    });
    const run = (script: string, over: Partial<RunRequest> = {}) => runScript(ex, fs.dir, script, over);

    test('USER root can chown to other ids; the host sees them shifted into the subordinate range', async () => {
      const r = await run('id -u; touch /tmp/f && chown 5:7 /tmp/f && echo chowned');
      expect(r).toMatchObject({ out: '0\nchowned\n', err: '' });
      expect(statSync(path.join(fs.dir, 'tmp/f'))).toMatchObject({ uid: hostId(5), gid: hostId(7) });
    });

    test.each([
      ['app', '1000 1000 10 50 1000'],
      ['0:50', '0 50 50'],
      ['4242', '4242 0 0'],
    ])('USER %s runs as uid gid groups %s', async (user, want) => {
      const r = await run('echo $(id -u) $(id -g) $(id -G | tr " " "\\n" | sort -n)', { user });
      expect(r.err).toBe('');
      expect(r.out.trim()).toBe(want);
    });

    test('files a non-root USER writes carry its id (shifted)', async () => {
      await run('touch /home/app/mine', { user: 'app' });
      expect(statSync(path.join(fs.dir, 'home/app/mine'))).toMatchObject({
        uid: hostId(1000),
        gid: hostId(1000),
      });
    });

    test('a USER outside the mapped range is KILN_RUN_USERNS', async () => {
      await expect(run('true', { user: '70000' })).rejects.toMatchObject({ code: 'KILN_RUN_USERNS' });
    });

    test('mount points are removed again; network none has only loopback', async () => {
      const before = treeState(fs.dir);
      const r = await run('cat /proc/net/dev', {
        network: 'none',
        mounts: [{ type: 'tmpfs', target: '/scratch' }],
      });
      expect(interfaces(r.out)).toEqual(['lo']);
      expect(treeState(fs.dir)).toEqual(before);
    });
  },
);
