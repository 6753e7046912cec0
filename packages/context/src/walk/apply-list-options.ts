import { cleanContextPath, isUnder } from '../path.js';
import type { ContextEntry, ListOptions } from '../types.js';

/**
 * applyListOptions enforces `under` and `ignore` on a listing in listing order (parents before
 * children). It is idempotent, so sources and helpers may both apply it.
 *
 * An excluded directory is dropped together with its subtree when the filter says nothing below
 * it can be re-included; otherwise it is held back and emitted just before the first
 * re-included descendant (a `!dir/keep` exception brings `dir` back as a parent, as Docker's
 * file sync does), or never.
 */
export async function* applyListOptions(
  entries: AsyncIterable<ContextEntry> | Iterable<ContextEntry>,
  opts: ListOptions = {},
): AsyncGenerator<ContextEntry> {
  const under = opts.under === undefined ? '.' : cleanContextPath(opts.under);
  const { ignore, signal } = opts;
  const pending: ContextEntry[] = [];
  let skipped: string | undefined;
  for await (const e of entries) {
    signal?.throwIfAborted();
    if (!isUnder(e.path, under)) continue;
    if (skipped !== undefined && isUnder(e.path, skipped)) continue;
    skipped = undefined;
    if (!ignore) {
      yield e;
      continue;
    }
    while (pending.length > 0 && !isUnder(e.path, pending[pending.length - 1]!.path)) pending.pop();
    if (ignore.ignores(e.path)) {
      if (e.type !== 'dir') continue;
      if (ignore.mayIncludeUnder?.(e.path) ?? true) pending.push(e);
      else skipped = e.path;
      continue;
    }
    yield* pending;
    pending.length = 0;
    yield e;
  }
}
