import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { afterAll, describe, expect, test } from 'vitest';
import { KilnError } from '../../src/errors.js';
import type { Executor } from '../../src/executor.js';
import { inPlaceExecutor } from '../../src/executors/in-place-executor.js';
import { executorContract } from './contract.js';
import { testRequest } from './test-request.js';

/*
 * The in-place executor treats `/` as the image. Its tests never run it on this machine's root: each request
 * is executed by in-place-driver.ts inside a bubblewrap sandbox whose `/` is the contract's temp busybox
 * rootfs (host /usr is bound read-only so Node itself can run, plus /proc and /dev as a pod would have).
 * The driver's sources are transpiled to plain JS once, since the sandbox's Node cannot load TypeScript.
 */
const pkg = fileURLToPath(new URL('../../', import.meta.url));
const out = mkdtempSync(path.join(tmpdir(), 'kiln-in-place-driver-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

function transpile(rel: string, seen = new Set<string>()): void {
  if (seen.has(rel)) return;
  seen.add(rel);
  const src = readFileSync(path.join(pkg, rel), 'utf8');
  const js = ts.transpileModule(src, {
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
  }).outputText;
  mkdirSync(path.join(out, path.dirname(rel)), { recursive: true });
  writeFileSync(path.join(out, rel.replace(/\.ts$/, '.js')), js);
  for (const m of src.matchAll(/from '(\.{1,2}\/[^']+)\.js'/g))
    transpile(path.join(path.dirname(rel), `${m[1]}.ts`), seen);
}
transpile('test/executors/in-place-driver.ts');
writeFileSync(path.join(out, 'package.json'), '{"type":"module"}');

/** An Executor that forwards each request to the driver inside a fresh sandbox rooted at `req.rootfs`. */
const sandboxedInPlace: Executor = {
  name: 'in-place (in a bubblewrap sandbox)',
  run: (req) =>
    new Promise((resolve, reject) => {
      const { argv, env, cwd, user, mounts, network } = req;
      const child = spawn(
        'bwrap',
        [
          ...['--unshare-pid', '--die-with-parent', '--bind', req.rootfs, '/'],
          ...[
            '--ro-bind',
            '/usr',
            '/usr',
            '--ro-bind',
            '/usr/lib',
            '/lib',
            '--ro-bind',
            '/usr/lib64',
            '/lib64',
          ],
          ...['--proc', '/proc', '--dev', '/dev', '--ro-bind', out, '/kiln-driver', '--chdir', '/'],
          ...['--clearenv', '--setenv', 'KILN_CONTRACT_LEAK', 'leaked', '--'],
          ...['/usr/bin/node', '/kiln-driver/test/executors/in-place-driver.js'],
          JSON.stringify({ argv, env, cwd, user, mounts, network }),
        ],
        { stdio: ['pipe', 'pipe', 'pipe', 'pipe'], env: {} },
      );
      child.stdout!.pipe(req.stdout, { end: false });
      child.stderr!.pipe(req.stderr, { end: false });
      req.signal?.addEventListener('abort', () => child.stdin!.write('abort\n'), { once: true });
      let status = '';
      (child.stdio[3] as Readable).on('data', (b: Buffer) => {
        status += b.toString('utf8');
        if (!status.endsWith('\n')) return;
        const o = JSON.parse(status);
        if (o.error) reject(new KilnError(o.error.code ?? 'TEST_DRIVER', o.error.message));
        else resolve(o);
      });
      child.on('close', (code) => reject(new Error(`in-place driver ended (${code}) without a result`)));
    }),
};

executorContract('in-place', {
  make: () => sandboxedInPlace,
  isolates: false,
  rootfsExtra: { 'usr/': '', 'lib/': '', 'lib64/': '', 'proc/': '', 'dev/': '', 'kiln-driver/': '' },
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
