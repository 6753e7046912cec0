import { ContextError } from '../errors.js';
import { baseName, cleanContextPath, compareNames, joinContextPath, parentPath } from '../path.js';
import type { ContextEntry } from '../types.js';

/** A node of an {@link EntryTree}: the entry, its children when a directory, and source-specific data. */
export interface TreeNode<D> {
  entry: ContextEntry;
  data?: D;
  children?: Map<string, TreeNode<D>>;
  sorted?: string[];
}

/** Metadata given to directories that a tar or memory context implies but does not list. */
export const impliedDirectory = { type: 'dir', mode: 0o755, size: 0, mtime: 0, uid: 0, gid: 0 } as const;

/** Symlinks followed by one resolution before giving up, like Linux's MAXSYMLINKS. */
const maxSymlinks = 40;

/**
 * EntryTree: an in-memory index of a context (tar and memory sources hold their entries in one;
 * `matchSources` and `contextDigests` index any source into one). Cost: one node per entry.
 */
export class EntryTree<D = never> {
  readonly root: TreeNode<D> = { entry: { path: '.', ...impliedDirectory }, children: new Map() };

  /** get returns the node at the cleaned literal `path` (no symlink is followed). */
  get(path: string): TreeNode<D> | undefined {
    const p = cleanContextPath(path);
    if (p === '.') return this.root;
    let node: TreeNode<D> | undefined = this.root;
    for (const seg of p.split('/')) {
      node = node.children?.get(seg);
      if (!node) return undefined;
    }
    return node;
  }

  /**
   * set stores `entry` (its path already cleaned), creating missing parents as implied
   * directories; a later entry for the same path replaces the earlier one, as extraction would.
   */
  set(entry: ContextEntry, data?: D): TreeNode<D> {
    if (entry.path === '.') {
      this.root.entry = { ...entry, type: 'dir' };
      return this.root;
    }
    const parent = this.#ensureDir(parentPath(entry.path));
    const name = baseName(entry.path);
    const existing = parent.children!.get(name);
    const node: TreeNode<D> = { entry, data };
    if (entry.type === 'dir') node.children = existing?.children ?? new Map();
    if (!existing) parent.sorted = undefined;
    parent.children!.set(name, node);
    return node;
  }

  #ensureDir(path: string): TreeNode<D> {
    if (path === '.') return this.root;
    const node = this.get(path);
    if (node?.children) return node;
    return this.set({ path, ...impliedDirectory });
  }

  /** childNames: the names in directory `node`, sorted (cached until the directory changes). */
  childNames(node: TreeNode<D>): string[] {
    if (!node.children) return [];
    node.sorted ??= [...node.children.keys()].sort(compareNames);
    return node.sorted;
  }

  /** walk yields the descendants of `under` in listing order: directories first, siblings sorted. */
  *walk(under = '.'): Generator<TreeNode<D>> {
    const start = this.get(under);
    if (!start?.children) return;
    yield* this.#preorder(this.childNames(start).map((n) => start.children!.get(n)!));
  }

  *#preorder(nodes: TreeNode<D>[]): Generator<TreeNode<D>> {
    for (const node of nodes) {
      yield node;
      if (node.children) yield* this.#preorder(this.childNames(node).map((n) => node.children!.get(n)!));
    }
  }

  /**
   * resolve follows symlinks inside the tree the way `chroot` would: absolute targets start at
   * the root, `..` stops at the root. Intermediate components are always followed; the last one
   * only when `followLast`. Returns `undefined` when a component is missing.
   */
  resolve(path: string, followLast: boolean): TreeNode<D> | undefined {
    return this.trace(path, followLast).node;
  }

  /**
   * trace is {@link EntryTree.resolve} that also reports the resolved path: the node's path when
   * found, else where resolution ended (`link -> ../../etc` gives `etc`), for error messages.
   */
  trace(path: string, followLast: boolean): { node?: TreeNode<D>; path: string } {
    const pending = cleanContextPath(path)
      .split('/')
      .filter((s) => s !== '.');
    let current = this.root;
    let dirPath = '.';
    let hops = 0;
    while (pending.length > 0) {
      const seg = pending.shift()!;
      if (seg === '..') {
        dirPath = parentPath(dirPath);
        current = this.get(dirPath)!;
        continue;
      }
      const child = current.children?.get(seg);
      const missing = () => ({
        path: cleanContextPath(joinContextPath(dirPath, [seg, ...pending].join('/'))),
      });
      if (!child) return missing();
      if (child.entry.type === 'symlink' && (pending.length > 0 || followLast)) {
        if (++hops > maxSymlinks)
          throw new ContextError('KILN_CONTEXT_NOT_FOUND', `"/${path}": too many levels of symbolic links`);
        const target = child.entry.linkname ?? '';
        if (target.startsWith('/')) {
          current = this.root;
          dirPath = '.';
        }
        pending.unshift(...target.split('/').filter((s) => s !== '' && s !== '.'));
        continue;
      }
      if (pending.length > 0 && !child.children) return missing();
      current = child;
      dirPath = joinContextPath(dirPath, seg);
    }
    return { node: current, path: dirPath };
  }
}
