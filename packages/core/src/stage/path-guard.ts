import { lstat, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { Writable } from 'node:stream';
import { type FileSystem, nodeFileSystem } from '@kiln/snapshot';

/**
 * PathGuard: a set of protected absolute paths (with everything below them) and their ancestors, the
 * "keepers": directories that must stay directories because something protected lives inside.
 */
export class PathGuard {
  readonly #paths: Set<string>;
  readonly #keepers = new Set<string>();

  /** `paths` are protected; `existing` (a subset) also make their ancestors keepers. */
  constructor(paths: Iterable<string>, existing: Iterable<string> = paths) {
    this.#paths = new Set(paths);
    for (const p of existing)
      for (let dir = path.dirname(p); ; dir = path.dirname(dir)) {
        this.#keepers.add(dir);
        if (dir === path.dirname(dir)) break;
      }
  }

  /** `p` is a protected path or below one. */
  covers(p: string): boolean {
    for (let cur = p; ; cur = path.dirname(cur)) {
      if (this.#paths.has(cur)) return true;
      if (cur === path.dirname(cur)) return false;
    }
  }

  /** `p` is a directory holding something protected (`/` always is, when anything is protected). */
  holds(p: string): boolean {
    return this.#keepers.has(p);
  }

  /** Paths relative to `root` of the protected paths inside it (for snapshot ignore lists). */
  relativeTo(root: string): string[] {
    const out: string[] = [];
    for (const p of this.#paths) {
      const rel = path.relative(root, p);
      if (rel && !rel.startsWith('..') && !path.isAbsolute(rel)) out.push(rel.split(path.sep).join('/'));
    }
    return out.sort();
  }
}

/**
 * Deletes everything inside the directory `dir` except what `guard` protects: a directory that holds
 * something protected is emptied of the rest, recursively; anything on another file system than `dev` is
 * never entered or deleted.
 */
export async function prune(dir: string, guard: PathGuard, dev: number): Promise<void> {
  for (const name of await readdir(dir)) {
    const p = path.join(dir, name);
    if (guard.covers(p)) continue;
    const st = await lstat(p).catch(() => undefined);
    if (!st || st.dev !== dev) continue;
    if (st.isDirectory() && guard.holds(p)) await prune(p, guard, dev);
    else await rm(p, { recursive: true, force: true });
  }
}

/**
 * A {@link FileSystem} for extracting a layer over a root that holds protected paths: creations, metadata
 * changes and removals at or below a protected path do nothing; removing a directory that holds protected
 * paths empties it of everything else instead, and replacing it (by a file or a symlink) does nothing more,
 * so the directory stays what it is. Everything else goes to `base`. One instance per extraction.
 */
export function guardedFileSystem(
  guard: PathGuard,
  dev: number,
  base: FileSystem = nodeFileSystem,
): FileSystem {
  /** Paths whose creation was skipped: later metadata calls for them are skipped too. */
  const skipped = new Set<string>();
  const blocked = (p: string) => guard.covers(p) || guard.holds(p);
  const skip = (p: string) => {
    skipped.add(p);
  };
  const untouchable = (p: string) => guard.covers(p) || skipped.has(p);
  const fs: FileSystem = {
    lstat: (p) => base.lstat(p),
    readdir: (p) => base.readdir(p),
    readlink: (p) => base.readlink(p),
    readFile: (p) => base.readFile(p),
    createReadStream: (p) => base.createReadStream(p),
    createWriteStream(p, options) {
      if (!blocked(p)) return base.createWriteStream(p, options);
      skip(p);
      return new Writable({ write: (_c, _e, cb) => cb() });
    },
    async writeFile(p, data, options) {
      if (blocked(p)) return skip(p);
      return base.writeFile(p, data, options);
    },
    async mkdir(p, options) {
      if (blocked(p)) return skip(p);
      return base.mkdir(p, options);
    },
    async symlink(target, p) {
      if (blocked(p)) return skip(p);
      return base.symlink(target, p);
    },
    async link(existing, p) {
      if (blocked(p) || guard.covers(existing)) return skip(p);
      return base.link(existing, p);
    },
    async chmod(p, mode) {
      if (!untouchable(p)) return base.chmod(p, mode);
    },
    async lchown(p, uid, gid) {
      if (!untouchable(p)) return base.lchown(p, uid, gid);
    },
    async lutimes(p, a, m) {
      if (!untouchable(p)) return base.lutimes(p, a, m);
    },
    async rm(p, options) {
      if (guard.covers(p)) return;
      if (guard.holds(p)) {
        const st = await base.lstat(p).catch(() => undefined);
        if (st?.kind === 'dir') return prune(p, guard, dev);
      }
      return base.rm(p, options);
    },
    async rename(from, to) {
      if (blocked(from) || blocked(to))
        throw Object.assign(new Error(`EPERM: rename '${from}'`), { code: 'EPERM' });
      return base.rename(from, to);
    },
  };
  if (base.listDir) fs.listDir = (p) => base.listDir!(p);
  if (base.readXattrs) fs.readXattrs = (ps) => base.readXattrs!(ps);
  if (base.createFile)
    fs.createFile = async (p, data, meta) => {
      if (blocked(p)) return skip(p);
      return base.createFile!(p, data, meta);
    };
  if (base.mknod)
    fs.mknod = async (p, kind, mode, major, minor) => {
      if (blocked(p)) return skip(p);
      return base.mknod!(p, kind, mode, major, minor);
    };
  if (base.setXattrs)
    fs.setXattrs = async (p, kind, x) => {
      if (!untouchable(p)) return base.setXattrs!(p, kind, x);
    };
  return fs;
}
