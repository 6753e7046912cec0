import type { Readable } from 'node:stream';

/** ContextEntryType: the kinds of entries a build context can hold (devices, FIFOs and sockets are skipped). */
export type ContextEntryType = 'file' | 'dir' | 'symlink';

/**
 * ContextEntry: one file, directory or symlink of a build context.
 *
 * `path` is POSIX, relative to the context root, cleaned (no leading `/` or `./`, no `..`);
 * the root itself is `.`. `mode` holds the permission bits including setuid/setgid/sticky
 * (`0o7777`), never the file-type bits; a symlink's is always `0o777`, as on Linux. `size` is the content length for files and 0 for
 * directories and symlinks (tar and `lstat` disagree on symlink sizes, so kiln normalises).
 * `mtime` is in milliseconds. `linkname` is the symlink target exactly as stored.
 */
export interface ContextEntry {
  path: string;
  type: ContextEntryType;
  mode: number;
  size: number;
  mtime: number;
  uid: number;
  gid: number;
  linkname?: string;
}

/**
 * PathFilter: decides which context paths are excluded; `dockerignore()` returns one.
 * `ignores(path)` is true for an excluded path. `mayIncludeUnder(dir)`, when present, is false
 * when nothing below an excluded `dir` could be re-included, so the walk skips it.
 */
export interface PathFilter {
  ignores(path: string): boolean;
  mayIncludeUnder?(dir: string): boolean;
}

/**
 * ListOptions: hints a source may use to do less work. Helpers re-apply both, so a source
 * that ignores them is still correct, only slower.
 */
export interface ListOptions {
  /** List only this directory's descendants (not the directory itself). Default: the whole context. */
  under?: string;
  /** Exclusions (usually `.dockerignore`). */
  ignore?: PathFilter;
  signal?: AbortSignal;
}

/**
 * ContextSource: a build context, read-only.
 *
 * Contract (the contract test suite checks every implementation):
 * - `list()` yields every entry except the root, each directory before its contents,
 *   siblings sorted by name (UTF-16 code-unit order). Missing parent directories of a
 *   tar/memory entry are synthesised (mode 0755, root-owned, mtime 0).
 * - Paths passed in are cleaned the way BuildKit cleans COPY sources (`join('/', p)`):
 *   `../x` means `x`; nothing outside the root is ever read.
 * - `stat()` never follows symlinks; `open()`/`readFile()` only open regular files (a symlink is
 *   `KILN_CONTEXT_NOT_A_FILE`); a symlink pointing outside the context is only ever reported.
 * - A source may hold temporary files (tar, git, http): call `close()` when done.
 */
export interface ContextSource {
  /** What kind of place the context comes from: `dir`, `tar`, `git`, `http`, `memory`, or the caller's own. */
  readonly kind: string;
  /** list yields the entries of the context (or of `opts.under`), directories first. */
  list(opts?: ListOptions): AsyncIterable<ContextEntry>;
  /** stat returns the entry at `path` (`.` is the root) or `undefined` when there is none. */
  stat(path: string): Promise<ContextEntry | undefined>;
  /** open returns a fresh stream of a regular file's content. */
  open(path: string): Promise<Readable>;
  /** readFile returns a regular file's whole content (reads it into memory: for small files). */
  readFile(path: string): Promise<Buffer>;
  /** close releases temporary files and processes; optional for sources that hold none. */
  close?(): Promise<void>;
}
