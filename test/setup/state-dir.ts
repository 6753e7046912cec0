import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stopDockerEngine } from '../lib/docker-engine.js';
import { cleanupBuildah } from '../lib/oracle.js';

/**
 * The per-run state dir of the e2e suite (`/tmp/kiln-e2e-XXXXXX`): registries' storage,
 * base image layouts, buildah storage, the private Docker engine. It records the PID of
 * the vitest process that owns it, so a later run can clean up after a run that was killed
 * before its teardown.
 *
 * It stays on disk (the OS temp dir; `KILN_TEST_STATE_PARENT` overrides) rather than on
 * tmpfs: with kiln's cache under /dev/shm, kiln's RUN as a non-root USER failed
 * ("bwrap: Can't chdir to /home/builder/work: Permission denied") while the same cases pass
 * from /tmp. Only self-contained scratch work (unpacks) uses tmpfs, see `scratchDir`.
 */

/** stateParent: where state dirs are made. @public */
export function stateParent(): string {
  return process.env.KILN_TEST_STATE_PARENT ?? tmpdir();
}

const PREFIX = 'kiln-e2e-';
const OWNER = 'owner.pid';
const KEEP = 'kept';

/** createStateDir: a fresh state dir owned by this process. @public */
export async function createStateDir(): Promise<string> {
  // Short path: dockerd's unix socket lives below it (sun_path is limited to 108 bytes).
  const dir = await mkdtemp(join(stateParent(), PREFIX));
  await writeFile(join(dir, OWNER), String(process.pid));
  return dir;
}

/**
 * cleanupStateDir: stops what may run from `dir` (the Docker engine, buildah's mounts)
 * and deletes it, or with `keep` only marks it kept (a later sweep leaves it alone).
 * Returns dockerd's timings when one ran.
 * @public
 */
export async function cleanupStateDir(dir: string, { keep = false } = {}) {
  const docker = await stopDockerEngine(dir);
  await cleanupBuildah(dir);
  if (keep) await writeFile(join(dir, KEEP), '');
  else await rm(dir, { recursive: true, force: true });
  return docker;
}

/**
 * sweepStaleStateDirs: cleans up the state dirs in {@link stateParent} whose owning process is
 * gone and that were not kept. Another run's live dir is never touched. Returns the dirs
 * removed.
 * @public
 */
export async function sweepStaleStateDirs(): Promise<string[]> {
  const parent = stateParent();
  const names = (await readdir(parent).catch(() => [] as string[])).filter((n) => n.startsWith(PREFIX));
  const swept: string[] = [];
  for (const name of names) {
    const dir = join(parent, name);
    if (existsSync(join(dir, KEEP))) continue;
    const owner = Number((await readFile(join(dir, OWNER), 'utf8').catch(() => '')).trim());
    if (!Number.isInteger(owner) || owner <= 0 || (await processAlive(owner))) continue;
    await cleanupStateDir(dir).catch(() => undefined);
    swept.push(dir);
  }
  return swept;
}

/** processAlive: true when `pid` runs; a zombie (this VM's init reaps late) counts as gone. @public */
export async function processAlive(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  if (!stat) return false;
  return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
}
