import { Readable } from 'node:stream';
import { ContextError } from '../errors.js';
import { cleanContextPath } from '../path.js';
import type { ContextEntry, ListOptions } from '../types.js';
import { applyListOptions } from '../walk/apply-list-options.js';
import type { EntryTree, TreeNode } from '../walk/entry-tree.js';
import { BaseSource } from './base-source.js';

/** How a {@link TreeSource} reaches file content: as a stream, whole, and what `close()` releases. */
export interface TreeData<D> {
  open(data: D): Readable;
  read(data: D): Promise<Buffer>;
  close?: () => Promise<void>;
}

/**
 * TreeSource: a {@link ContextSource} over an {@link EntryTree} whose file nodes carry data that
 * {@link TreeData} reads (memory buffers, spooled tar content).
 */
export class TreeSource<D> extends BaseSource {
  readonly #tree: EntryTree<D>;
  readonly #data: TreeData<D>;

  constructor(kind: string, tree: EntryTree<D>, data: TreeData<D>) {
    super(kind, data.close);
    this.#tree = tree;
    this.#data = data;
  }

  list(opts: ListOptions = {}): AsyncIterable<ContextEntry> {
    this.assertOpen();
    const tree = this.#tree;
    function* entries() {
      for (const node of tree.walk(opts.under === undefined ? '.' : cleanContextPath(opts.under)))
        yield node.entry;
    }
    return applyListOptions(entries(), opts);
  }

  async stat(path: string): Promise<ContextEntry | undefined> {
    this.assertOpen();
    return this.#tree.get(path)?.entry;
  }

  async open(path: string): Promise<Readable> {
    const node = this.#file(path);
    return node.entry.size === 0 ? Readable.from([], { objectMode: false }) : this.#data.open(node.data as D);
  }

  override async readFile(path: string): Promise<Buffer> {
    const node = this.#file(path);
    return node.entry.size === 0 ? Buffer.alloc(0) : this.#data.read(node.data as D);
  }

  #file(path: string): TreeNode<D> {
    this.assertOpen();
    const node = this.#tree.get(path);
    const p = cleanContextPath(path);
    if (!node)
      throw new ContextError('KILN_CONTEXT_NOT_FOUND', `"/${p}": not found in the ${this.kind} context`);
    if (node.entry.type !== 'file')
      throw new ContextError(
        'KILN_CONTEXT_NOT_A_FILE',
        `"/${p}" is a ${node.entry.type}, not a regular file`,
      );
    return node;
  }
}
