import type { Readable } from 'node:stream';
import { ContextError } from '../errors.js';
import { cleanContextPath, isUnder, joinContextPath, relativeTo } from '../path.js';
import type { ContextEntry, ContextSource, ListOptions, PathFilter } from '../types.js';
import { applyListOptions } from '../walk/apply-list-options.js';

/**
 * subContext: the directory `subPath` of `source` as a context of its own (kaniko's
 * `--context-sub-path`, applied the same way to every kind of source). `..` cannot climb out of
 * `subPath`: paths are cleaned against the new root. `subPath` must be a directory, not a
 * symlink (`KILN_CONTEXT_NOT_A_DIRECTORY`). Closing the view closes `source`.
 */
export async function subContext(source: ContextSource, subPath: string): Promise<ContextSource> {
  const base = cleanContextPath(subPath);
  if (base === '.') return source;
  const st = await source.stat(base);
  if (st?.type !== 'dir')
    throw new ContextError(
      st ? 'KILN_CONTEXT_NOT_A_DIRECTORY' : 'KILN_CONTEXT_NOT_FOUND',
      `context sub-path ${JSON.stringify(subPath)} is ${st ? `a ${st.type}, not a directory` : 'not in the context'}`,
    );
  return new SubSource(source, base);
}

class SubSource implements ContextSource {
  readonly kind: string;
  readonly #inner: ContextSource;
  readonly #base: string;

  constructor(inner: ContextSource, base: string) {
    this.kind = inner.kind;
    this.#inner = inner;
    this.#base = base;
  }

  #outer(p: string): string {
    return joinContextPath(this.#base, cleanContextPath(p));
  }

  list(opts: ListOptions = {}): AsyncIterable<ContextEntry> {
    const base = this.#base;
    const { ignore } = opts;
    const innerIgnore: PathFilter | undefined = ignore && {
      ignores: (p) => isUnder(p, base) && ignore.ignores(relativeTo(p, base)),
      mayIncludeUnder: (p) => !isUnder(p, base) || (ignore.mayIncludeUnder?.(relativeTo(p, base)) ?? true),
    };
    const inner = this.#inner.list({
      under: this.#outer(opts.under ?? '.'),
      ...(innerIgnore ? { ignore: innerIgnore } : {}),
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    async function* rebased() {
      for await (const e of inner) if (isUnder(e.path, base)) yield { ...e, path: relativeTo(e.path, base) };
    }
    return applyListOptions(rebased(), opts);
  }

  async stat(path: string): Promise<ContextEntry | undefined> {
    const e = await this.#inner.stat(this.#outer(path));
    return e && { ...e, path: cleanContextPath(path) };
  }

  open(path: string): Promise<Readable> {
    return this.#inner.open(this.#outer(path));
  }

  readFile(path: string): Promise<Buffer> {
    return this.#inner.readFile(this.#outer(path));
  }

  async close(): Promise<void> {
    await this.#inner.close?.();
  }
}
