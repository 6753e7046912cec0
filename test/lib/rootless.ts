import { chown, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { RootlessUser } from '../setup/rootless-user.js';
import { type ExecResult, execTool } from './exec.js';

/** The repository root (test/lib/../..). */
const REPO = path.resolve(import.meta.dirname, '../..');

/** A private home for one rootless kiln run, with what it leaves (cache, outputs) removed by `dispose`. */
export interface RootlessRun {
  /** Runs the kiln CLI (packages/cli/dist) as the user; paths inside the repository in `args` are remapped. */
  kiln(args: string[], opts?: { timeoutMs?: number; env?: Record<string, string> }): Promise<ExecResult>;
  /** The user's HOME for this run (writable by it; kiln's cache is under it). */
  home: string;
  dispose(): Promise<void>;
}

/**
 * Prepares runs of the kiln CLI as `user`, an ordinary user with subordinate ids: the CLI re-executes itself
 * as root in a user namespace of its own, exactly as it would for that user at a terminal. The checkout may
 * sit under a directory the user cannot enter (/root), so each run gets a private mount namespace where the
 * repository is bound at a world-traversable path; nothing else is shared with the test process.
 */
export async function rootlessRun(user: RootlessUser): Promise<RootlessRun> {
  const home = await mkdtemp(path.join(tmpdir(), 'kiln-rootless-home-'));
  const mount = await mkdtemp(path.join(tmpdir(), 'kiln-rootless-repo-'));
  await chown(home, user.uid, user.gid);
  const remap = (arg: string) =>
    arg === REPO || arg.startsWith(`${REPO}/`)
      ? mount + arg.slice(REPO.length)
      : arg.replaceAll(`=${REPO}/`, `=${mount}/`);
  return {
    home,
    kiln: (args, opts = {}) =>
      execTool(
        'unshare',
        [
          '--mount',
          '--propagation',
          'private',
          '--',
          'sh',
          '-c',
          'mount --bind "$1" "$2" && shift 2 && exec "$@"',
          'sh',
          REPO,
          mount,
          'setpriv',
          `--reuid=${user.uid}`,
          `--regid=${user.gid}`,
          '--init-groups',
          '--',
          'env',
          '-i',
          `HOME=${home}`,
          'PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin',
          `USER=${user.name}`,
          ...Object.entries(opts.env ?? {}).map(([k, v]) => `${k}=${v}`),
          process.execPath,
          path.join(mount, 'packages/cli/dist/bin.js'),
          ...args.map(remap),
        ],
        { cwd: home, allowFailure: true, timeoutMs: opts.timeoutMs ?? 180_000 },
      ),
    async dispose() {
      // Root removes what the user's namespace left: files of its subordinate ids included.
      await rm(home, { recursive: true, force: true });
      await rm(mount, { recursive: true, force: true });
    },
  };
}
