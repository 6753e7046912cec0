import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { KilnError } from '../../src/errors.js';
import type { Executor, RunRequest } from '../../src/executor.js';

const pkg = fileURLToPath(new URL('../../', import.meta.url));
let compiled: string | undefined;

/**
 * The driver and the sources it imports, transpiled once per test process to plain JS in a world-readable
 * temp dir (the Node that runs it may be inside a sandbox or an unprivileged uid, and cannot load TypeScript).
 * Test files using it call {@link disposeCompiledDriver} in `afterAll`.
 */
export function compiledDriver(): string {
  if (compiled) return compiled;
  const out = mkdtempSync(path.join(tmpdir(), 'kiln-executor-driver-'));
  chmodSync(out, 0o755);
  const seen = new Set<string>();
  const visit = (rel: string) => {
    if (seen.has(rel)) return;
    seen.add(rel);
    const src = readFileSync(path.join(pkg, rel), 'utf8');
    const js = ts.transpileModule(src, {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
    }).outputText;
    mkdirSync(path.join(out, path.dirname(rel)), { recursive: true, mode: 0o755 });
    writeFileSync(path.join(out, rel.replace(/\.ts$/, '.js')), js, { mode: 0o644 });
    for (const m of src.matchAll(/from '(\.{1,2}\/[^']+)\.js'/g))
      visit(path.join(path.dirname(rel), `${m[1]}.ts`));
  };
  visit('test/executors/executor-driver.ts');
  writeFileSync(path.join(out, 'package.json'), '{"type":"module"}', { mode: 0o644 });
  compiled = out;
  return out;
}

/** Removes the transpiled driver of this test process. */
export function disposeCompiledDriver(): void {
  if (compiled) rmSync(compiled, { recursive: true, force: true });
  compiled = undefined;
}

/**
 * driverExecutor is an Executor that runs each request through executor-driver.ts in a child process started
 * by `command` (given the request and the compiled driver directory; it may rewrite the mounts' sources to
 * where the child sees them), forwarding output, abort and outcome.
 */
export function driverExecutor(
  name: string,
  kind: 'in-place' | 'namespace' | 'namespace-single-id',
  command: (
    req: RunRequest,
    driverDir: string,
  ) => { file: string; args: string[]; mounts?: RunRequest['mounts'] },
): Executor {
  return {
    name,
    run: (req) =>
      new Promise((resolve, reject) => {
        const { argv, env, cwd, user, network, rootfs } = req;
        const { file, args, mounts = req.mounts } = command(req, compiledDriver());
        const json = JSON.stringify({ argv, env, cwd, user, mounts, network, rootfs });
        const child = spawn(file, [...args, kind, json], {
          stdio: ['pipe', 'pipe', 'pipe', 'pipe'],
          env: {},
          cwd: '/',
        });
        child.stdout!.pipe(req.stdout, { end: false });
        child.stderr!.pipe(req.stderr, { end: false });
        req.signal?.addEventListener('abort', () => child.stdin!.write('abort\n'), { once: true });
        // A result resolves only once the child's stdout and stderr are drained (they are separate pipes from
        // fd 3); an error rejects at once, so the abort case can look for survivors while the driver lingers.
        let status = '';
        let result: { exitCode: number } | undefined;
        (child.stdio[3] as Readable).on('data', (b: Buffer) => {
          status += b.toString('utf8');
          if (!status.endsWith('\n')) return;
          const o = JSON.parse(status);
          if (o.error) reject(new KilnError(o.error.code ?? 'TEST_DRIVER', o.error.message));
          else result = o;
        });
        child.on('close', (code) => {
          if (result) resolve(result);
          else reject(new Error(`executor driver ended (${code}) without a result`));
        });
      }),
  };
}
