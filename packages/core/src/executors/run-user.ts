import { KilnError } from '../errors.js';
import { parseGroup, parsePasswd } from '../fs/users.js';

/** The ids a RUN command runs with. */
export interface RunIdentity {
  uid: number;
  gid: number;
  /** Supplementary groups (may be empty; the primary gid is not repeated here). */
  groups: number[];
}

/** Reads a file of the image (`/etc/passwd`, `/etc/group`); `undefined` when it does not exist. */
export type ImageFileReader = (file: '/etc/passwd' | '/etc/group') => Promise<string | undefined>;

const isId = (s: string) => /^[0-9]+$/.test(s);

/** A user or group given as a number, or the literal `root` (0), which BuildKit's fast path accepts too. */
const numeric = (s: string) => (s === 'root' ? 0 : isId(s) ? Number(s) : undefined);

/**
 * resolveRunUser turns a Dockerfile `USER` value into ids the way the oracle (Docker 20.10's BuildKit, runc's
 * user lookup) does. Observed there with `id` and /proc/self/status `Groups:`: `''` → 0:0 and no groups;
 * `root` → 0:0 plus the groups listing root; `4242` (no passwd entry) → 4242:0, no groups; `app` → its passwd
 * gid plus the groups listing `app` (the primary gid not repeated); `1000:50` → 1000:50, no groups.
 * - `''`, and `uid:gid` with both numeric (or `root`), are taken as is without reading the image;
 * - a user name is looked up in the image's `/etc/passwd` (unknown → `KILN_UNKNOWN_USER`); a numeric user is
 *   looked up by uid and, when absent, used as is with gid 0;
 * - without a group, the gid is the passwd entry's and the supplementary groups are every `/etc/group` entry
 *   listing the user's name; with a group (name → `/etc/group`, unknown → `KILN_UNKNOWN_GROUP`; or a number),
 *   that group is the gid and there are no supplementary groups.
 */
export async function resolveRunUser(user: string, read: ImageFileReader): Promise<RunIdentity> {
  if (user === '') return { uid: 0, gid: 0, groups: [] };
  const { uid, gid, sgids } = await lookup(user, read);
  return { uid, gid, groups: [...new Set(sgids)] };
}

async function lookup(
  user: string,
  read: ImageFileReader,
): Promise<{ uid: number; gid: number; sgids: number[] }> {
  const colon = user.indexOf(':');
  const name = colon < 0 ? user : user.slice(0, colon);
  const group = colon < 0 ? undefined : user.slice(colon + 1);
  if (name === '') throw new KilnError('KILN_BAD_USER', `invalid USER "${user}": the user part is empty`);
  const fastUid = numeric(name);
  const fastGid = group === undefined ? undefined : numeric(group);
  if (fastUid !== undefined && fastGid !== undefined) return { uid: fastUid, gid: fastGid, sgids: [] };
  const passwd = parsePasswd((await read('/etc/passwd')) ?? '');
  const entry = isId(name) ? passwd.find((e) => e.uid === Number(name)) : passwd.find((e) => e.name === name);
  if (!entry && !isId(name))
    throw new KilnError(
      'KILN_UNKNOWN_USER',
      `unable to find user ${name}: no matching entries in the image's /etc/passwd`,
    );
  const uid = entry?.uid ?? Number(name);
  if (group !== undefined && group !== '') {
    if (isId(group)) return { uid, gid: Number(group), sgids: [] };
    const g = parseGroup((await read('/etc/group')) ?? '').find((e) => e.name === group);
    if (!g)
      throw new KilnError(
        'KILN_UNKNOWN_GROUP',
        `unable to find group ${group}: no matching entries in the image's /etc/group`,
      );
    return { uid, gid: g.gid, sgids: [] };
  }
  if (!entry) return { uid, gid: 0, sgids: [] };
  const sgids = parseGroup((await read('/etc/group')) ?? '')
    .filter((g) => g.members.includes(entry.name))
    .map((g) => g.gid);
  return { uid, gid: entry.gid, sgids };
}

/**
 * runHome is the `HOME` a RUN gets when its environment has none, as runc sets it for BuildKit: the home of
 * the first `/etc/passwd` entry with the process's uid, else `/`. (Observed with the oracle: root → `/root`,
 * a user whose passwd home is `/` → `/`.) The executors never add it themselves: the caller owns the env.
 */
export async function runHome(uid: number, read: ImageFileReader): Promise<string> {
  const entry = parsePasswd((await read('/etc/passwd')) ?? '').find((e) => e.uid === uid);
  return entry?.home || '/';
}
