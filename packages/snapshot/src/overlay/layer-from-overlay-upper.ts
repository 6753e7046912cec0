import { createHash } from 'node:crypto';
import path from 'node:path/posix';
import { SnapshotError, throwIfAborted } from '../errors.js';
import { type FileStat, type FileSystem, listDir, type Xattrs } from '../fs/file-system.js';
import { nodeFileSystem } from '../fs/node-file-system.js';
import { EntryMaker } from '../layer/entries-from-directory.js';
import type { LayerEntry } from '../layer/layer-entry.js';
import { OPAQUE_WHITEOUT, WHITEOUT_PREFIX } from '../layer/whiteout.js';
import { layerXattrs } from '../layer/xattr-policy.js';
import {
  isWhiteout,
  LowerStack,
  type OverlayLower,
  type OverlayXattrNamespace,
  opaqueKeys,
} from './lower-stack.js';

/** Options of {@link layerFromOverlayUpper}. */
export interface OverlayUpperOptions {
  /** Default {@link nodeFileSystem}. */
  fs?: FileSystem;
  /** Paths (relative to the upper dir) left out with everything below them (`proc`, `run/secrets`, …). */
  ignore?: readonly string[];
  /**
   * The mount's lower layers, topmost first. With them the result is what {@link diffDirectories} reports
   * for the same change on a plain tree (see {@link layerFromOverlayUpper}); without them it is the upper
   * dir as it stands.
   */
  lowers?: readonly OverlayLower[];
  /** `user` when the overlay was mounted with `userxattr`, `trusted` otherwise. Default: both are recognised. */
  xattrNamespace?: OverlayXattrNamespace;
  signal?: AbortSignal;
}

/** OverlayChanges: the layer entries of an upper directory and what they mean. */
export interface OverlayChanges {
  /**
   * Entries for `createLayer`: copied-up and new objects, `.wh.` whiteouts, `.wh..wh..opq` markers (with
   * `lowers`: no markers, and whiteouts last, as {@link diffDirectories} orders them).
   */
  entries: LayerEntry[];
  /** Paths present in the upper dir (new or changed), sorted. */
  changed: string[];
  /** Paths deleted (overlay whiteouts; with `lowers`, also what an opaque directory hides), sorted. */
  deleted: string[];
  /** Directories of the upper dir marked opaque (replaced whole), sorted. */
  opaque: string[];
}

// overlayfs(5): a whiteout is a 0:0 character device; an opaque directory carries
// `trusted.overlay.opaque=y` (or `user.overlay.opaque=y` with the userxattr mount option);
// redirect and metacopy xattrs mean the object's data is still in a lower layer.
const ORIGIN_KEYS = ['trusted.overlay.origin', 'user.overlay.origin'];
const LOWER_DATA_KEYS = [
  'trusted.overlay.redirect',
  'user.overlay.redirect',
  'trusted.overlay.metacopy',
  'user.overlay.metacopy',
];

/** A whiteout entry for `rel`, as both conversions and {@link diffDirectories} write it. */
function whiteoutEntry(rel: string, mtime?: number): LayerEntry {
  const dir = path.dirname(rel);
  const e: LayerEntry = {
    path: `${dir === '.' ? '' : `${dir}/`}${WHITEOUT_PREFIX}${path.basename(rel)}`,
    type: 'file',
    mode: 0o644,
    uid: 0,
    gid: 0,
    size: 0,
  };
  if (mtime !== undefined) e.mtime = mtime;
  return e;
}

/** Kept xattrs (see `keepXattr`) equal on both sides. */
function sameKeptXattrs(a: Xattrs | undefined, b: Xattrs | undefined): boolean {
  const ka = layerXattrs(a) ?? {};
  const kb = layerXattrs(b) ?? {};
  const names = Object.keys(ka);
  return names.length === Object.keys(kb).length && names.every((n) => kb[n]?.equals(ka[n]!) === true);
}

/**
 * Whether a directory's metadata is unchanged for a layer: type, permissions, owner and mtime. Not its
 * ctime, size or inode: overlay's copy-up of a parent changes those, so do mount points made and removed
 * again around a command; none of it changes what the image holds.
 */
export function sameDirectory(
  a: Pick<FileStat, 'kind' | 'mode' | 'uid' | 'gid' | 'mtimeMs'>,
  b: Pick<FileStat, 'kind' | 'mode' | 'uid' | 'gid' | 'mtimeMs'>,
): boolean {
  return (
    a.kind === 'dir' &&
    b.kind === 'dir' &&
    a.mode === b.mode &&
    a.uid === b.uid &&
    a.gid === b.gid &&
    a.mtimeMs === b.mtimeMs
  );
}

/**
 * layerFromOverlayUpper: turns an overlayfs upper directory into layer entries in
 * O(changed files): the upper dir holds only what a RUN created, changed or deleted. Overlay
 * whiteouts (0:0 char devices) become `.wh.<name>` entries, opaque directories get a
 * `.wh..wh..opq` marker. Xattrs are read in one batch through the FileSystem's `readXattrs`;
 * entries carry those `keepXattr` keeps (security.capability, user.*), never overlay's own
 * (`trusted.overlay.*`, `user.overlay.*`). An upper dir written with `redirect_dir` or
 * `metacopy` (data left in lower layers) is rejected with `KILN_OVERLAY_UNSUPPORTED`:
 * mount with `redirect_dir=nofollow,metacopy=off`.
 *
 * Given the mount's `lowers`, the entries are those {@link diffDirectories} gives for the same
 * change made to a plain tree (dropping only directories whose ctime alone changed): a directory
 * the upper dir holds only because overlay copied it up (a parent of a changed file, unchanged
 * itself per {@link sameDirectory} and its kept xattrs) is left out; an opaque directory becomes a
 * whiteout for each name the lowers showed in it and the upper does not hold, recursively; a
 * whiteout of a name the lowers did not show is dropped; a regular file copied up but unchanged
 * (opened for writing, nothing written) is left out; whiteouts come last, with mtime 0. The
 * lower layers are read only at the paths the upper dir holds.
 */
export async function layerFromOverlayUpper(
  upperDir: string,
  options: OverlayUpperOptions = {},
): Promise<OverlayChanges> {
  const fs = options.fs ?? nodeFileSystem;
  const ignore = new Set((options.ignore ?? []).map((p) => p.replace(/^\/+|\/+$/g, '')));
  const found: Found[] = [];
  const walk = async (host: string, rel: string): Promise<void> => {
    throwIfAborted(options.signal);
    const subdirs: Promise<void>[] = [];
    for (const { name, stat } of await listDir(fs, host)) {
      const r = rel ? `${rel}/${name}` : name;
      if (ignore.has(r)) continue;
      const h = path.join(host, name);
      found.push({ rel: r, host: h, st: stat });
      if (stat.kind === 'dir') subdirs.push(walk(h, r));
    }
    await Promise.all(subdirs);
  };
  await walk(upperDir, '');
  found.sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));

  const dirs = found.filter((f) => f.st.kind === 'dir').map((f) => f.host);
  if (dirs.length > 0 && !fs.readXattrs) {
    throw new SnapshotError(
      'KILN_XATTR_UNAVAILABLE',
      'overlay conversion needs FileSystem.readXattrs to find opaque directories',
    );
  }
  // What the lowers showed at each directory and whiteout of the upper dir (lstat only, memoized).
  const stack = options.lowers ? new LowerStack(fs, options.lowers) : undefined;
  const prior = new Map<string, { st: FileStat; host: string } | undefined>();
  if (stack) {
    for (const f of found)
      if (f.st.kind === 'dir' || isWhiteout(f.st)) prior.set(f.rel, await stack.lookup(f.rel));
  }
  // Every object's xattrs in one batch: overlay's own say what is opaque or still in a lower layer; the
  // kept ones (file capabilities, user.*) go into the layer. With lowers, also those of the lower
  // directories that may turn out unchanged, to compare.
  const objects = found.filter((f) => !isWhiteout(f.st)).map((f) => f.host);
  const lowerDirs = found
    .map((f) => ({ f, p: prior.get(f.rel) }))
    .filter(({ f, p }) => p && sameDirectory(p.st, f.st))
    .map(({ p }) => p!.host);
  const batch = [...objects, ...lowerDirs];
  const xattrs: Map<string, Xattrs> =
    fs.readXattrs && batch.length > 0 ? await fs.readXattrs(batch) : new Map();

  const untouched = stack ? await untouchedCopies(fs, stack, found, xattrs) : new Set<string>();

  const maker = new EntryMaker(fs);
  const opaqueKey = opaqueKeys(options.xattrNamespace);
  const result: OverlayChanges = { entries: [], changed: [], deleted: [], opaque: [] };
  // With lowers: directories inside (or being) an opaque one, whose lower content the RUN could not see.
  const hidden = new Set<string>();
  const childrenOf = new Map<string, Set<string>>();
  if (stack)
    for (const { rel } of found) {
      const parent = path.dirname(rel);
      const names = childrenOf.get(parent) ?? new Set<string>();
      names.add(path.basename(rel));
      childrenOf.set(parent, names);
    }
  for (const { rel, host, st } of found) {
    if (isWhiteout(st)) {
      if (stack && !prior.get(rel)) continue;
      result.deleted.push(rel);
      if (!stack) result.entries.push(whiteoutEntry(rel));
      continue;
    }
    const x = xattrs.get(host) ?? {};
    const lower = LOWER_DATA_KEYS.find((k) => k in x);
    if (lower) {
      throw new SnapshotError(
        'KILN_OVERLAY_UNSUPPORTED',
        `upper dir entry has ${lower}: its data is in a lower layer`,
        {
          entry: rel,
        },
      );
    }
    const opaque = st.kind === 'dir' && opaqueKey.some((k) => x[k]?.toString() === 'y');
    if (opaque) result.opaque.push(rel);
    const before = prior.get(rel);
    if (stack && st.kind === 'dir') {
      if (opaque || hidden.has(path.dirname(rel))) {
        hidden.add(rel);
        // What the lowers had here is gone, except the names the upper dir holds again.
        if (before?.st.kind === 'dir') {
          const now = childrenOf.get(rel);
          for (const name of await stack.children(rel)) {
            const child = `${rel}/${name}`;
            if (!now?.has(name) && !ignore.has(child)) result.deleted.push(child);
          }
        }
      }
      if (before && sameDirectory(before.st, st) && sameKeptXattrs(x, xattrs.get(before.host))) continue;
    }
    if (untouched.has(rel)) continue;
    const entry = await maker.make(host, rel, st, layerXattrs(x));
    if (!entry) continue;
    result.changed.push(rel);
    result.entries.push(entry);
    if (opaque && !stack)
      result.entries.push({
        path: `${rel}/${OPAQUE_WHITEOUT}`,
        type: 'file',
        mode: 0o644,
        uid: 0,
        gid: 0,
        size: 0,
      });
  }
  if (stack) {
    result.deleted.sort();
    for (const rel of result.deleted) result.entries.push(whiteoutEntry(rel, 0));
  }
  return result;
}

/**
 * The regular files overlay copied up (they carry its `origin` xattr) but nobody changed: a program that
 * opens a file for writing and writes nothing (lckpwdf's `/etc/.pwd.lock`, under useradd) makes such a copy,
 * and a directory diff does not report it. Unchanged means the same permissions, owner, size, mtime, link
 * count, kept xattrs and bytes as what the lowers show at that path.
 */
async function untouchedCopies(
  fs: FileSystem,
  stack: LowerStack,
  found: Found[],
  xattrs: Map<string, Xattrs>,
): Promise<Set<string>> {
  const same: { rel: string; upper: string; lower: string }[] = [];
  for (const f of found) {
    const x = xattrs.get(f.host);
    if (f.st.kind !== 'file' || !x || !ORIGIN_KEYS.some((k) => k in x)) continue;
    const p = await stack.lookup(f.rel);
    const a = p?.st;
    const b = f.st;
    if (
      a?.kind === 'file' &&
      a.mode === b.mode &&
      a.uid === b.uid &&
      a.gid === b.gid &&
      a.size === b.size &&
      a.mtimeMs === b.mtimeMs &&
      a.nlink === b.nlink
    )
      same.push({ rel: f.rel, upper: f.host, lower: p!.host });
  }
  const result = new Set<string>();
  if (same.length === 0) return result;
  const lowerXattrs = fs.readXattrs ? await fs.readXattrs(same.map((s) => s.lower)) : new Map();
  for (const s of same) {
    if (!sameKeptXattrs(xattrs.get(s.upper), lowerXattrs.get(s.lower))) continue;
    const [a, b] = await Promise.all([contentDigest(fs, s.upper), contentDigest(fs, s.lower)]);
    if (a === b) result.add(s.rel);
  }
  return result;
}

async function contentDigest(fs: FileSystem, file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of fs.createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}

interface Found {
  rel: string;
  host: string;
  st: FileStat;
}
