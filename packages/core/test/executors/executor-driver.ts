/**
 * Runs one request in a child process the test controls (a bubblewrap sandbox for the in-place executor, an
 * unprivileged uid for the namespace executor): `argv[2]` names the executor (`namespace-single-id` forces
 * the single-id mapping), `argv[3]` is the request as JSON. Output is streamed, a line on stdin aborts, and
 * the outcome is written as JSON to fd 3. After an
 * abort it lingers while any other process of its pid namespace survives, so the host-side check sees
 * survivors instead of the sandbox's teardown hiding them.
 */
import { readdirSync, readFileSync, writeSync } from 'node:fs';
import type { Executor } from '../../src/executor.js';
import { inPlaceExecutor } from '../../src/executors/in-place-executor.js';
import { namespaceExecutor } from '../../src/executors/namespace-executor.js';

const kind = process.argv[2];
const req = JSON.parse(process.argv[3]!);
const ac = new AbortController();
process.stdin.once('data', () => ac.abort());
const report = (o: unknown) => writeSync(3, `${JSON.stringify(o)}\n`);
const alive = (pid: string) => {
  try {
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
};
const others = () =>
  readdirSync('/proc').filter((p) => /^\d+$/.test(p) && Number(p) !== process.pid && p !== '1' && alive(p));
try {
  const ex: Executor =
    kind === 'in-place'
      ? inPlaceExecutor({ enabled: true })
      : namespaceExecutor({ subordinateIds: kind !== 'namespace-single-id' });
  const res = await ex.run({
    ...req,
    ...(kind === 'in-place' ? { rootfs: '/' } : {}),
    signal: ac.signal,
    stdout: process.stdout,
    stderr: process.stderr,
  });
  report(res);
} catch (e) {
  const err = e as { code?: string; message: string };
  report({ error: { code: err.code, message: err.message } });
  if (ac.signal.aborted && kind === 'in-place')
    for (let i = 0; i < 100 && others().length > 0; i++) await new Promise((r) => setTimeout(r, 30));
}
process.stdin.destroy();
