import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { constants } from 'node:os';
import { findProgram } from './executors/find-program.js';

/** One line of `/proc/<pid>/uid_map` or `gid_map`: ids `inner..inner+count-1` are `outer..` in the parent. */
export interface IdMapExtent {
  inner: number;
  outer: number;
  count: number;
}

/** Parses a `/proc/<pid>/uid_map`-style text. */
export function parseIdMap(text: string): IdMapExtent[] {
  const out: IdMapExtent[] = [];
  for (const line of text.split('\n')) {
    const [inner, outer, count] = line.trim().split(/\s+/).map(Number);
    if (count !== undefined && Number.isFinite(count) && count > 0)
      out.push({ inner: inner!, outer: outer!, count });
  }
  return out;
}

/** Whether `id` is one of the ids this map gives a name to (inside the namespace). */
export function idMapped(map: IdMapExtent[], id: number): boolean {
  return map.some((e) => id >= e.inner && id - e.inner < e.count);
}

/** This process's uid and gid maps; the initial namespace maps every 32-bit id onto itself. */
export function currentIdMaps(): { uid: IdMapExtent[]; gid: IdMapExtent[] } {
  const read = (f: string) => {
    try {
      return parseIdMap(readFileSync(f, 'utf8'));
    } catch {
      return [{ inner: 0, outer: 0, count: 4294967295 }];
    }
  };
  return { uid: read('/proc/self/uid_map'), gid: read('/proc/self/gid_map') };
}

/** Whether this user namespace allows setgroups(2): one that maps only its creator denies it (user_namespaces(7)). */
export function setgroupsAllowed(): boolean {
  try {
    return readFileSync('/proc/self/setgroups', 'utf8').trim() !== 'deny';
  } catch {
    return true;
  }
}

/** True inside a user namespace other than the machine's initial one (the maps are not the full identity). */
export function inUserNamespace(): boolean {
  if (process.platform !== 'linux') return false;
  const { uid } = currentIdMaps();
  return !(uid.length === 1 && uid[0]!.inner === 0 && uid[0]!.outer === 0 && uid[0]!.count === 4294967295);
}

/**
 * An identity map for a nested user namespace: every id this namespace has maps to itself, one extent per
 * extent of ours (a child's extent must fall inside a single extent of its parent's map).
 */
export function identityMapText(map: IdMapExtent[]): string {
  return map.map((e) => `${e.inner} ${e.inner} ${e.count}\n`).join('');
}

/** `0-65535` style summary of the ids a map names, for messages. */
export function describeMap(map: IdMapExtent[]): string {
  return map.map((e) => (e.count === 1 ? `${e.inner}` : `${e.inner}-${e.inner + e.count - 1}`)).join(',');
}

/** What to do when a build needs more ids than its user namespace has. */
export const SUBID_HINT =
  'give the user running kiln subordinate id ranges in /etc/subuid and /etc/subgid (e.g. `usermod --add-subuids 100000-165535 --add-subgids 100000-165535 <user>`; Debian package uidmap provides newuidmap/newgidmap)';

/** The environment variable a re-executed kiln finds set, naming how its namespace was mapped. */
export const USERNS_ENV = 'KILN_USERNS';

/** How {@link reexecInUserNamespace} maps ids: the caller's subordinate ranges too, or only the caller as root. */
export type UserNamespaceMapping = 'subordinate' | 'single';

/** Options of {@link reexecInUserNamespace}. */
export interface ReexecOptions {
  /** The program and arguments to run again. Default: this Node process's own (`execPath`, `execArgv`, `argv`). */
  argv?: string[];
  /** Environment of the child. Default: `process.env`. */
  env?: NodeJS.ProcessEnv;
  /** util-linux `unshare` (2.38 or newer for the subordinate mapping). Default: from PATH. */
  unshare?: string;
}

/**
 * For a non-root caller on Linux: starts this program again (same Node, same arguments, same stdio) as root
 * inside a new user namespace and mount namespace, so that the files of a RUN stage's root filesystem can carry
 * the image's owners and overlay can be mounted, as buildah and rootless BuildKit do. The caller's
 * `/etc/subuid` and `/etc/subgid` ranges are mapped to ids 1… (util-linux `unshare --map-auto`, which runs the
 * setuid `newuidmap`/`newgidmap`); without ranges only the caller is mapped, to root, and a RUN that needs
 * other ids fails with a message saying so. Resolves with the child's exit status (128+signal when it was
 * killed), or `undefined` when nothing was started: already root (on the machine or in a namespace kiln
 * made), not Linux, or no user namespace could be created (the caller then goes on in-process and gets
 * build()'s error if a RUN needs one). Embedders call it first thing, the way the kiln CLI does:
 *
 *     const status = await reexecInUserNamespace();
 *     if (status !== undefined) process.exit(status);
 */
export async function reexecInUserNamespace(opts: ReexecOptions = {}): Promise<number | undefined> {
  if (process.platform !== 'linux' || process.getuid?.() === 0) return undefined;
  const env = opts.env ?? process.env;
  if (env[USERNS_ENV]) return undefined;
  let unshare: string;
  try {
    unshare = findProgram(opts.unshare ?? 'unshare', 'util-linux');
  } catch {
    return undefined;
  }
  const attempts: [UserNamespaceMapping, string[]][] = [
    ['subordinate', ['--map-root-user', '--map-auto', '--mount']],
    ['single', ['--map-root-user', '--mount']],
  ];
  for (const [mapping, flags] of attempts) {
    // A probe first, so a failure to create the namespace is told apart from the program's own exit status.
    const probe = spawnSync(unshare, [...flags, '--', 'true'], { stdio: 'ignore', timeout: 10_000 });
    if (probe.status !== 0) continue;
    const argv = opts.argv ?? [process.execPath, ...process.execArgv, ...process.argv.slice(1)];
    return runChild(unshare, [...flags, '--', ...argv], { ...env, [USERNS_ENV]: mapping });
  }
  return undefined;
}

function runChild(file: string, args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { env, stdio: 'inherit' });
    // The child gets terminal signals from the terminal itself; a signal sent to this pid alone is passed on.
    const forward = (s: NodeJS.Signals) => () => child.kill(s);
    const handlers = (['SIGINT', 'SIGTERM', 'SIGHUP'] as const).map((s) => [s, forward(s)] as const);
    for (const [s, h] of handlers) process.on(s, h);
    const done = () => {
      for (const [s, h] of handlers) process.off(s, h);
    };
    child.on('error', (e) => {
      done();
      reject(e);
    });
    child.on('exit', (code, signal) => {
      done();
      resolve(code ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 0));
    });
  });
}

/** The mapping kiln re-executed itself with, when this process is that child. */
export function userNamespaceMapping(): UserNamespaceMapping | undefined {
  const v = process.env[USERNS_ENV];
  return v === 'subordinate' || v === 'single' ? v : undefined;
}
