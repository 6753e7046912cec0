import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { readFile, readlink, writeFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { KilnError } from '../errors.js';
import { currentIdMaps, describeMap, identityMapText, idMapped, SUBID_HINT } from '../user-namespace.js';
import { findProgram } from './find-program.js';

const exec = promisify(execFile);

/** The host tools user namespaces are made with (util-linux and the `uidmap` package). */
export interface NamespaceTools {
  unshare: string;
  nsenter: string;
  newuidmap: string;
  newgidmap: string;
}

/** Looks the tools up in PATH; `KILN_EXECUTOR_UNAVAILABLE` names the package of a missing one. */
export function namespaceTools(): NamespaceTools {
  return {
    unshare: findProgram('unshare', 'util-linux'),
    nsenter: findProgram('nsenter', 'util-linux'),
    newuidmap: findProgram('newuidmap', 'uidmap'),
    newgidmap: findProgram('newgidmap', 'uidmap'),
  };
}

/**
 * A user namespace kept open by a descriptor, plus the process that created it (killed by `close`, which never
 * throws). The process stays alive while the sandbox starts because `nsenter` reaches the namespace through
 * its pid.
 */
export interface HeldNamespace {
  fd: number;
  pid: number;
  close(): void;
}

/**
 * Starts `file args` (which must end up running `unshare --user -- cat`) and waits until it is in none of the
 * `before` user namespaces (where it starts, and any it enters on the way); then runs `map(pid)` to write its
 * id maps and opens the namespace.
 */
async function holdNamespace(
  file: string,
  args: string[],
  spawnIds: { uid?: number; gid?: number },
  before: string[],
  map: (pid: number) => Promise<void>,
): Promise<HeldNamespace> {
  // The holder is `cat` reading a pipe from us: should kiln die without closing it, cat sees end-of-file and
  // exits, so no holder outlives kiln.
  const holder: ChildProcess = spawn(file, args, {
    ...spawnIds,
    env: { PATH: '/usr/bin:/bin' },
    stdio: ['pipe', 'ignore', 'ignore'],
  });
  const kill = () => holder.kill('SIGKILL');
  try {
    const pid = holder.pid;
    if (pid === undefined) throw new KilnError('KILN_RUN_USERNS', `cannot start ${file}`);
    for (let i = 0; ; i++) {
      const ns = await readlink(`/proc/${pid}/ns/user`).catch(() => before[0]!);
      if (!before.includes(ns)) break;
      if (i > 2000 || holder.exitCode !== null)
        throw new KilnError('KILN_RUN_USERNS', `${file} ${args.join(' ')} did not create a user namespace`);
      await sleep(1);
    }
    await map(pid);
    const fd = openSync(`/proc/${pid}/ns/user`, 'r');
    return {
      fd,
      pid,
      close: () => {
        try {
          closeSync(fd);
        } catch {}
        kill();
      },
    };
  } catch (e) {
    kill();
    throw e;
  }
}

/**
 * As root (on the machine, or inside a user namespace kiln re-executed itself in): a user namespace owned by
 * `uid` (so a process of that uid may join it) in which every id this process has maps to itself, so the files
 * a non-root USER writes carry its real ids. A USER outside those ids is refused with `KILN_RUN_USERNS`.
 */
export async function identityUserNamespace(
  unshare: string,
  uid: number,
  gid: number,
  groups: number[] = [],
): Promise<HeldNamespace> {
  const maps = currentIdMaps();
  if (!idMapped(maps.uid, uid) || ![gid, ...groups].every((g) => idMapped(maps.gid, g)))
    throw new KilnError(
      'KILN_RUN_USERNS',
      `uid ${uid} / gids ${[gid, ...groups].join(',')} are outside the ids this user namespace maps (${describeMap(maps.uid)} / ${describeMap(maps.gid)}); ${SUBID_HINT}`,
    );
  return holdNamespace(
    unshare,
    ['--user', '--', 'cat'],
    { uid, gid },
    [await readlink('/proc/self/ns/user')],
    async (pid) => {
      await writeFile(`/proc/${pid}/uid_map`, identityMapText(maps.uid));
      await writeFile(`/proc/${pid}/gid_map`, identityMapText(maps.gid));
    },
  );
}

/** A subordinate id range of `/etc/subuid` or `/etc/subgid`. */
export interface SubordinateRange {
  start: number;
  count: number;
}

/**
 * The caller's first range in `/etc/subuid` or `/etc/subgid` (lines `user-or-id:start:count`), or undefined.
 */
export async function subordinateRange(
  file: '/etc/subuid' | '/etc/subgid',
): Promise<SubordinateRange | undefined> {
  const text = await readFile(file, 'utf8').catch(() => '');
  const me = userInfo();
  const keys = [me.username, String(file === '/etc/subuid' ? me.uid : me.gid)];
  for (const line of text.split('\n')) {
    const [who, start, count] = line.trim().split(':');
    if (who && keys.includes(who) && Number(count) > 0) return { start: Number(start), count: Number(count) };
  }
  return undefined;
}

/**
 * As an ordinary user with subordinate ids: a user namespace where the caller is root (0 → the caller's uid)
 * and ids 1..count map to its subordinate range, written by the setuid `newuidmap`/`newgidmap`. Inside, root
 * can `chown` to any id in that range. Returns the namespace and the highest id it maps.
 */
export async function subordinateUserNamespace(
  tools: NamespaceTools,
  uids: SubordinateRange,
  gids: SubordinateRange,
): Promise<HeldNamespace & { maxUid: number; maxGid: number }> {
  const me = userInfo();
  const held = await holdNamespace(
    tools.unshare,
    ['--user', '--', 'cat'],
    {},
    [await readlink('/proc/self/ns/user')],
    async (pid) => {
      await exec(tools.newuidmap, [`${pid}`, '0', `${me.uid}`, '1', '1', `${uids.start}`, `${uids.count}`]);
      await exec(tools.newgidmap, [`${pid}`, '0', `${me.gid}`, '1', '1', `${gids.start}`, `${gids.count}`]);
    },
  );
  return { ...held, maxUid: uids.count, maxGid: gids.count };
}

/**
 * Inside `outer` (a {@link subordinateUserNamespace}): a user namespace owned by `uid` in which every id of
 * `outer` maps to itself, the unprivileged twin of {@link identityUserNamespace}. Its maps must be written
 * from `outer` itself, so a shell is entered there to write them.
 */
export async function nestedIdentityNamespace(
  tools: NamespaceTools,
  outer: HeldNamespace & { maxUid: number; maxGid: number },
  uid: number,
  gid: number,
): Promise<HeldNamespace> {
  const enter = `--user=/proc/${outer.pid}/ns/user`;
  // One extent per extent of the outer map: a range must fall inside a single extent of its parent's map.
  const uidMap = `0 0 1\n1 1 ${outer.maxUid}\n`;
  const gidMap = `0 0 1\n1 1 ${outer.maxGid}\n`;
  return holdNamespace(
    tools.nsenter,
    [enter, '-S', `${uid}`, '-G', `${gid}`, '--', tools.unshare, '--user', '--', 'cat'],
    {},
    [await readlink('/proc/self/ns/user'), await readlink(`/proc/${outer.pid}/ns/user`)],
    async (pid) => {
      const script = 'printf "$1" > /proc/$3/uid_map && printf "$2" > /proc/$3/gid_map';
      await exec(tools.nsenter, [enter, '--', '/bin/sh', '-c', script, 'sh', uidMap, gidMap, `${pid}`]);
    },
  );
}
