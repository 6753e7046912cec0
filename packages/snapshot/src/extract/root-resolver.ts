import path from 'node:path/posix';
import { SnapshotError } from '../errors.js';
import { type FileStat, type FileSystem, isFsError } from '../fs/file-system.js';

/** Linux's limit on symlinks followed while resolving one path (MAXSYMLINKS). */
export const MAX_SYMLINKS = 40;

/** The error for a path whose resolution meets more than {@link MAX_SYMLINKS} symlinks. */
export function symlinkLoop(entry: string): SnapshotError {
  return new SnapshotError('KILN_SYMLINK_LOOP', `more than ${MAX_SYMLINKS} symlinks while resolving a path`, {
    entry,
  });
}

/**
 * Splits a layer path into clean components. A leading `/` or `./` is dropped (the path is
 * relative to the image root, as GNU tar and containerd treat it); `..` components are
 * rejected because no legitimate layer needs them and they are the classic escape.
 */
export function layerPathComponents(name: string, what = 'path'): string[] {
  const parts = name.split('/').filter((s) => s !== '' && s !== '.');
  if (parts.includes('..')) {
    throw new SnapshotError('KILN_PATH_ESCAPE', `${what} contains ".." and could leave the root`, {
      entry: name,
    });
  }
  return parts;
}

/**
 * RootResolver: resolves paths inside a root directory the way the kernel would after
 * `chroot(root)`: symlinks met in directory components are followed, absolute targets restart
 * at the root, `..` never climbs above the root. Only the host paths it returns are ever used,
 * so nothing outside the root is read or written. Missing directories are created on request.
 * Resolved directories are cached; call {@link invalidate} after removing or replacing anything.
 */
export class RootResolver {
  private readonly cache = new Map<string, string[]>();
  /** Directories this resolver created (their content is known to be empty before this run). */
  readonly created = new Set<string>();

  constructor(
    private readonly fs: FileSystem,
    readonly root: string,
  ) {}

  /** The host path of root-relative components. */
  host(components: readonly string[]): string {
    return components.length === 0 ? this.root : path.join(this.root, ...components);
  }

  /** Forgets every cached resolution (after a removal or replacement that may change them). */
  invalidate(): void {
    this.cache.clear();
  }

  private async lstat(components: readonly string[]): Promise<FileStat | undefined> {
    try {
      return await this.fs.lstat(this.host(components));
    } catch (e) {
      if (isFsError(e, 'ENOENT')) return undefined;
      throw e;
    }
  }

  /**
   * Resolves directory components to real root-relative components with no symlink left in
   * them. With `create`, missing directories are made (mode 0755, like tar's implicit parents);
   * without, a missing component resolves to undefined. A non-directory in the way is an error.
   */
  async resolveDir(
    components: readonly string[],
    entry: string,
    create: boolean,
  ): Promise<string[] | undefined> {
    const key = components.join('/');
    const hit = this.cache.get(key);
    if (hit) return hit;
    const queue = [...components];
    const cur: string[] = [];
    let links = 0;
    while (queue.length > 0) {
      const part = queue.shift()!;
      if (part === '.' || part === '') continue;
      if (part === '..') {
        cur.pop();
        continue;
      }
      cur.push(part);
      const cached = this.cache.get(cur.join('/'));
      if (cached && queue.length > 0) {
        cur.splice(0, cur.length, ...cached);
        continue;
      }
      const st = await this.lstat(cur);
      if (!st) {
        if (!create) return undefined;
        await this.fs.mkdir(this.host(cur), { mode: 0o755 });
        this.created.add(cur.join('/'));
        continue;
      }
      if (st.kind === 'dir') continue;
      if (st.kind !== 'symlink') {
        throw new SnapshotError('KILN_ENTRY_INVALID', `/${cur.join('/')} is a ${st.kind}, not a directory`, {
          entry,
        });
      }
      if (++links > MAX_SYMLINKS) {
        throw symlinkLoop(entry);
      }
      const target = await this.fs.readlink(this.host(cur));
      cur.pop();
      if (target.startsWith('/')) cur.length = 0;
      queue.unshift(...target.split('/'));
    }
    this.cache.set(key, [...cur]);
    return cur;
  }

  /**
   * Resolves a full path, following a final symlink too when `followFinal` (as open(2) does).
   * Returns the real components and their lstat, or undefined when something is missing.
   */
  async resolve(
    components: readonly string[],
    entry: string,
    followFinal: boolean,
  ): Promise<{ components: string[]; stat: FileStat | undefined } | undefined> {
    let parts = [...components];
    for (let links = 0; ; ) {
      if (parts.length === 0) return { components: [], stat: await this.lstat([]) };
      const dir = await this.resolveDir(parts.slice(0, -1), entry, false);
      if (!dir) return undefined;
      const full = [...dir, parts[parts.length - 1]!];
      const stat = await this.lstat(full);
      if (!followFinal || stat?.kind !== 'symlink') return { components: full, stat };
      if (++links > MAX_SYMLINKS) {
        throw symlinkLoop(entry);
      }
      const target = await this.fs.readlink(this.host(full));
      parts = target.startsWith('/') ? target.split('/') : [...dir, ...target.split('/')];
      parts = normalizeComponents(parts);
    }
  }
}

/** Applies `.` and `..` lexically with `..` clamped at the root. */
export function normalizeComponents(parts: readonly string[]): string[] {
  const out: string[] = [];
  for (const p of parts) {
    if (p === '' || p === '.') continue;
    if (p === '..') out.pop();
    else out.push(p);
  }
  return out;
}
