/**
 * Runs inside the throwaway bubblewrap sandbox of in-place-executor.test.ts (where `/` is a temp busybox
 * rootfs, never the machine's root): executes one request (JSON in argv[2]) with the in-place executor,
 * streams its output, aborts when a line arrives on stdin, and writes the outcome as JSON to fd 3. After an
 * abort it lingers while any other process of the sandbox survives, so the host-side check sees survivors
 * instead of the sandbox's teardown hiding them.
 */
import { readdirSync, readFileSync, writeSync } from 'node:fs';
import { inPlaceExecutor } from '../../src/executors/in-place-executor.js';

const req = JSON.parse(process.argv[2]!);
const ac = new AbortController();
process.stdin.once('data', () => ac.abort());
const report = (o: unknown) => writeSync(3, `${JSON.stringify(o)}\n`);
const others = () =>
  readdirSync('/proc').filter((p) => /^\d+$/.test(p) && Number(p) !== process.pid && p !== '1' && alive(p));
const alive = (pid: string) => {
  try {
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
};
try {
  const ex = inPlaceExecutor({ enabled: true });
  const res = await ex.run({
    ...req,
    rootfs: '/',
    signal: ac.signal,
    stdout: process.stdout,
    stderr: process.stderr,
  });
  report(res);
} catch (e) {
  const err = e as { code?: string; message: string };
  report({ error: { code: err.code, message: err.message } });
  if (ac.signal.aborted)
    for (let i = 0; i < 100 && others().length > 0; i++) await new Promise((r) => setTimeout(r, 30));
}
process.stdin.destroy();
