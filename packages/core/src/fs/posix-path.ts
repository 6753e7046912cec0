import path from 'node:path/posix';

/**
 * Cleans an image path to the relative form used in layers and indexes: no leading `/`,
 * no `.` or `..` segments (a `..` at the root stays at the root, as inside a chroot), `''` for the root.
 */
export function toImagePath(p: string): string {
  const n = path.normalize(`/${p}`);
  return n === '/' ? '' : n.slice(1).replace(/\/+$/, '');
}

/** Joins a (possibly relative) path onto a working directory and returns the absolute, cleaned form. */
export function resolveAgainst(workdir: string, p: string): string {
  return path.resolve('/', workdir || '/', p);
}

/** The parent of a cleaned relative image path (`''` for top-level entries). */
export function parentOf(p: string): string {
  const i = p.lastIndexOf('/');
  return i < 0 ? '' : p.slice(0, i);
}

/** The last segment of a path. */
export function baseName(p: string): string {
  return path.basename(p);
}

/** All ancestors of a cleaned relative path, shortest first (`a/b/c` → `a`, `a/b`). */
export function ancestors(p: string): string[] {
  const out: string[] = [];
  let i = p.indexOf('/');
  while (i >= 0) {
    out.push(p.slice(0, i));
    i = p.indexOf('/', i + 1);
  }
  return out;
}
