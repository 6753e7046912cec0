import { KilnError } from '../errors.js';

/** One line of `/etc/passwd`. */
export interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

/** One line of `/etc/group`. */
export interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

/** Parses `/etc/passwd` text; malformed lines are skipped, as libc does. */
export function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const f = line.split(':');
    if (f.length < 4) continue;
    const uid = Number(f[2]);
    const gid = Number(f[3]);
    if (!Number.isInteger(uid) || !Number.isInteger(gid)) continue;
    out.push({ name: f[0]!, uid, gid, home: f[5] ?? '' });
  }
  return out;
}

/** Parses `/etc/group` text; malformed lines are skipped. */
export function parseGroup(text: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const f = line.split(':');
    if (f.length < 3) continue;
    const gid = Number(f[2]);
    if (!Number.isInteger(gid)) continue;
    out.push({ name: f[0]!, gid, members: (f[3] ?? '').split(',').filter(Boolean) });
  }
  return out;
}

/** Where user and group names are looked up: the stage's own `/etc/passwd` and `/etc/group`, read on demand. */
export interface UserDatabase {
  passwd(): Promise<string | undefined>;
  group(): Promise<string | undefined>;
}

const isId = (s: string) => /^[0-9]+$/.test(s);

/**
 * Resolves a `--chown` value (`user`, `user:group`, ids or names) to numeric ids as BuildKit does: names come
 * from the image's own files; see the comment inside for the group of a user given alone.
 */
export async function resolveChown(spec: string, db: UserDatabase): Promise<{ uid: number; gid: number }> {
  const [user = '', group] = spec.split(':', 2);
  if (user === '')
    throw new KilnError('KILN_BAD_CHOWN', `invalid --chown value "${spec}": the user is empty`);
  let uid: number;
  // Observed with BuildKit: a numeric user without a group uses the uid as the gid; a user *name* without a
  // group uses that user's primary group from /etc/passwd.
  let primaryGid: number | undefined;
  if (isId(user)) uid = Number(user);
  else {
    const entry = parsePasswd((await db.passwd()) ?? '').find((e) => e.name === user);
    if (!entry)
      throw new KilnError(
        'KILN_UNKNOWN_USER',
        `unable to find user ${user}: no matching entries in the image's /etc/passwd`,
      );
    uid = entry.uid;
    primaryGid = entry.gid;
  }
  if (group === undefined || group === '') return { uid, gid: primaryGid ?? uid };
  if (isId(group)) return { uid, gid: Number(group) };
  const g = parseGroup((await db.group()) ?? '').find((e) => e.name === group);
  if (!g)
    throw new KilnError(
      'KILN_UNKNOWN_GROUP',
      `unable to find group ${group}: no matching entries in the image's /etc/group`,
    );
  return { uid, gid: g.gid };
}
