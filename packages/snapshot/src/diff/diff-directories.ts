import { createHash } from 'node:crypto';
import path from 'node:path/posix';
import { throwIfAborted } from '../errors.js';
import { type FileStat, type FileSystem, listDir, type Xattrs } from '../fs/file-system.js';
import { nodeFileSystem } from '../fs/node-file-system.js';
import { EntryMaker } from '../layer/entries-from-directory.js';
import type { LayerEntry } from '../layer/layer-entry.js';
import { WHITEOUT_PREFIX } from '../layer/whiteout.js';
import { layerXattrs } from '../layer/xattr-policy.js';

/**
 * Paths a RUN snapshot usually leaves out: kernel file systems and the files a container runtime
 * bind-mounts per run (Docker does not keep changes to them either). Pass them, plus kiln's own
 * directory and mounted secrets, as `ignore`.
 */
export const DEFAULT_IGNORED_PATHS: readonly string[] = [
  'proc',
  'sys',
  'dev',
  'run/secrets',
  'etc/hosts',
  'etc/hostname',
  'etc/resolv.conf',
  'etc/mtab',
];

/** Options of {@link recordTree}; the diff reuses them. */
export interface RecordTreeOptions {
  /** Default {@link nodeFileSystem}. */
  fs?: FileSystem;
  /**
   * Paths (relative to the root, POSIX) left out with everything below them: typically
   * `proc`, `sys`, `dev`, mounted secrets, `etc/resolv.conf`, kiln's own directory.
   */
  ignore?: readonly string[];
  /** Also leave out a path when this returns true. */
  ignoreIf?: (relPath: string, stat: FileStat) => boolean;
  /** Skip directories on another device than the root (mount points). Default true. */
  sameDevice?: boolean;
  signal?: AbortSignal;
}

/** What was recorded about one path. */
interface Recorded
  extends Pick<FileStat, 'kind' | 'mode' | 'uid' | 'gid' | 'size' | 'mtimeMs' | 'ctimeMs' | 'ino'> {
  /** rdevMajor and rdevMinor in one number. */
  rdev: number;
  linkname?: string;
  /** Content hash, only for files modified so recently that a later change could keep the same mtime. */
  hash?: string;
  /** The number of the diff that last saw this path (cheaper than a set of 100,000 strings). */
  seenBy?: number;
}

let diffCounter = 0;

/** TreeRecord: a tree's recorded state, to compare later with {@link diffDirectories}. */
export interface TreeRecord {
  root: string;
  options: RecordTreeOptions;
  /** Relative path → recorded metadata. */
  paths: Map<string, Recorded>;
  /** When recording started (ms). */
  startedMs: number;
}

/** TreeDiff: what changed under a root since it was recorded. */
export interface TreeDiff {
  /** Paths that did not exist before (sorted). */
  added: string[];
  /** Paths whose type, mode, owner, size, mtime, ctime, inode, link target or content changed (sorted). */
  changed: string[];
  /** Paths that are gone; a path under a deleted directory is not listed separately (sorted). */
  deleted: string[];
  /** The layer: added and changed objects plus `.wh.` whiteouts for deletions, ready for `createLayer`. */
  entries: LayerEntry[];
}

// Files whose mtime is this close to the recording time may change again within the file
// system's timestamp granularity without their mtime moving ("racy" files, as git calls them):
// their content is hashed when recorded. 2 s covers FAT-like and 1 s granularities.
const RACY_WINDOW_MS = 2000;

async function hashFile(fs: FileSystem, p: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of fs.createReadStream(p)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** Walks the tree, calling `visit` for every kept path; directories' children are listed in parallel. */
async function walk(
  root: string,
  options: RecordTreeOptions,
  visit: (rel: string, host: string, st: FileStat) => Promise<void> | undefined,
): Promise<void> {
  const fs = options.fs ?? nodeFileSystem;
  const ignore = new Set((options.ignore ?? []).map((p) => p.replace(/^\/+|\/+$/g, '')));
  const rootStat = await fs.lstat(root);
  const sameDevice = options.sameDevice !== false;
  const dirs: [string, string][] = [[root, '']];
  // Breadth-first with a few directories in flight at once: lstat dominates and the thread
  // pool overlaps it.
  const inFlight = new Set<Promise<void>>();
  const doDir = async (host: string, rel: string) => {
    throwIfAborted(options.signal);
    const list = await listDir(fs, host);
    for (let i = 0; i < list.length; i++) {
      const name = list[i]!.name;
      const r = rel ? `${rel}/${name}` : name;
      if (ignore.has(r)) continue;
      const st = list[i]!.stat;
      if (options.ignoreIf?.(r, st)) continue;
      if (st.kind === 'dir' && sameDevice && st.dev !== rootStat.dev) continue;
      const h = `${host}/${name}`;
      const pending = visit(r, h, st);
      if (pending) await pending;
      if (st.kind === 'dir') dirs.push([h, r]);
    }
  };
  while (dirs.length > 0 || inFlight.size > 0) {
    while (dirs.length > 0 && inFlight.size < 8) {
      const [h, r] = dirs.shift()!;
      const p: Promise<void> = doDir(h, r).finally(() => inFlight.delete(p));
      inFlight.add(p);
    }
    if (inFlight.size > 0) await Promise.race(inFlight);
  }
}

function recordOf(st: FileStat): Recorded {
  return {
    kind: st.kind,
    mode: st.mode,
    uid: st.uid,
    gid: st.gid,
    size: st.size,
    mtimeMs: st.mtimeMs,
    ctimeMs: st.ctimeMs,
    ino: st.ino,
    rdev: st.rdevMajor * 2 ** 20 + st.rdevMinor,
  };
}

/**
 * recordTree: records the state of every path under `root` (type, mode, owner, size, mtime,
 * ctime, inode, device numbers, symlink targets) for a later {@link diffDirectories}. Contents
 * are hashed only for racy files (modified within 2 s of the recording).
 */
export async function recordTree(root: string, options: RecordTreeOptions = {}): Promise<TreeRecord> {
  const fs = options.fs ?? nodeFileSystem;
  const startedMs = Date.now();
  const paths = new Map<string, Recorded>();
  await walk(root, options, (rel, host, st) => {
    const r = recordOf(st);
    paths.set(rel, r);
    if (st.kind === 'symlink') {
      return fs.readlink(host).then((t) => {
        r.linkname = t;
      });
    }
    if (st.kind === 'file' && st.mtimeMs > startedMs - RACY_WINDOW_MS) {
      return hashFile(fs, host).then((h) => {
        r.hash = h;
      });
    }
  });
  return { root, options, paths, startedMs };
}

/**
 * diffDirectories: compares the tree now with a {@link TreeRecord} (kaniko-style snapshot) and
 * returns added, changed and deleted paths and the layer entries that express them. Metadata
 * decides (any difference in type, mode, owner, size, mtime, ctime — which no user-space call
 * can restore — inode, device or link target means changed); content is hashed only for racy
 * files whose metadata is identical. Entries carry the xattrs `keepXattr` keeps (read in one
 * batch through `FileSystem.readXattrs` when the file system has it). Cost: one lstat per path, plus
 * reading racy files.
 */
export async function diffDirectories(
  before: TreeRecord,
  options: { signal?: AbortSignal } = {},
): Promise<TreeDiff> {
  const recordOptions = { ...before.options, signal: options.signal ?? before.options.signal };
  const fs = recordOptions.fs ?? nodeFileSystem;
  const maker = new EntryMaker(fs);
  const added: string[] = [];
  const changed: string[] = [];
  const generation = ++diffCounter;
  const current = new Map<string, { host: string; st: FileStat }>();
  const check = async (rel: string, host: string, st: FileStat, old: Recorded) => {
    let differs = old.kind === 'symlink' && (await fs.readlink(host)) !== old.linkname;
    if (!differs && old.hash !== undefined) differs = (await hashFile(fs, host)) !== old.hash;
    if (differs) {
      changed.push(rel);
      current.set(rel, { host, st });
    }
  };
  await walk(before.root, recordOptions, (rel, host, st) => {
    const old = before.paths.get(rel);
    if (old) old.seenBy = generation;
    else {
      added.push(rel);
      current.set(rel, { host, st });
      return;
    }
    const differs =
      st.kind !== old.kind ||
      st.mode !== old.mode ||
      st.uid !== old.uid ||
      st.gid !== old.gid ||
      st.size !== old.size ||
      st.mtimeMs !== old.mtimeMs ||
      st.ctimeMs !== old.ctimeMs ||
      st.ino !== old.ino ||
      st.rdevMajor * 2 ** 20 + st.rdevMinor !== old.rdev;
    if (differs) {
      changed.push(rel);
      current.set(rel, { host, st });
      return;
    }
    // Metadata cannot decide only for symlinks (target) and racy files (content).
    if (old.kind === 'symlink' || old.hash !== undefined) return check(rel, host, st, old);
  });
  const deleted: string[] = [];
  const seen = (rel: string) => before.paths.get(rel)?.seenBy === generation || current.has(rel);
  for (const [rel, r] of before.paths) {
    if (r.seenBy === generation) continue;
    const parent = path.dirname(rel);
    // Under a deleted directory, or one replaced by a non-directory: the parent's entry covers it.
    const parentKind = current.get(parent)?.st.kind ?? before.paths.get(parent)?.kind;
    if (parent !== '.' && !(seen(parent) && parentKind === 'dir')) continue;
    deleted.push(rel);
  }
  added.sort();
  changed.sort();
  deleted.sort();
  const entries: LayerEntry[] = [];
  const kept = [...added, ...changed].sort();
  // Extended attributes of what goes into the layer, in one batch: an xattr change alone (setcap) moves
  // the ctime, so such a file is already among the changed ones.
  const xattrs = fs.readXattrs
    ? await fs.readXattrs(kept.map((rel) => current.get(rel)!.host))
    : new Map<string, Xattrs>();
  for (const rel of kept) {
    const { host, st } = current.get(rel)!;
    const e = await maker.make(host, rel, st, layerXattrs(xattrs.get(host)));
    if (e) entries.push(e);
  }
  for (const rel of deleted) {
    const dir = path.dirname(rel);
    const wh = `${WHITEOUT_PREFIX}${path.basename(rel)}`;
    entries.push({
      path: dir === '.' ? wh : `${dir}/${wh}`,
      type: 'file',
      mode: 0o644,
      uid: 0,
      gid: 0,
      size: 0,
      mtime: 0,
    });
  }
  return { added, changed, deleted, entries };
}
