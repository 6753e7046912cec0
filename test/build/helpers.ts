import { mkdir, mkdtemp, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { requestChannel } from '@kiln/registry';
import { testEnv } from '../lib/test-env.js';

/**
 * Writes a context directory from a map of path → content (a Dockerfile included) under the run's state
 * dir, and returns its path.
 */
export async function useTmpContext(
  files: Record<string, string>,
  opts: { mtime?: Date } = {},
): Promise<string> {
  const env = testEnv();
  await mkdir(path.join(env.stateDir, 'contexts'), { recursive: true });
  const dir = await mkdtemp(path.join(env.stateDir, 'contexts', 'ctx-'));
  for (const [p, content] of Object.entries(files)) {
    const f = path.join(dir, p);
    await mkdir(path.dirname(f), { recursive: true });
    await writeFile(f, content);
    if (opts.mtime) await utimes(f, opts.mtime, opts.mtime);
  }
  return dir;
}

/** Counts the registry requests made while `fn` runs (from the client's diagnostics channel). */
export async function countRequests<T>(
  fn: () => Promise<T>,
): Promise<{ result: T; requests: { method: string; url: string; status: number }[] }> {
  const requests: { method: string; url: string; status: number }[] = [];
  const listener = (m: unknown) => requests.push(m as { method: string; url: string; status: number });
  requestChannel.subscribe(listener);
  try {
    return { result: await fn(), requests };
  } finally {
    requestChannel.unsubscribe(listener);
  }
}

/** A repository name unique to this test run and call. */
let n = 0;
export function uniqueRepo(prefix: string): string {
  return `${prefix}-${process.pid}-${Date.now().toString(36)}-${n++}`;
}
