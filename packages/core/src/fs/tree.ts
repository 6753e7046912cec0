import type { Readable } from 'node:stream';
import { KilnError } from '../errors.js';
import { ancestors, parentOf } from './posix-path.js';

/** The kinds of filesystem entries an image can hold. */
export type NodeType = 'file' | 'dir' | 'symlink' | 'hardlink' | 'char' | 'block' | 'fifo';

/**
 * One entry of a stage's filesystem as kiln knows it without a rootfs on disk: metadata from the base
 * image's file index or from a layer kiln wrote, and, for regular files kiln added, a way to read them again.
 */
export interface TreeNode {
  type: NodeType;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime?: number;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  /** Opens the content again (small files may come back as bytes); absent for base-image files. */
  open?: () => Promise<Readable | Buffer> | Readable | Buffer;
  /**
   * Shared by every name of one hardlinked file (a hardlink's `linkname` names the first of them, which may be
   * replaced later while the others keep the old file).
   */
  inode?: object;
}

/** One entry of a layer, in layer order, for {@link FileTree.applyLayer}; whiteouts are `.wh.` names. */
export interface TreeLayerEntry {
  path: string;
  node: TreeNode;
}

const OPAQUE = '.wh..wh..opq';
const WHITEOUT = '.wh.';

const MAX_LINKS = 40;

/**
 * A stage's merged filesystem metadata (base image plus kiln's own layers), keyed by cleaned relative paths.
 * Path resolution follows symlinks inside the tree the way a chroot would: `..` stops at the root and absolute
 * link targets start at the root, so nothing resolves outside the image.
 */
export class FileTree {
  private readonly nodes = new Map<string, TreeNode>();
  private readonly kids = new Map<string, Set<string>>();

  constructor() {
    this.nodes.set('', { type: 'dir', mode: 0o755, uid: 0, gid: 0, size: 0 });
  }

  /** Number of entries, the root included. */
  get size(): number {
    return this.nodes.size;
  }

  get(path: string): TreeNode | undefined {
    return this.nodes.get(path);
  }

  /** Adds or replaces one entry; replacing a directory by anything else drops what was under it. */
  set(path: string, node: TreeNode): void {
    const old = this.nodes.get(path);
    if (old?.type === 'dir' && node.type !== 'dir') this.delete(path);
    if (path === '') {
      this.nodes.set('', node);
      return;
    }
    this.nodes.set(path, node);
    const parent = parentOf(path);
    let set = this.kids.get(parent);
    if (!set) this.kids.set(parent, (set = new Set()));
    set.add(path);
  }

  /** Removes an entry and everything below it. */
  delete(path: string): void {
    for (const child of this.kids.get(path) ?? []) this.delete(child);
    this.kids.delete(path);
    this.nodes.delete(path);
    this.kids.get(parentOf(path))?.delete(path);
  }

  /** Direct children of a directory (full paths), sorted. */
  children(path: string): string[] {
    return [...(this.kids.get(path) ?? [])].sort();
  }

  /** Every path below `path` (not included), depth first, sorted. */
  *walk(path: string): Generator<string> {
    for (const c of this.children(path)) {
      yield c;
      if (this.nodes.get(c)?.type === 'dir') yield* this.walk(c);
    }
  }

  /**
   * Resolves symlinks in `path` inside the tree. Intermediate components are always followed; the last one
   * only when `followFinal`. Missing components are kept as written, so the result names where a new entry
   * would be created.
   */
  resolve(path: string, followFinal: boolean): string {
    return this.follow(path.split('/'), followFinal, path)!;
  }

  /**
   * Follows path components through the tree's symlinks (chroot rules; a final symlink only when `followFinal`).
   * Lenient (no `strict`): missing or non-directory components are kept as written. `strict`, as the extractor
   * resolves an entry's directory: missing directories are made when `strict.create` (else undefined), a
   * non-directory on the way is `KILN_NOT_A_DIRECTORY`.
   */
  private follow(
    components: readonly string[],
    followFinal: boolean,
    entry: string,
    strict?: { create: boolean },
  ): string | undefined {
    let hops = 0;
    const parts = components.filter((p) => p !== '' && p !== '.');
    const out: string[] = [];
    while (parts.length > 0) {
      const part = parts.shift()!;
      if (part === '..') {
        out.pop();
        continue;
      }
      out.push(part);
      const cur = out.join('/');
      const node = this.nodes.get(cur);
      if (node?.type === 'symlink' && (followFinal || parts.length > 0)) {
        if (++hops > MAX_LINKS)
          throw new KilnError('KILN_SYMLINK_LOOP', `too many levels of symbolic links resolving /${entry}`);
        out.pop();
        const target = node.linkname ?? '';
        if (target.startsWith('/')) out.length = 0;
        parts.unshift(...target.split('/').filter((p) => p !== '' && p !== '.'));
      } else if (strict && !node) {
        if (!strict.create) return undefined;
        this.set(cur, { type: 'dir', mode: 0o755, uid: 0, gid: 0, size: 0 });
      } else if (strict && node?.type !== 'dir') {
        throw new KilnError('KILN_NOT_A_DIRECTORY', `/${entry}: /${cur} is not a directory`);
      }
    }
    return out.join('/');
  }

  /**
   * Applies one layer's entries in order, the way the extractor applies a layer to a root directory (and
   * buildFileIndex to the base image's index), so that the tree is what the image is once unpacked: an
   * entry's parent directories are resolved through the symlinks in the tree (`etc -> /x/etc` puts
   * `etc/passwd` at `x/etc/passwd` and `etc` stays a link), missing ones are made (0755, root's), what is at
   * the entry's path is replaced (a directory merges with a directory), whiteouts resolve their directory the
   * same way and spare what this layer wrote, and a hardlink takes the file its target path names (its
   * directories resolved, a final symlink not followed): a hardlink to a symlink is that symlink. Throws
   * `KILN_NOT_A_DIRECTORY`, `KILN_SYMLINK_LOOP` or `KILN_BAD_HARDLINK` where the extractor fails.
   */
  applyLayer(entries: Iterable<TreeLayerEntry>): void {
    const touched = new Set<string>();
    for (const { path, node } of entries) {
      const parts = path.split('/').filter((p) => p !== '' && p !== '.');
      const name = parts.pop();
      if (name === undefined) {
        // The root's own entry: only its metadata.
        if (node.type === 'dir') this.nodes.set('', node);
        continue;
      }
      if (name === OPAQUE || name.startsWith(WHITEOUT)) {
        const target = name.slice(WHITEOUT.length);
        if (name !== OPAQUE && (target === '' || target === '.' || target === '..'))
          throw new KilnError(
            'KILN_PATH_ESCAPE',
            `/${path}: a whiteout must name one entry of its own directory`,
          );
        const dir = this.follow(parts, true, path, { create: false });
        if (dir === undefined) continue; // nothing below to hide
        const hidden = name === OPAQUE ? this.children(dir) : [join(dir, target)];
        for (const p of hidden) if (!touched.has(p)) this.delete(p);
        continue;
      }
      const real = join(this.follow(parts, true, path, { create: true })!, name);
      for (const p of [real, ...ancestors(real).reverse()]) {
        if (touched.has(p)) break; // and so are its parents
        touched.add(p);
      }
      const old = this.nodes.get(real);
      if (old && !(old.type === 'dir' && node.type === 'dir')) this.delete(real);
      this.set(real, node.type === 'hardlink' ? this.linkTo(node.linkname ?? '', path) : node);
    }
  }

  /** What a hardlink to `target` is: another name of the file there (never a directory), or the symlink there. */
  private linkTo(target: string, entry: string): TreeNode {
    const parts = target.split('/').filter((p) => p !== '' && p !== '.');
    const name = parts.pop();
    const dir = name === undefined ? undefined : this.follow(parts, true, entry, { create: false });
    const real = dir === undefined ? undefined : join(dir, name!);
    const node = real === undefined ? undefined : this.nodes.get(real);
    if (!node || node.type === 'dir')
      throw new KilnError(
        'KILN_BAD_HARDLINK',
        `/${entry}: hardlink target /${target} is ${node ? 'a directory' : 'not in the image'}`,
      );
    if (node.type === 'symlink') return { ...node };
    node.inode ??= {};
    return { ...node, type: 'hardlink', linkname: node.type === 'hardlink' ? node.linkname! : real! };
  }

  /** Type of what `path` names after following every symlink, or undefined when it does not exist. */
  stat(path: string): TreeNode | undefined {
    return this.nodes.get(this.resolve(path, true));
  }

  /** Ancestors of `path` that do not exist yet (shortest first). */
  missingAncestors(path: string): string[] {
    return ancestors(path).filter((a) => !this.nodes.has(a));
  }
}

function join(dir: string, name: string): string {
  return dir === '' ? name : `${dir}/${name}`;
}

/** A copy of a tree that can change without affecting the original (stage inheritance). */
export function cloneTree(tree: FileTree): FileTree {
  const copy = new FileTree();
  copy.set('', tree.get('')!);
  for (const p of tree.walk('')) copy.set(p, tree.get(p)!);
  return copy;
}
