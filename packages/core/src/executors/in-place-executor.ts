import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { KilnError } from '../errors.js';
import type { Executor, RunRequest } from '../executor.js';
import { envObject, runChild } from './child-process.js';
import { InPlaceMounts } from './in-place-mounts.js';
import { resolveRunUser } from './run-user.js';

/** Options of {@link inPlaceExecutor}. */
export interface InPlaceExecutorOptions {
  /** Must be `true` (or the environment must have `KILN_IN_PLACE=1`): this executor changes the machine's `/`. */
  enabled?: boolean;
  /**
   * Node binary used as the small launcher that sets a non-root USER's groups, gid and uid before starting the
   * command. Default: the running Node (`process.execPath`), which lives with kiln outside the unpacked image.
   */
  node?: string;
}

/**
 * The launcher a non-root RUN goes through: it drops to the user (supplementary groups first, then gid, then
 * uid), starts the command with its exact environment, and exits with the command's status in shell encoding.
 * It is started with an empty environment so an image's `NODE_OPTIONS` cannot reach it.
 */
const LAUNCHER = `
const [argv, env, groups, gid, uid] = JSON.parse(process.argv[1]);
try { process.setgroups(groups); process.setgid(gid); process.setuid(uid); }
catch (e) { process.stderr.write('kiln: cannot switch to uid ' + uid + ' gid ' + gid + ' (kiln must run as root): ' + e.message + '\\n'); process.exit(126); }
const c = require('node:child_process').spawn(argv[0], argv.slice(1), { env, stdio: 'inherit' });
c.on('error', (e) => { process.stderr.write('kiln: cannot execute ' + argv[0] + ': ' + e.message + '\\n'); process.exit(127); });
c.on('exit', (code, sig) => process.exit(code ?? 128 + require('node:os').constants.signals[sig]));
for (const s of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(s, () => c.kill(s));
`;

/**
 * inPlaceExecutor (kaniko mode) runs RUN commands directly on this machine, with `/` as the image's root
 * filesystem: only for a disposable container (a Kubernetes pod) whose `/` the build may overwrite. It refuses
 * to be created unless `opts.enabled === true` or `KILN_IN_PLACE=1` is set, and refuses any rootfs but `/`.
 * It runs the command in its own process group with exactly the requested environment and cwd; a non-root
 * USER (resolved from `/etc/passwd` and `/etc/group`) needs kiln to run as root. It provides no isolation:
 * no namespaces, no /proc or /dev of its own, no `network: 'none'` (rejected with `KILN_RUN_UNSUPPORTED`);
 * `RUN --mount` is emulated by placing copies at the targets ({@link InPlaceMounts}).
 */
export function inPlaceExecutor(opts: InPlaceExecutorOptions = {}): Executor {
  if (opts.enabled !== true && process.env.KILN_IN_PLACE !== '1')
    throw new KilnError(
      'KILN_IN_PLACE_DISABLED',
      "the in-place executor overwrites this machine's root filesystem; enable it only in a disposable container, with { enabled: true } or KILN_IN_PLACE=1",
    );
  return { name: 'in-place', rootfs: 'host', run: (req) => runInPlace(req, opts) };
}

async function runInPlace(req: RunRequest, opts: InPlaceExecutorOptions): Promise<{ exitCode: number }> {
  if (req.rootfs !== '/')
    throw new KilnError('KILN_RUN_ROOTFS', `the in-place executor runs in "/" only, not in ${req.rootfs}`);
  if (req.argv.length === 0) throw new KilnError('KILN_RUN_EMPTY', 'RUN has no command to execute');
  if (req.network === 'none')
    throw new KilnError(
      'KILN_RUN_UNSUPPORTED',
      'the in-place executor cannot isolate the network (RUN --network=none); use the namespace executor',
    );
  const env = envObject(req.env);
  const id = await resolveRunUser(req.user, (file) => readFile(file, 'utf8').catch(() => undefined));
  // Root whose groups are already exactly right (or a non-root kiln, which cannot change ids anyway) needs
  // no launcher.
  const own = process.getgroups?.() ?? [];
  const sameGroups = own.length === id.groups.length && id.groups.every((g) => own.includes(g));
  const direct =
    id.uid === 0 && id.gid === 0 && (process.getuid?.() !== 0 || (process.getgid?.() === 0 && sameGroups));
  const spec = direct
    ? { file: req.argv[0]!, args: req.argv.slice(1), env }
    : {
        file: opts.node ?? process.execPath,
        args: ['-e', LAUNCHER, JSON.stringify([req.argv, env, id.groups, id.gid, id.uid])],
        env: {},
      };
  const mounts = new InPlaceMounts();
  try {
    await mounts.place(req.mounts);
    const cwd = path.posix.resolve('/', req.cwd || '/');
    const isDir = await stat(cwd).then(
      (s) => s.isDirectory(),
      () => false,
    );
    if (!isDir)
      throw new KilnError(
        'KILN_RUN_CWD_MISSING',
        `working directory ${cwd} does not exist; create it (WORKDIR) before RUN`,
      );
    const end = await runChild({ ...spec, cwd, signal: req.signal, stdout: req.stdout, stderr: req.stderr });
    return { exitCode: end.exitCode };
  } finally {
    await mounts.remove();
  }
}
