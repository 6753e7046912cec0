import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';

const exec = promisify(execFile);

/** An ordinary user the e2e setup creates so RUN builds are also checked without root. @public */
export interface RootlessUser {
  name: string;
  uid: number;
  gid: number;
  /** Its /etc/subuid range `start:count`, or undefined for the user made without one. */
  subuid?: string;
}

/** Both users: with 65,536 subordinate ids, and with none (single-id user namespaces). @public */
export interface RootlessUsers {
  subordinate: RootlessUser;
  single: RootlessUser;
}

/** System-wide fixtures, made once per machine and left in place (like the Debian base cache). */
export const ROOTLESS_USER = 'kiln-rootless';
export const SINGLE_ID_USER = 'kiln-rootless-single';
const RANGE = '300000-365535';

async function subordinate(file: string, name: string): Promise<string | undefined> {
  const text = await readFile(file, 'utf8').catch(() => '');
  const line = text.split('\n').find((l) => l.startsWith(`${name}:`));
  return line?.split(':').slice(1, 3).join(':');
}

const idOf = async (flag: string, name: string) => Number((await exec('id', [flag, name])).stdout.trim());

async function ensureUser(name: string, withRanges: boolean): Promise<RootlessUser> {
  const exists = await idOf('-u', name).then(
    () => true,
    () => false,
  );
  // A system account gets no subordinate ids from useradd; the other one gets a fixed range below.
  if (!exists)
    await exec('useradd', [
      '--system',
      '--user-group',
      '--no-create-home',
      '--home-dir',
      '/nonexistent',
      '--shell',
      '/usr/sbin/nologin',
      name,
    ]);
  if (withRanges) {
    // usermod refuses --add-subuids when the file does not exist yet (a machine where no user has ranges).
    for (const f of ['/etc/subuid', '/etc/subgid']) await writeFile(f, '', { flag: 'a', mode: 0o644 });
    if (!(await subordinate('/etc/subuid', name))) await exec('usermod', ['--add-subuids', RANGE, name]);
    if (!(await subordinate('/etc/subgid', name))) await exec('usermod', ['--add-subgids', RANGE, name]);
  } else if ((await subordinate('/etc/subuid', name)) || (await subordinate('/etc/subgid', name)))
    throw new Error(`${name} must have no subordinate ids in /etc/subuid and /etc/subgid; remove its lines`);
  const subuid = await subordinate('/etc/subuid', name);
  return {
    name,
    uid: await idOf('-u', name),
    gid: await idOf('-g', name),
    ...(subuid ? { subuid } : {}),
  };
}

/**
 * Makes sure both rootless test users exist ({@link ROOTLESS_USER} with subordinate ids, {@link SINGLE_ID_USER}
 * without). Needs root; returns undefined otherwise, and the rootless runs are then skipped with a message.
 */
export async function ensureRootlessUsers(): Promise<RootlessUsers | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  return {
    subordinate: await ensureUser(ROOTLESS_USER, true),
    single: await ensureUser(SINGLE_ID_USER, false),
  };
}
