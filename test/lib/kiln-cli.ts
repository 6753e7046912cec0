import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';

/** The built `kiln` CLI of this checkout (`pnpm build` makes it). @public */
export const KILN_BIN = path.resolve(import.meta.dirname, '../../packages/cli/dist/bin.js');

/**
 * runKiln: runs the built `kiln` CLI with this process's environment plus `env`, and returns its exit code,
 * output and pid once it has exited.
 * @public
 */
export function runKiln(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string; pid: number }> {
  if (!existsSync(KILN_BIN))
    throw new Error(`${KILN_BIN} is missing: run pnpm build first (scripts/test.sh does)`);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [KILN_BIN, ...args], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr, pid: child.pid ?? -1 }));
  });
}
