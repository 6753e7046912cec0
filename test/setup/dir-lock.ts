import { mkdir, rmdir, stat } from 'node:fs/promises';
import { TestHarnessError } from '../lib/exec.js';

/**
 * withDirLock: runs `fn` while holding a lock made by creating the directory `lockDir`
 * (mkdir is atomic), so that two test runs on one machine do not fill a shared cache
 * at the same time. Waits up to `timeoutMs` (default 20 min, longer than a debootstrap);
 * a lock older than `staleMs` (default 30 min) is taken to be left by a killed run and
 * broken. Throws `KILN_TEST_LOCK_TIMEOUT` when the wait runs out.
 * @public
 */
export async function withDirLock<T>(
  lockDir: string,
  fn: () => Promise<T>,
  { timeoutMs = 20 * 60_000, staleMs = 30 * 60_000 } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await mkdir(lockDir);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const st = await stat(lockDir).catch(() => undefined);
      if (st && Date.now() - st.mtimeMs > staleMs) {
        await rmdir(lockDir).catch(() => undefined);
        continue;
      }
      if (Date.now() > deadline) {
        throw new TestHarnessError(
          'KILN_TEST_LOCK_TIMEOUT',
          `gave up waiting for ${lockDir} after ${timeoutMs} ms`,
        );
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  try {
    return await fn();
  } finally {
    await rmdir(lockDir).catch(() => undefined);
  }
}
