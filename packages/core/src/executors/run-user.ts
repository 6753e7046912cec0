import { KilnError } from '../errors.js';
import { parseGroup, parsePasswd } from '../fs/users.js';

/** The ids a RUN command runs with. */
export interface RunIdentity {
  uid: number;
  gid: number;
  /** Supplementary groups (may be empty). */
  groups: number[];
}

/** Reads a file of the image (`/etc/passwd`, `/etc/group`); `undefined` when it does not exist. */
export type ImageFileReader = (file: '/etc/passwd' | '/etc/group') => Promise<string | undefined>;

const isId = (s: string) => /^[0-9]+$/.test(s);

/**
 * resolveRunUser turns a Dockerfile `USER` value into ids the way runc's user lookup (used by BuildKit) does:
 * - `''` is root (0:0) with no supplementary groups, and the image's files are not read;
 * - a user name is looked up in the image's `/etc/passwd` (unknown → `KILN_UNKNOWN_USER`); a numeric user is
 *   looked up by uid and, when absent, used as is with gid 0;
 * - without a group, the gid is the passwd entry's and the supplementary groups are every `/etc/group` entry
 *   listing the user's name; with a group (name → `/etc/group`, unknown → `KILN_UNKNOWN_GROUP`; or a number),
 *   that group is the gid and there are no supplementary groups.
 */
export async function resolveRunUser(user: string, read: ImageFileReader): Promise<RunIdentity> {
  if (user === '') return { uid: 0, gid: 0, groups: [] };
  const colon = user.indexOf(':');
  const name = colon < 0 ? user : user.slice(0, colon);
  const group = colon < 0 ? undefined : user.slice(colon + 1);
  if (name === '') throw new KilnError('KILN_BAD_USER', `invalid USER "${user}": the user part is empty`);
  if (isId(name) && group !== undefined && isId(group))
    return { uid: Number(name), gid: Number(group), groups: [] };
  const passwd = parsePasswd((await read('/etc/passwd')) ?? '');
  const entry = isId(name) ? passwd.find((e) => e.uid === Number(name)) : passwd.find((e) => e.name === name);
  if (!entry && !isId(name))
    throw new KilnError(
      'KILN_UNKNOWN_USER',
      `unable to find user ${name}: no matching entries in the image's /etc/passwd`,
    );
  const uid = entry?.uid ?? Number(name);
  if (group !== undefined && group !== '') {
    if (isId(group)) return { uid, gid: Number(group), groups: [] };
    const g = parseGroup((await read('/etc/group')) ?? '').find((e) => e.name === group);
    if (!g)
      throw new KilnError(
        'KILN_UNKNOWN_GROUP',
        `unable to find group ${group}: no matching entries in the image's /etc/group`,
      );
    return { uid, gid: g.gid, groups: [] };
  }
  if (!entry) return { uid, gid: 0, groups: [] };
  const groups = parseGroup((await read('/etc/group')) ?? '')
    .filter((g) => g.members.includes(entry.name))
    .map((g) => g.gid);
  return { uid, gid: entry.gid, groups: [...new Set(groups)] };
}
