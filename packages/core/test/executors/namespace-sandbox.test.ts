import { mkdtempSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { RunRequest } from '../../src/executor.js';
import { namespaceExecutor } from '../../src/executors/namespace-executor.js';
import { makeBusyboxRootfs, type TestRootfs } from './busybox-rootfs.js';
import { runScript, testRequest } from './test-request.js';
import { treeState } from './tree-state.js';

/** Behaviour specific to the bubblewrap sandbox, beyond the shared executor contract. */
describe('namespace executor sandbox', () => {
  let fs: TestRootfs;
  let outside: string;
  beforeAll(() => {
    fs = makeBusyboxRootfs();
    outside = mkdtempSync(path.join(tmpdir(), 'kiln-outside-'));
  });
  afterAll(() => {
    fs.dispose();
    rmSync(outside, { recursive: true, force: true });
  });
  const run = (script: string, over: Partial<RunRequest> = {}) =>
    runScript(namespaceExecutor(), fs.dir, script, over);
  const capEff = (status: string) => BigInt(`0x${/^CapEff:\s*([0-9a-f]+)/m.exec(status)![1]}`);
  const CAP_CHOWN = 1n << 0n;
  const CAP_SYS_ADMIN = 1n << 21n;

  test("root keeps Docker's default capabilities (CAP_CHOWN) but not CAP_SYS_ADMIN, so it cannot mount", async () => {
    const r = await run(
      'cat /proc/self/status; mkdir -p /tmp/m; mount -t tmpfs none /tmp/m 2>/dev/null || echo no-mount',
    );
    expect(capEff(r.out) & CAP_CHOWN).toBe(CAP_CHOWN);
    expect(capEff(r.out) & CAP_SYS_ADMIN).toBe(0n);
    expect(r.out).toMatch(/no-mount/);
  });

  test('a non-root USER has no capabilities at all', async () => {
    expect(capEff((await run('cat /proc/self/status', { user: 'app' })).out)).toBe(0n);
  });

  test('root can chown to any id and the host sees those exact ids', async () => {
    await run('touch /tmp/owned && chown 4321:8765 /tmp/owned');
    expect(statSync(path.join(fs.dir, 'tmp/owned'))).toMatchObject({ uid: 4321, gid: 8765 });
  });

  test("/dev, /proc and /sys look like BuildKit's RUN sandbox (plus bubblewrap's /dev/core link)", async () => {
    const r = await run(
      'ls /dev | tr "\\n" " "; echo; grep -E " /dev/(mqueue|shm) | /sys " /proc/mounts | cut -d" " -f2,3,4 | cut -d, -f1; echo > /sys/x 2>/dev/null || echo sys-ro',
    );
    expect(r.out.split('\n')[0]!.trim().split(' ')).toEqual([
      'core',
      'fd',
      'full',
      'mqueue',
      'null',
      'ptmx',
      'pts',
      'random',
      'shm',
      'stderr',
      'stdin',
      'stdout',
      'tty',
      'urandom',
      'zero',
    ]);
    expect(r.out).toContain('/dev/shm tmpfs rw\n');
    expect(r.out).toContain('/dev/mqueue mqueue rw\n');
    expect(r.out).toMatch(/\/sys sysfs ro\n/);
    expect(r.out).toMatch(/sys-ro\n$/);
  });

  test('the hostname is buildkitsandbox and /etc/hosts names it', async () => {
    const r = await run('hostname; grep -c buildkitsandbox /etc/hosts');
    expect(r.out).toBe('buildkitsandbox\n1\n');
  });

  test('an /etc symlink pointing outside the rootfs cannot make the executor write outside it', async () => {
    const evil = makeBusyboxRootfs();
    try {
      rmSync(path.join(evil.dir, 'etc'), { recursive: true });
      symlinkSync(outside, path.join(evil.dir, 'etc'));
      symlinkSync(`../../../../../../..${outside}/x`, path.join(evil.dir, 'mnt'));
      const before = treeState(evil.dir);
      const r = await run('cat /etc/hosts >/dev/null && cat /mnt/input.txt', {
        rootfs: evil.dir,
        mounts: [{ type: 'bind', target: '/mnt/input.txt', source: path.join(fs.dir, 'etc/group') }],
      });
      expect(r.out).toContain('staff:x:50:app');
      expect(readdirSync(outside)).toEqual([]);
      expect(treeState(evil.dir)).toEqual(before);
    } finally {
      evil.dispose();
    }
  });

  test('a directory the command changed keeps its new mtime when a stub in it is removed', async () => {
    const before = statSync(path.join(fs.dir, 'etc'), { bigint: true }).mtimeNs;
    await new Promise((r) => setTimeout(r, 20));
    await run('echo x > /etc/added');
    const after = statSync(path.join(fs.dir, 'etc'), { bigint: true }).mtimeNs;
    expect(after).not.toBe(before);
    expect(readdirSync(path.join(fs.dir, 'etc')).sort()).toEqual(['added', 'group', 'passwd']);
    rmSync(path.join(fs.dir, 'etc/added'));
  });

  test('a missing program is KILN_RUN_EXEC; a sandbox that cannot be set up is KILN_RUN_SANDBOX_FAILED', async () => {
    await expect(run('', { argv: ['/bin/nope'] })).rejects.toMatchObject({ code: 'KILN_RUN_EXEC' });
    await expect(
      run('true', { mounts: [{ type: 'cache', target: '/c', source: path.join(outside, 'missing') }] }),
    ).rejects.toMatchObject({ code: 'KILN_RUN_SANDBOX_FAILED', message: expect.stringMatching(/missing/) });
    expect(readdirSync(fs.dir)).not.toContain('c');
  });

  test('an ssh mount binds the host socket read-only; a cwd inside a mount target needs no directory in the rootfs', async () => {
    const host = mkdtempSync(path.join(tmpdir(), 'kiln-ssh-'));
    const sock = path.join(host, 'agent.sock');
    writeFileSync(path.join(host, 'input.txt'), 'in');
    const server = net.createServer((c) => c.end('agent\n'));
    await new Promise<void>((r) => server.listen(sock, r));
    try {
      const before = treeState(fs.dir);
      const r = await run('test -S /run/buildkit/ssh_agent.0 && echo socket; pwd; ls', {
        cwd: '/src',
        mounts: [
          { type: 'ssh', target: '/run/buildkit/ssh_agent.0', source: sock },
          { type: 'bind', target: '/src', source: host },
        ],
      });
      expect(r.out).toBe('socket\n/src\nagent.sock\ninput.txt\n');
      expect(treeState(fs.dir)).toEqual(before);
    } finally {
      server.close();
      rmSync(host, { recursive: true, force: true });
    }
  });

  test('a mount cannot replace the root filesystem, not even through a symlink', async () => {
    await expect(run('true', { mounts: [{ type: 'tmpfs', target: '/' }] })).rejects.toMatchObject({
      code: 'KILN_RUN_MOUNT',
    });
    const evil = makeBusyboxRootfs();
    try {
      symlinkSync('/', path.join(evil.dir, 'dev'));
      symlinkSync('../..', path.join(evil.dir, 'cache'));
      await expect(run('true', { rootfs: evil.dir })).rejects.toMatchObject({
        code: 'KILN_RUN_MOUNT',
        message: expect.stringMatching(/^\/dev resolves to \/ in the image/),
      });
      rmSync(path.join(evil.dir, 'dev'));
      await expect(
        run('true', { rootfs: evil.dir, mounts: [{ type: 'tmpfs', target: '/cache' }] }),
      ).rejects.toMatchObject({
        code: 'KILN_RUN_MOUNT',
        message: expect.stringMatching(/^\/cache resolves to \//),
      });
    } finally {
      evil.dispose();
    }
  });

  test('a missing bubblewrap names the Debian package to install', async () => {
    await expect(
      namespaceExecutor({ bwrap: 'kiln-no-such-bwrap' }).run(testRequest(fs.dir).req),
    ).rejects.toMatchObject({
      code: 'KILN_EXECUTOR_UNAVAILABLE',
      message: expect.stringMatching(/bubblewrap/),
    });
  });
});
