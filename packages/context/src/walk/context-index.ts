import type { ContextEntry, ContextSource, PathFilter } from '../types.js';
import { applyListOptions } from './apply-list-options.js';
import { EntryTree } from './entry-tree.js';

const noFilter: PathFilter = { ignores: () => false };
const indexes = new WeakMap<ContextSource, WeakMap<PathFilter, Promise<EntryTree>>>();

/**
 * indexContext: the whole listing of `source` after `ignore`, as a tree. Listed once per source
 * object and filter, then shared by `matchSources` and `contextDigests` for the rest of the build
 * (a build opens its own source; a caller reusing one across builds of a changing directory
 * should open a fresh source). Cost: one listing and one node per visible entry.
 */
export function indexContext(source: ContextSource, ignore?: PathFilter): Promise<EntryTree> {
  let byFilter = indexes.get(source);
  if (!byFilter) indexes.set(source, (byFilter = new WeakMap()));
  const key = ignore ?? noFilter;
  let index = byFilter.get(key);
  if (!index) {
    index = build(source, ignore);
    byFilter.set(key, index);
    index.catch(() => byFilter.delete(key)); // a failed listing is retried by the next caller
  }
  return index;
}

async function build(source: ContextSource, ignore?: PathFilter): Promise<EntryTree> {
  const tree = new EntryTree();
  const root = await source.stat('.');
  if (root) tree.set({ ...root, path: '.' });
  for await (const e of applyListOptions(source.list(ignore ? { ignore } : {}), ignore ? { ignore } : {}))
    tree.set(e);
  return tree;
}

/**
 * listIndexed: the entries below `under` (a cleaned context path, `.` for all) after `ignore`, in listing
 * order: what `source.list({ under, ignore })` gives, read from the source's {@link indexContext} instead of
 * listing the directory again (a COPY of a directory used to walk it twice: once to match its sources, once
 * for their contents).
 */
export async function listIndexed(
  source: ContextSource,
  under: string,
  ignore?: PathFilter,
): Promise<ContextEntry[]> {
  const index = await indexContext(source, ignore);
  const out: ContextEntry[] = [];
  for (const node of index.walk(under)) out.push(node.entry);
  return out;
}
