import { sameDirectory } from '../overlay/layer-from-overlay-upper.js';
import type { TreeDiff, TreeRecord } from './diff-directories.js';

/**
 * withoutTouchedDirectories: `diff` without the directories that changed only in ctime, size or inode
 * (per `sameDirectory`: same type, permissions, owner and mtime as recorded) and carry no kept xattrs. Such
 * a directory held a mount point made and removed around a command, or was chowned to its own owner: the
 * image does not change, and an overlay upper dir (copy-up) would not report it either. A directory with
 * kept xattrs stays, since an xattr change shows in its ctime alone.
 */
export function withoutTouchedDirectories(diff: TreeDiff, before: TreeRecord): TreeDiff {
  const touched = new Set<string>();
  for (const e of diff.entries) {
    const old = before.paths.get(e.path);
    if (e.type !== 'dir' || !old || e.xattrs) continue;
    const now = {
      kind: 'dir' as const,
      mode: e.mode,
      uid: e.uid,
      gid: e.gid,
      mtimeMs: e.mtime ?? Number.NaN,
    };
    if (sameDirectory(old, now)) touched.add(e.path);
  }
  if (touched.size === 0) return diff;
  return {
    ...diff,
    changed: diff.changed.filter((p) => !touched.has(p)),
    entries: diff.entries.filter((e) => !(e.type === 'dir' && touched.has(e.path))),
  };
}
