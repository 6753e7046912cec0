import {
  copyFile,
  cp,
  lstat,
  mkdir,
  mkdtemp,
  readFile,
  readlink,
  rm,
  symlink,
  writeFile,
} from 'node:fs/promises';
import path from 'node:path';
import { symlinkChain } from '../../packages/core/src/stage/own-paths.js';
import { execTool } from '../lib/exec.js';
import { scratchDir } from '../lib/scratch-dir.js';

/** One `kiln build` run inside the throwaway root. */
export interface ThrowawayJob {
  name: string;
  /** Arguments after `kiln build`. */
  args: string[];
  /** The whole environment of the kiln process. */
  env: Record<string, string>;
}

/** What a job did, and what the throwaway `/` looked like right after it. */
export interface ThrowawayResult {
  name: string;
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
  /** Entries of `/` after the job. */
  root: string[];
  /** Whether a file of the "pod image" that no base image has was still there. */
  podFile: boolean;
  /** kiln work dirs left in /tmp or `/`. */
  workDirs: string[];
}

/** The repository checkout, bound read-only into the throwaway root at {@link KILN_HOME}. */
export const REPO = path.resolve(import.meta.dirname, '../..');
/**
 * Where the checkout is inside the throwaway root: a fixed path, not the checkout's own (which may be under
 * /tmp, where a case's `rm -rf /tmp/*` would reach it), like kaniko's /kaniko.
 */
export const KILN_HOME = '/kiln';
const BIN = path.join(KILN_HOME, 'packages/cli/dist/bin.js');
/** A file of the pod image that no base image has: gone once an in-place build emptied `/`. */
export const POD_FILE = '/etc/pod-only.conf';

// Runs inside the chroot with kiln's Node: one kiln process per job, one after another on the same `/`.
const DRIVER = `
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, openSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
const { bin, jobs } = JSON.parse(readFileSync('/results/jobs.json', 'utf8'));
const out = [];
for (const job of jobs) {
  const t = Date.now();
  const files = ['out', 'err'].map((s) => '/results/' + job.name + '.' + s);
  const fds = files.map((f) => openSync(f, 'w'));
  const r = spawnSync(process.execPath, [bin, 'build', ...job.args], { env: job.env, stdio: ['ignore', ...fds], cwd: '/', timeout: 60000 });
  fds.forEach(closeSync);
  const [stdout, stderr] = files.map((f) => readFileSync(f, 'utf8'));
  out.push({ name: job.name, code: r.status, stdout, stderr: stderr + (r.error ? String(r.error) : ''),
    ms: Date.now() - t, root: readdirSync('/').sort(), podFile: existsSync(${JSON.stringify(POD_FILE)}),
    workDirs: [...readdirSync('/tmp'), ...readdirSync('/')].filter((n) => /^.?kiln-/.test(n)) });
}
writeFileSync('/results/out.json', JSON.stringify(out));
`;

// Mounts the overlay (the pod image read-only below a fresh upper dir) in a private mount namespace, gives it
// /proc, a /dev of a few bound device nodes, the checkout (read-only) and the results dir, then runs the
// driver chrooted into it. Nothing but the upper dir and the results dir can change.
const SCRIPT = `
set -euo pipefail
M=$1 LOWER=$2 UPPER=$3 WORK=$4 REPO=$5 RESULTS=$6 KILN_HOME=$7
mount --make-rprivate /
mount -t overlay kiln-throwaway -o "lowerdir=$LOWER,upperdir=$UPPER,workdir=$WORK" "$M"
mountpoint -q "$M"
test -e "$M/.kiln-throwaway"
mount -t proc proc "$M/proc"
mount -t tmpfs -o mode=755 tmpfs "$M/dev"
for d in null zero full random urandom; do touch "$M/dev/$d"; mount --bind "/dev/$d" "$M/dev/$d"; done
mount --bind "$REPO" "$M$KILN_HOME"
mount -o remount,bind,ro "$M$KILN_HOME"
mount --bind "$RESULTS" "$M/results"
exec env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin chroot "$M" /usr/bin/node /results/driver.mjs
`;

/** Copies a file of this machine into `root` at the same path, with the symlinks that lead to it. */
async function replicate(root: string, file: string): Promise<void> {
  for (const p of await symlinkChain(file)) {
    const st = await lstat(p).catch(() => undefined);
    if (!st) continue;
    const to = path.join(root, p);
    if (await lstat(to).catch(() => undefined)) continue;
    await mkdir(path.dirname(to), { recursive: true });
    if (st.isSymbolicLink()) await symlink(await readlink(p), to);
    else await copyFile(p, to);
  }
}

/**
 * Runs `kiln build` jobs with `/` being a throwaway root: an overlay whose read-only lower dir is a small
 * "pod image" made here (this machine's Node binary and the libraries it loads, an /etc with a file no base
 * image has, a /usr/share) and whose upper dir is a fresh temp dir, chrooted into inside new mount and pid
 * namespaces. kiln (the built CLI) is the checkout, bound read-only at /kiln. The build contexts are
 * copied into the pod image under /workspace/<name>.
 */
export async function runInThrowawayRoot(
  contexts: Record<string, string>,
  jobs: ThrowawayJob[],
): Promise<{
  results: ThrowawayResult[];
  dir: string;
  lower: string;
  upper: string;
  cleanup(): Promise<void>;
}> {
  const dir = await mkdtemp(path.join(scratchDir(), 'kiln-throwaway-'));
  const [lower, upper, work, merged, results] = ['lower', 'upper', 'work', 'merged', 'results'].map((d) =>
    path.join(dir, d),
  ) as [string, string, string, string, string];
  for (const d of [upper, work, merged, results]) await mkdir(d);
  for (const d of [
    'proc',
    'dev',
    'sys',
    'results',
    'root',
    'tmp',
    'workspace',
    'usr/share/pod',
    KILN_HOME.slice(1),
  ])
    await mkdir(path.join(lower, d), { recursive: true });
  await execTool('chmod', ['1777', path.join(lower, 'tmp')]);
  await execTool('chmod', ['700', path.join(lower, 'root')]);
  const ldd = (await execTool('ldd', [process.execPath])).stdout;
  const libs = [...ldd.matchAll(/(\/\S+) \(0x/g)].map((m) => m[1]!);
  for (const f of [process.execPath, ...libs]) await replicate(lower, f);
  await mkdir(path.join(lower, 'etc'));
  for (const f of ['passwd', 'group']) await copyFile(path.join('/etc', f), path.join(lower, 'etc', f));
  await writeFile(path.join(lower, POD_FILE), 'only in the pod image\n');
  await writeFile(path.join(lower, 'usr/share/pod/readme'), 'only in the pod image\n');
  await writeFile(path.join(lower, '.kiln-throwaway'), '');
  for (const [name, from] of Object.entries(contexts))
    await cp(from, path.join(lower, 'workspace', name), { recursive: true });
  await writeFile(path.join(results, 'jobs.json'), JSON.stringify({ bin: BIN, jobs }));
  await writeFile(path.join(results, 'driver.mjs'), DRIVER);
  await writeFile(path.join(dir, 'enter.sh'), SCRIPT);
  await execTool(
    'unshare',
    ['--mount', '--pid', '--fork', '--kill-child', 'bash', path.join(dir, 'enter.sh')].concat([
      merged,
      lower,
      upper,
      work,
      REPO,
      results,
      KILN_HOME,
    ]),
    { timeoutMs: 240_000 },
  );
  const out = JSON.parse(await readFile(path.join(results, 'out.json'), 'utf8')) as ThrowawayResult[];
  return { results: out, dir, lower, upper, cleanup: () => rm(dir, { recursive: true, force: true }) };
}
