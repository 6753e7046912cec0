import { KilnError } from '../errors.js';
import type { ChmodSpec } from '../fs/chmod.js';
import { baseName, parentOf, resolveAgainst, toImagePath } from '../fs/posix-path.js';
import type { FileTree, TreeNode } from '../fs/tree.js';

/** Metadata of one source entry of COPY/ADD, from the context or from another stage: the shape of a tree node. */
export type SourceEntry = TreeNode;

/** A matched top-level source: its entry, and for directories everything below it (paths relative to it). */
export interface MatchedSource {
  /** Source path as matched, relative to the source root. */
  path: string;
  entry: SourceEntry;
  /** For directories: the entries below, relative to `path`, parents before children. */
  children?: { rel: string; entry: SourceEntry }[];
  /** `COPY --parents`: the source's path (below the `/./` pivot, if any) recreated under the destination. */
  keepPath?: string;
  /** Keep the entries' owners (an archive unpacked by ADD); overrides the instruction-wide rule. */
  keepOwner?: boolean;
}

/** What a COPY/ADD writes: entries in layer order. */
export interface PlannedEntry {
  path: string;
  node: TreeNode;
}

export interface CopyPlanInput {
  sources: MatchedSource[];
  /** Destination as written (after expansion). */
  dest: string;
  workdir: string;
  /** The stage's filesystem before the copy. */
  tree: FileTree;
  /** Owner for everything written (`--chown`); undefined keeps the source owner (COPY --from) or root. */
  owner?: { uid: number; gid: number };
  /** Source owners are kept (COPY --from); otherwise root:root, as Docker does for the build context. */
  keepSourceOwner: boolean;
  chmod?: ChmodSpec;
  /** Whether the instruction had wildcards or several sources (the destination is then a directory). */
  multiple: boolean;
  /** Location for errors. */
  text: string;
}

/**
 * Works out what COPY/ADD writes, with Docker's rules: a destination ending in `/` (or several sources) is a
 * directory; a directory source copies its contents; a file onto an existing directory goes inside it; parent
 * directories that do not exist are created (0755, owned by `--chown`'s user); existing directories that are
 * written *into* keep their mode and owner; symlinked directories in the destination resolve inside the image.
 */
export function planCopy(input: CopyPlanInput): PlannedEntry[] {
  const { tree } = input;
  const destAbs = resolveAgainst(input.workdir, input.dest);
  const destIsDir =
    input.dest.endsWith('/') || input.dest.endsWith('/.') || input.dest === '.' || input.multiple;
  const destRel = toImagePath(destAbs);
  const out: PlannedEntry[] = [];
  const planned = new Map<string, TreeNode>();
  let keep = input.keepSourceOwner;
  const owner = (e: SourceEntry) => input.owner ?? (keep ? { uid: e.uid, gid: e.gid } : { uid: 0, gid: 0 });
  const dirOwner = input.owner ?? { uid: 0, gid: 0 };
  const lookup = (p: string) => planned.get(p) ?? tree.get(p);
  const resolveParent = (p: string) => {
    // Resolve symlinks in everything but the last component, against the image plus what this copy planned.
    const parent = parentOf(p);
    const resolved = parent === '' ? '' : tree.resolve(parent, true);
    return resolved === '' ? baseName(p) : `${resolved}/${baseName(p)}`;
  };
  const ensureDir = (p: string) => {
    if (p === '') return;
    const existing = lookup(p);
    if (existing?.type === 'dir') return;
    if (existing && existing.type !== 'symlink')
      throw new KilnError(
        'KILN_NOT_A_DIRECTORY',
        `${input.text}: cannot copy into /${p}: it is not a directory`,
      );
    ensureDir(parentOf(p));
    const node: TreeNode = { type: 'dir', mode: 0o755, uid: dirOwner.uid, gid: dirOwner.gid, size: 0 };
    planned.set(p, node);
    out.push({ path: p, node });
  };
  const put = (p: string, e: SourceEntry) => {
    ensureDir(parentOf(p));
    const o = owner(e);
    let mode = e.mode & 0o7777;
    if (input.chmod && e.type !== 'symlink') mode = input.chmod.apply(mode, e.type === 'dir');
    const node: TreeNode = {
      type: e.type,
      mode,
      uid: o.uid,
      gid: o.gid,
      size: e.type === 'file' ? e.size : 0,
    };
    if (e.mtime !== undefined) node.mtime = e.mtime;
    if (e.linkname !== undefined) node.linkname = e.linkname;
    if (e.open) node.open = e.open;
    planned.set(p, node);
    out.push({ path: p, node });
  };

  for (const src of input.sources) {
    keep = src.keepOwner ?? input.keepSourceOwner;
    if (src.entry.type === 'dir') {
      // The directory's contents go into the destination; the destination directory itself is created (0755, or
      // the source directory's mode) when missing and left alone when present.
      const target = destRel === '' ? '' : tree.resolve(destRel, true);
      if (target !== '') {
        const existing = lookup(target);
        if (existing && existing.type !== 'dir')
          throw new KilnError(
            'KILN_NOT_A_DIRECTORY',
            `${input.text}: cannot copy a directory onto /${target}: it is not a directory`,
          );
        // Observed with BuildKit: a missing destination is created 0755 (owned by --chown's user), whatever the
        // source directory's mode, and --chmod does not apply to it.
        if (!existing) ensureDir(target);
      }
      for (const { rel, entry } of src.children ?? []) {
        // Hardlinks inside a copied tree name another member of the tree: rebase them onto the destination.
        const e =
          entry.type === 'hardlink' && entry.linkname !== undefined && target !== ''
            ? { ...entry, linkname: `${target}/${entry.linkname}` }
            : entry;
        put(target === '' ? rel : `${target}/${rel}`, e);
      }
      continue;
    }
    let target: string;
    const destNode = destRel === '' ? lookup('') : lookup(tree.resolve(destRel, true));
    if (destIsDir || destRel === '' || destNode?.type === 'dir') {
      const dir = destRel === '' ? '' : tree.resolve(destRel, true);
      target = dir === '' ? baseName(src.path) : `${dir}/${baseName(src.path)}`;
      if (dir !== '') ensureDir(dir);
    } else target = resolveParent(destRel);
    put(target, src.entry);
  }
  return out;
}
