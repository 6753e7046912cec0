import { Readable } from 'node:stream';
import { ContextError } from '../errors.js';
import { cleanContextPath } from '../path.js';
import type { ContextEntry, ListOptions } from '../types.js';
import { applyListOptions } from '../walk/apply-list-options.js';
import type { EntryTree, TreeNode } from '../walk/entry-tree.js';
import { BaseSource } from './base-source.js';

/**
 * TreeSource: a {@link ContextSource} over an {@link EntryTree} whose file nodes carry data that
 * `openData` turns into a stream (memory buffers, spooled tar content).
 */
export class TreeSource<D> extends BaseSource {
  readonly #tree: EntryTree<D>;
  readonly #openData: (data: D | undefined, entry: ContextEntry) => Readable;

  constructor(
    kind: string,
    tree: EntryTree<D>,
    openData: (data: D | undefined, entry: ContextEntry) => Readable,
    onClose?: () => Promise<void>,
  ) {
    super(kind, onClose);
    this.#tree = tree;
    this.#openData = openData;
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
    return node.entry.size === 0
      ? Readable.from([], { objectMode: false })
      : this.#openData(node.data, node.entry);
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
