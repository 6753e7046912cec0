import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Executor, RunRequest } from '../../src/executor.js';
import { makeBusyboxRootfs, type TestRootfs } from './busybox-rootfs.js';
import { testRequest } from './test-request.js';
import { treeState } from './tree-state.js';

/** What the shared suite needs to know about one executor. */
export interface ExecutorContractOptions {
  make(): Executor;
  /**
   * `mounted`: RUN mounts are real mounts (read-only enforced, tmpfs is a tmpfs). `emulated` (in-place, which
   * cannot mount): the content is placed at the target and taken away afterwards; read-only is not enforced
   * and writes to a bind are discarded.
   */
  mounts: 'mounted' | 'emulated';
  /** Whether `network: 'none'` is provided (else it must be refused with KILN_RUN_UNSUPPORTED). */
  networkNone: boolean;
  /** Extra rootfs entries the executor's harness needs (see makeBusyboxRootfs). */
  rootfsExtra?: Record<string, string>;
}

/** Interface names in a /proc/net/dev listing. */
export const interfaces = (procNetDev: string) =>
  procNetDev
    .split('\n')
    .slice(2)
    .map((l) => l.split(':')[0]!.trim())
    .filter(Boolean)
    .sort();

/**
 * executorContract declares the suite every RUN executor must pass, against a fresh busybox rootfs: output
 * streaming, exit statuses, environment isolation, cwd, USER by id and by name, writes landing in the rootfs,
 * /proc and /dev, networking, each mount type leaving no trace, and abort killing the whole process tree.
 */
export function executorContract(name: string, opts: ExecutorContractOptions): void {
  describe(`executor contract: ${name}`, () => {
    let fs: TestRootfs;
    let ex: Executor;
    beforeAll(() => {
      fs = makeBusyboxRootfs({ 'work/': '', ...opts.rootfsExtra });
      ex = opts.make();
    });
    afterAll(() => fs.dispose());

    const run = async (over: Partial<RunRequest>) => {
      const { req, stdout, stderr } = testRequest(fs.dir, over);
      const res = await ex.run(req);
      return { ...res, out: stdout.text, err: stderr.text, stdout };
    };
    const sh = (script: string, over: Partial<RunRequest> = {}) =>
      run({ argv: ['/bin/sh', '-c', script], ...over });

    test('stdout and stderr reach their own streams; exit 0', async () => {
      const r = await sh('echo hello; echo oops >&2');
      expect(r).toMatchObject({ exitCode: 0, out: 'hello\n', err: 'oops\n' });
    });

    test('exec form finds the program through the given PATH', async () => {
      expect((await run({ argv: ['echo', 'hi', 'there'] })).out).toBe('hi there\n');
    });

    test.each([
      ['exit 3', 3],
      ['kill -TERM $$', 143],
      ['kill -KILL $$', 137],
    ])('`%s` gives exit status %i', async (script, code) => {
      expect((await sh(script)).exitCode).toBe(code);
    });

    test('a missing program fails (rejection or non-zero status), naming it', async () => {
      const r = await run({ argv: ['no-such-program-xyz'] }).catch((e: Error) => ({
        exitCode: -1,
        err: e.message,
      }));
      expect(r.exitCode).not.toBe(0);
      expect(r.err).toMatch(/no-such-program-xyz/);
    });

    // bubblewrap always sets PWD to the working directory (as any shell would), so PWD is allowed if it is that.
    test('the environment is exactly the requested one (nothing of the host leaks)', async () => {
      process.env.KILN_CONTRACT_LEAK = 'leaked';
      try {
        const r = await run({ argv: ['/bin/env'], env: ['PATH=/bin', 'FOO=bar baz', 'EMPTY='] });
        const lines = r.out.split('\n').filter((l) => l !== '' && l !== 'PWD=/');
        expect(lines.sort()).toEqual(['EMPTY=', 'FOO=bar baz', 'PATH=/bin']);
      } finally {
        delete process.env.KILN_CONTRACT_LEAK;
      }
    });

    test("the umask is 022 whatever kiln's own umask is", async () => {
      const saved = process.umask(0o077);
      try {
        expect((await sh('umask')).out.trim()).toBe('0022');
      } finally {
        process.umask(saved);
      }
    });

    test('runs in the requested cwd; a missing cwd is refused', async () => {
      expect((await run({ argv: ['/bin/pwd'], cwd: '/work' })).out).toBe('/work\n');
      await expect(run({ argv: ['/bin/pwd'], cwd: '/no/such/dir' })).rejects.toThrow(/\/no\/such\/dir/);
    });

    test.each([
      ['', '0 0 0'],
      ['root', '0 0 0 10'],
      ['0:50', '0 50 50'],
      ['1000', '1000 1000 10 50 1000'],
      ['app', '1000 1000 10 50 1000'],
      ['app:staff', '1000 50 50'],
      ['1000:50', '1000 50 50'],
      ['4242', '4242 0 0'],
      ['nobody', '65534 65534 65534'],
    ])('USER "%s" runs as uid gid groups %s', async (user, want) => {
      const r = await sh('echo $(id -u) $(id -g) $(id -G | tr " " "\\n" | sort -n)', { user });
      expect(r.err).toBe('');
      expect(r.out.trim()).toBe(want);
    });

    test('the empty USER has no supplementary groups at all (as the BuildKit oracle showed)', async () => {
      expect((await sh('grep ^Groups: /proc/self/status')).out.trim()).toBe('Groups:');
    });

    test('an unknown user name is refused with the name', async () => {
      await expect(run({ user: 'ghost' })).rejects.toMatchObject({ code: 'KILN_UNKNOWN_USER' });
    });

    test('writes land in the rootfs with the USER as owner', async () => {
      const r = await sh('echo data > /tmp/root-file && mkdir -p /made/dir && touch /home/app/owned', {
        user: '',
      });
      expect(r.exitCode).toBe(0);
      expect(readFileSync(path.join(fs.dir, 'tmp/root-file'), 'utf8')).toBe('data\n');
      expect(statSync(path.join(fs.dir, 'made/dir')).isDirectory()).toBe(true);
      await sh('touch /home/app/by-app', { user: 'app' });
      expect(statSync(path.join(fs.dir, 'home/app/by-app'))).toMatchObject({ uid: 1000, gid: 1000 });
    });

    test('/proc and the /dev nodes work', async () => {
      const r = await sh(
        'test -r /proc/self/status && echo x > /dev/null && head -c 5 /dev/zero | wc -c && head -c 7 /dev/urandom | wc -c && cat /dev/null | wc -c',
      );
      expect(r).toMatchObject({ exitCode: 0, out: '5\n7\n0\n' });
    });

    test('network default shares the host interfaces', async () => {
      const r = await run({ argv: ['/bin/cat', '/proc/net/dev'] });
      expect(interfaces(r.out)).toEqual(interfaces(readFileSync('/proc/net/dev', 'utf8')));
    });

    test('a run that changes nothing leaves the rootfs identical (mount points removed, times restored)', async () => {
      const before = treeState(fs.dir);
      expect((await sh('cat /etc/hosts /etc/resolv.conf > /dev/null; ls / > /dev/null')).exitCode).toBe(0);
      expect(treeState(fs.dir)).toEqual(before);
    });

    test('output is streamed while the command runs', async () => {
      const started = Date.now();
      const r = await sh('echo first; sleep 1; echo second');
      expect(r.out).toBe('first\nsecond\n');
      expect(r.stdout.firstAt! - started).toBeLessThan(Date.now() - started - 500);
    });

    test('large output arrives complete and in order', async () => {
      const r = await sh(
        'i=0; while [ $i -lt 2000 ]; do echo "line $i"; i=$((i+1)); done; head -c 3000000 /dev/zero | tr "\\0" a',
      );
      const lines = r.out.split('\n');
      expect(lines.slice(0, 2000)).toEqual(Array.from({ length: 2000 }, (_, i) => `line ${i}`));
      expect(lines[2000]).toBe('a'.repeat(3_000_000));
    });

    test('aborting kills the command and everything it started', async () => {
      const ac = new AbortController();
      // Marker durations unique to this run, so parallel test files cannot see each other's sleeps.
      const marks = [1, 2].map(() => 100_000 + Math.floor(Math.random() * 800_000));
      const sleepers = () => markedSleeps(marks);
      const { req, stdout } = testRequest(fs.dir, {
        argv: ['/bin/sh', '-c', `sleep ${marks[0]} & sleep ${marks[1]} & echo started; wait`],
        signal: ac.signal,
      });
      const p = ex.run(req);
      const failed = p.catch((e: unknown) => e);
      // Both sleeps must be running (exec'd, not just forked) before the abort.
      while (!stdout.text.includes('started') || sleepers().length < 2)
        await new Promise((r) => setTimeout(r, 20));
      ac.abort();
      expect(await failed).toBeInstanceOf(Error);
      for (let i = 0; i < 50 && sleepers().length > 0; i++) await new Promise((r) => setTimeout(r, 20));
      expect(sleepers()).toEqual([]);
    });

    if (opts.networkNone)
      test('network none has only loopback, and it is up', async () => {
        const r = await run({ argv: ['/bin/cat', '/proc/net/dev'], network: 'none' });
        expect(interfaces(r.out)).toEqual(['lo']);
        const ping = await sh('ping -c 1 -W 1 127.0.0.1 > /dev/null && echo pong', { network: 'none' });
        expect(ping.out).toBe('pong\n');
      });
    else
      test('network none is refused, not silently ignored', async () => {
        await expect(run({ network: 'none' })).rejects.toMatchObject({ code: 'KILN_RUN_UNSUPPORTED' });
      });

    const mounted = opts.mounts === 'mounted';
    describe('mounts', () => {
      let host: string;
      beforeAll(() => {
        host = mkdtempSync(path.join(tmpdir(), 'kiln-mounts-'));
        mkdirSync(path.join(host, 'ctx'));
        writeFileSync(path.join(host, 'ctx/input.txt'), 'from context\n');
        mkdirSync(path.join(host, 'cache'));
        writeFileSync(path.join(host, 'secret'), 's3cr3t', { mode: 0o400 });
      });
      afterAll(() => rmSync(host, { recursive: true, force: true }));

      test('every mount type works at new nested targets and leaves no trace in the rootfs', async () => {
        const before = treeState(fs.dir);
        const lines = [
          ['cat /src/input.txt', 'from context'],
          ['echo nope > /src/x 2>/dev/null || echo bind-ro', 'bind-ro', mounted],
          ['echo kept >> /var/cache/app/log'],
          ['echo scratch > /scratch/t && cat /scratch/t', 'scratch'],
          ['grep " /scratch tmpfs" /proc/mounts | wc -l', '1', mounted],
          ['cat /run/secrets/token; echo', 's3cr3t'],
          ['echo nope > /run/secrets/token 2>/dev/null || echo secret-ro', 'secret-ro', mounted],
        ].filter((l) => l[2] !== false) as [string, string?][];
        const r = await sh(lines.map((l) => l[0]).join('; '), {
          mounts: [
            { type: 'bind', target: '/src', source: path.join(host, 'ctx') },
            { type: 'cache', target: '/var/cache/app', source: path.join(host, 'cache') },
            { type: 'tmpfs', target: '/scratch' },
            { type: 'secret', target: '/run/secrets/token', source: path.join(host, 'secret') },
          ],
        });
        expect(r.out).toBe(lines.flatMap((l) => (l[1] === undefined ? [] : [`${l[1]}\n`])).join(''));
        expect(treeState(fs.dir)).toEqual(before);
        expect(readFileSync(path.join(host, 'cache/log'), 'utf8')).toBe('kept\n');
        expect(readdirSync(path.join(host, 'ctx'))).toEqual(['input.txt']);
      });

      if (mounted)
        test('a bind with readonly false is writable; a cache with readonly true is not', async () => {
          const r = await sh('echo w > /src/new && echo wrote; echo x > /c/y 2>/dev/null || echo cache-ro', {
            mounts: [
              { type: 'bind', target: '/src', source: path.join(host, 'ctx'), readonly: false },
              { type: 'cache', target: '/c', source: path.join(host, 'cache'), readonly: true },
            ],
          });
          expect(r.out).toBe('wrote\ncache-ro\n');
          expect(readFileSync(path.join(host, 'ctx/new'), 'utf8')).toBe('w\n');
          rmSync(path.join(host, 'ctx/new'));
        });
      else
        test('an emulated bind is a writable copy whose writes are discarded', async () => {
          const r = await sh('echo w > /src/new && cat /src/new', {
            mounts: [{ type: 'bind', target: '/src', source: path.join(host, 'ctx'), readonly: false }],
          });
          expect(r.out).toBe('w\n');
          expect(readdirSync(path.join(host, 'ctx'))).toEqual(['input.txt']);
        });

      test('a mount over an existing directory hides it and leaves its content alone', async () => {
        const before = treeState(fs.dir);
        const r = await sh('ls /work; echo t > /work/in-tmpfs', {
          mounts: [{ type: 'tmpfs', target: '/work' }],
        });
        expect(r).toMatchObject({ exitCode: 0, out: '' });
        expect(treeState(fs.dir)).toEqual(before);
      });
    });
  });
}

/** Host pids of `sleep <mark>` processes. */
function markedSleeps(marks: number[]): number[] {
  const out: number[] = [];
  for (const pid of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (marks.some((m) => cmd === `sleep\0${m}\0`)) out.push(Number(pid));
    } catch {}
  }
  return out;
}
