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
}

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
    let hops = 0;
    const parts = path.split('/').filter((p) => p !== '' && p !== '.');
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
      if (node?.type !== 'symlink' || (!followFinal && parts.length === 0)) continue;
      if (++hops > MAX_LINKS)
        throw new KilnError('KILN_SYMLINK_LOOP', `too many levels of symbolic links resolving /${path}`);
      out.pop();
      const target = node.linkname ?? '';
      if (target.startsWith('/')) out.length = 0;
      parts.unshift(...target.split('/').filter((p) => p !== '' && p !== '.'));
    }
    return out.join('/');
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

/** A copy of a tree that can change without affecting the original (stage inheritance). */
export function cloneTree(tree: FileTree): FileTree {
  const copy = new FileTree();
  copy.set('', tree.get('')!);
  for (const p of tree.walk('')) copy.set(p, tree.get(p)!);
  return copy;
}
