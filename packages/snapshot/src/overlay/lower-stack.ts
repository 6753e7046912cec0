import path from 'node:path/posix';
import { throwIfAborted } from '../errors.js';
import { type FileStat, type FileSystem, listDir } from '../fs/file-system.js';
import { nodeFileSystem } from '../fs/node-file-system.js';

/** One read-only layer under an overlay's upper dir. */
export interface OverlayLower {
  /** The layer's directory. */
  dir: string;
  /**
   * Its directories marked opaque (relative paths): they hide what the layers below hold at the same
   * path. For an earlier upper dir that is its {@link OverlayChanges.opaque} (or
   * {@link opaqueDirectories}); `[]` for a plain tree such as an unpacked base image.
   */
  opaque: readonly string[];
}

/** Which xattr namespace an overlay keeps its own attributes in: `trusted` (root) or `user` (`userxattr`). */
export type OverlayXattrNamespace = 'trusted' | 'user';

/** The xattr names that mark a directory opaque, for mounts of namespace `ns` (both when unknown). */
export function opaqueKeys(ns?: OverlayXattrNamespace): string[] {
  return ns ? [`${ns}.overlay.opaque`] : ['trusted.overlay.opaque', 'user.overlay.opaque'];
}

/** overlayfs(5): a whiteout is a character device with device number 0:0. */
export function isWhiteout(st: FileStat): boolean {
  return st.kind === 'char' && st.rdevMajor === 0 && st.rdevMinor === 0;
}

/**
 * opaqueDirectories: the directories of an overlay upper dir (or of any layer directory) marked opaque,
 * sorted. Walks every directory of `dir` and reads their xattrs in one batch: meant for small upper dirs
 * (what a COPY wrote between two RUNs), never for a whole image.
 */
export async function opaqueDirectories(
  dir: string,
  options: { fs?: FileSystem; xattrNamespace?: OverlayXattrNamespace; signal?: AbortSignal } = {},
): Promise<string[]> {
  const fs = options.fs ?? nodeFileSystem;
  const dirs: { rel: string; host: string }[] = [];
  const walk = async (host: string, rel: string): Promise<void> => {
    throwIfAborted(options.signal);
    const sub: Promise<void>[] = [];
    for (const { name, stat } of await listDir(fs, host)) {
      if (stat.kind !== 'dir') continue;
      const r = rel ? `${rel}/${name}` : name;
      dirs.push({ rel: r, host: `${host}/${name}` });
      sub.push(walk(`${host}/${name}`, r));
    }
    await Promise.all(sub);
  };
  await walk(dir, '');
  if (dirs.length === 0 || !fs.readXattrs) return [];
  const xattrs = await fs.readXattrs(dirs.map((d) => d.host));
  const keys = opaqueKeys(options.xattrNamespace);
  return dirs
    .filter((d) => {
      const x = xattrs.get(d.host);
      return x !== undefined && keys.some((k) => x[k]?.toString() === 'y');
    })
    .map((d) => d.rel)
    .sort();
}

/** What one layer holds at a path: an object, nothing (`null`), or a deletion of it and all below (`'gone'`). */
type Probe = FileStat | null | 'gone';

/**
 * LowerStack answers "what did the merged view show at this path before the upper dir was written?" from
 * the lower layers alone, in O(depth × layers) lstat calls per path (memoized), without mounting anything:
 * a layer's whiteout or non-directory ancestor hides the path in every layer below, and so does an opaque
 * ancestor. Paths are checked one component at a time with lstat, so a symlink inside a layer is never
 * followed.
 */
export class LowerStack {
  readonly #fs: FileSystem;
  readonly #layers: { dir: string; opaque: Set<string> }[];
  readonly #memo = new Map<string, Promise<Probe>>();

  constructor(fs: FileSystem, lowers: readonly OverlayLower[]) {
    this.#fs = fs;
    this.#layers = lowers.map((l) => ({ dir: l.dir, opaque: new Set(l.opaque) }));
  }

  /** The object the lowers show at `rel` (and its host path), or undefined when they show none. */
  async lookup(rel: string): Promise<{ st: FileStat; host: string } | undefined> {
    for (let i = 0; i < this.#layers.length; i++) {
      const p = await this.#probe(i, rel);
      if (p === 'gone') return undefined;
      if (p) return { st: p, host: `${this.#layers[i]!.dir}/${rel}` };
      if (this.#hiddenBelow(i, rel)) return undefined;
    }
    return undefined;
  }

  /** The names the lowers show in directory `rel` (which they must show as a directory). */
  async children(rel: string): Promise<string[]> {
    const seen = new Map<string, boolean>();
    for (let i = 0; i < this.#layers.length; i++) {
      const layer = this.#layers[i]!;
      const p = await this.#probe(i, rel);
      if (p === 'gone') break;
      if (p === null) {
        if (this.#hiddenBelow(i, rel)) break;
        continue;
      }
      if (p.kind !== 'dir') break;
      for (const { name, stat } of await listDir(this.#fs, rel ? `${layer.dir}/${rel}` : layer.dir)) {
        if (!seen.has(name)) seen.set(name, !isWhiteout(stat));
      }
      if (layer.opaque.has(rel) || this.#hiddenBelow(i, rel)) break;
    }
    return [...seen].filter(([, present]) => present).map(([name]) => name);
  }

  /** Whether an opaque directory of layer `i` above `rel` hides what the layers below hold at `rel`. */
  #hiddenBelow(i: number, rel: string): boolean {
    const opaque = this.#layers[i]!.opaque;
    if (opaque.size === 0) return false;
    for (let d = path.dirname(rel); d !== '.'; d = path.dirname(d)) if (opaque.has(d)) return true;
    return false;
  }

  #probe(i: number, rel: string): Promise<Probe> {
    const key = `${i}\0${rel}`;
    let p = this.#memo.get(key);
    if (!p) {
      p = this.#probeUncached(i, rel);
      this.#memo.set(key, p);
    }
    return p;
  }

  async #probeUncached(i: number, rel: string): Promise<Probe> {
    const parent = path.dirname(rel);
    if (parent !== '.') {
      const up = await this.#probe(i, parent);
      if (up === null) return null;
      if (up === 'gone' || up.kind !== 'dir') return 'gone';
    }
    const st = await this.#fs.lstat(`${this.#layers[i]!.dir}/${rel}`).catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return null;
      throw e;
    });
    return st && isWhiteout(st) ? 'gone' : st;
  }
}
