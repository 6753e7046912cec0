import path from 'node:path/posix';
import { SnapshotError, throwIfAborted } from '../errors.js';
import { type FileStat, type FileSystem, listDir, type Xattrs } from '../fs/file-system.js';
import { nodeFileSystem } from '../fs/node-file-system.js';
import { EntryMaker } from '../layer/entries-from-directory.js';
import type { LayerEntry } from '../layer/layer-entry.js';
import { OPAQUE_WHITEOUT, WHITEOUT_PREFIX } from '../layer/whiteout.js';
import { layerXattrs } from '../layer/xattr-policy.js';

/** Options of {@link layerFromOverlayUpper}. */
export interface OverlayUpperOptions {
  /** Default {@link nodeFileSystem}. */
  fs?: FileSystem;
  /** Paths (relative to the upper dir) left out with everything below them (`proc`, `run/secrets`, …). */
  ignore?: readonly string[];
  signal?: AbortSignal;
}

/** OverlayChanges: the layer entries of an upper directory and what they mean. */
export interface OverlayChanges {
  /** Entries for `createLayer`: copied-up and new objects, `.wh.` whiteouts, `.wh..wh..opq` markers. */
  entries: LayerEntry[];
  /** Paths present in the upper dir (new or changed), sorted. */
  changed: string[];
  /** Paths deleted (overlay whiteouts), sorted. */
  deleted: string[];
  /** Directories made opaque (replaced whole), sorted. */
  opaque: string[];
}

// overlayfs(5): a whiteout is a 0:0 character device; an opaque directory carries
// `trusted.overlay.opaque=y` (or `user.overlay.opaque=y` with the userxattr mount option);
// redirect and metacopy xattrs mean the object's data is still in a lower layer.
const OPAQUE_KEYS = ['trusted.overlay.opaque', 'user.overlay.opaque'];
const LOWER_DATA_KEYS = [
  'trusted.overlay.redirect',
  'user.overlay.redirect',
  'trusted.overlay.metacopy',
  'user.overlay.metacopy',
];

function isWhiteout(st: FileStat): boolean {
  return st.kind === 'char' && st.rdevMajor === 0 && st.rdevMinor === 0;
}

/**
 * layerFromOverlayUpper: turns an overlayfs upper directory into layer entries in
 * O(changed files): the upper dir holds only what a RUN created, changed or deleted. Overlay
 * whiteouts (0:0 char devices) become `.wh.<name>` entries, opaque directories get a
 * `.wh..wh..opq` marker. Xattrs are read in one batch through the FileSystem's `readXattrs`;
 * entries carry those `keepXattr` keeps (security.capability, user.*), never overlay's own
 * (`trusted.overlay.*`, `user.overlay.*`). An upper dir written with `redirect_dir` or
 * `metacopy` (data left in lower layers) is rejected with `KILN_OVERLAY_UNSUPPORTED`:
 * mount with `redirect_dir=off,metacopy=off`.
 */
export async function layerFromOverlayUpper(
  upperDir: string,
  options: OverlayUpperOptions = {},
): Promise<OverlayChanges> {
  const fs = options.fs ?? nodeFileSystem;
  const ignore = new Set((options.ignore ?? []).map((p) => p.replace(/^\/+|\/+$/g, '')));
  const found: { rel: string; host: string; st: FileStat }[] = [];
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
  // Every object's xattrs in one batch: overlay's own say what is opaque or still in a lower layer; the
  // kept ones (file capabilities, user.*) go into the layer.
  const objects = found.filter((f) => !isWhiteout(f.st)).map((f) => f.host);
  const xattrs: Map<string, Xattrs> =
    fs.readXattrs && objects.length > 0 ? await fs.readXattrs(objects) : new Map();

  const maker = new EntryMaker(fs);
  const result: OverlayChanges = { entries: [], changed: [], deleted: [], opaque: [] };
  for (const { rel, host, st } of found) {
    const dir = path.dirname(rel);
    const prefix = dir === '.' ? '' : `${dir}/`;
    if (isWhiteout(st)) {
      result.deleted.push(rel);
      result.entries.push({
        path: `${prefix}${WHITEOUT_PREFIX}${path.basename(rel)}`,
        type: 'file',
        mode: 0o644,
        uid: 0,
        gid: 0,
        size: 0,
      });
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
    const entry = await maker.make(host, rel, st, layerXattrs(x));
    if (!entry) continue;
    result.changed.push(rel);
    result.entries.push(entry);
    if (st.kind === 'dir' && OPAQUE_KEYS.some((k) => x[k]?.toString() === 'y')) {
      result.opaque.push(rel);
      result.entries.push({
        path: `${rel}/${OPAQUE_WHITEOUT}`,
        type: 'file',
        mode: 0o644,
        uid: 0,
        gid: 0,
        size: 0,
      });
    }
  }
  return result;
}
