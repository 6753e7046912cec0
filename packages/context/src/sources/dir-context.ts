import {
  closeSync,
  constants,
  createReadStream,
  fstatSync,
  lstatSync,
  openSync,
  readlinkSync,
  readSync,
  type Stats,
} from 'node:fs';
import { type FileHandle, lstat, open, readdir, readlink, realpath } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { ContextError } from '../errors.js';
import { cleanContextPath, compareNames, joinContextPath, parentPath } from '../path.js';
import type { ContextEntry, ContextEntryType, ContextSource, ListOptions } from '../types.js';
import { applyListOptions } from '../walk/apply-list-options.js';
import { readAll } from '../walk/read-all.js';
import { BaseSource } from './base-source.js';

/** O_NOFOLLOW: never open through a final symlink. O_NONBLOCK: opening a FIFO must not hang the build. */
const openFlags = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

/** Files read synchronously by `readFile` (see there); 256 KiB keeps each stall well under a millisecond. */
const syncReadBytes = 256 * 1024;

/** Options of {@link dirContext}. */
export interface DirContextOptions {
  /** Reported as the source's `kind`. Default `dir`; `gitContext` passes `git`. */
  kind?: string;
  /** Called by `close()` (git uses it to delete its checkout). */
  onClose?: () => Promise<void>;
}

/**
 * dirContext: a local directory as a build context. Nothing is read at creation; the root is
 * checked on first use (`KILN_CONTEXT_NOT_FOUND`/`KILN_CONTEXT_NOT_A_DIRECTORY`).
 *
 * Safety: paths are literal below the root. A path whose parent directories pass through a
 * symlink is treated as missing (so `link-to-etc/passwd` never reads the host's file), and
 * files are opened with `O_NOFOLLOW`. Use `resolveInContext` to follow links inside the context.
 */
export function dirContext(dir: string, opts: DirContextOptions = {}): ContextSource {
  return new DirSource(resolve(dir), opts);
}

class DirSource extends BaseSource {
  readonly #root: string;
  #realRoot: Promise<string> | undefined;
  /**
   * Directories verified to contain no symlink between the root and themselves: one realpath per
   * directory per source instead of one per file (a build reads a context it does not expect to
   * be rearranged underneath it; `O_NOFOLLOW` still guards the last component of every open).
   */
  readonly #realParents = new Map<string, Promise<boolean>>();

  constructor(root: string, opts: DirContextOptions) {
    super(opts.kind ?? 'dir', opts.onClose);
    this.#root = root;
  }

  #ready(): Promise<string> {
    this.assertOpen();
    this.#realRoot ??= (async () => {
      let st: Stats;
      try {
        st = await lstat(await realpath(this.#root));
      } catch (e) {
        throw new ContextError(
          'KILN_CONTEXT_NOT_FOUND',
          `build context directory ${this.#root} does not exist`,
          {
            cause: e,
          },
        );
      }
      if (!st.isDirectory())
        throw new ContextError(
          'KILN_CONTEXT_NOT_A_DIRECTORY',
          `build context ${this.#root} is not a directory`,
        );
      return realpath(this.#root);
    })();
    return this.#realRoot;
  }

  /** abs maps a cleaned context path to a host path, or undefined when a parent is not a real directory. */
  async #abs(p: string): Promise<string | undefined> {
    const root = await this.#ready();
    if (p === '.') return root;
    const parent = parentPath(p);
    if (parent !== '.') {
      let verdict = this.#realParents.get(parent);
      if (!verdict) {
        verdict = realpath(join(root, parent)).then(
          (real) => real === join(root, parent),
          () => false,
        );
        this.#realParents.set(parent, verdict);
      }
      if (!(await verdict)) return undefined;
    }
    return join(root, p);
  }

  async *#walk(dir: string, opts: ListOptions): AsyncGenerator<ContextEntry> {
    const root = await this.#ready();
    let names: string[];
    try {
      names = (await readdir(join(root, dir))).sort(compareNames);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR')
        return;
      throw e;
    }
    // Synchronous lstat: a few microseconds of event-loop time each, against a thread-pool round trip per
    // entry (what listing a context of thousands of files cost), as readFile does for small files.
    const entries = names.map((n) => this.#entrySync(root, joinContextPath(dir, n)));
    for (const e of entries) {
      if (!e) continue;
      opts.signal?.throwIfAborted();
      yield e;
      if (e.type !== 'dir') continue;
      if (opts.ignore?.ignores(e.path) && !(opts.ignore.mayIncludeUnder?.(e.path) ?? true)) continue;
      yield* this.#walk(e.path, opts);
    }
  }

  async #entry(root: string, p: string): Promise<ContextEntry | undefined> {
    let st: Stats;
    try {
      st = await lstat(join(root, p));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined; // removed while listing
      throw e;
    }
    const entry = toEntry(p, st);
    if (entry?.type === 'symlink') entry.linkname = await readlink(join(root, p));
    return entry;
  }

  #entrySync(root: string, p: string): ContextEntry | undefined {
    const st = lstatSync(join(root, p), { throwIfNoEntry: false });
    if (!st) return undefined; // removed while listing
    const entry = toEntry(p, st);
    if (entry?.type === 'symlink') entry.linkname = readlinkSync(join(root, p));
    return entry;
  }

  list(opts: ListOptions = {}): AsyncIterable<ContextEntry> {
    const under = opts.under === undefined ? '.' : cleanContextPath(opts.under);
    const self = this;
    async function* walkUnder() {
      if (under !== '.') {
        const st = await self.stat(under);
        if (st?.type !== 'dir') return;
      }
      yield* self.#walk(under, opts);
    }
    return applyListOptions(walkUnder(), opts);
  }

  async stat(path: string): Promise<ContextEntry | undefined> {
    const p = cleanContextPath(path);
    const abs = await this.#abs(p);
    if (abs === undefined) return undefined;
    return this.#entry(await this.#ready(), p);
  }

  async open(path: string): Promise<Readable> {
    return createReadStream('', { fd: (await this.#openFile(path)).fh, highWaterMark: 256 * 1024 });
  }

  /** readFile: one read of a small file, without a stream. */
  /**
   * readFile: files up to {@link syncReadBytes} are read with synchronous syscalls: a few tens of
   * microseconds of event-loop time each, against four thread-pool round trips (open, fstat,
   * read, close) that dominate when hashing thousands of small files. Larger files are read
   * asynchronously.
   */
  override async readFile(path: string): Promise<Buffer> {
    const p = cleanContextPath(path);
    const abs = await this.#abs(p);
    if (abs === undefined) throw this.#notFound(p);
    let fd: number;
    try {
      fd = openSync(abs, openFlags);
    } catch (e) {
      throw this.#openError(e, p);
    }
    let size: number;
    try {
      const st = fstatSync(fd);
      if (!st.isFile()) throw new ContextError('KILN_CONTEXT_NOT_A_FILE', `"/${p}" is not a regular file`);
      size = st.size;
      if (size <= syncReadBytes) {
        // the size fstat reported, as node's readFile does; a file shrinking meanwhile yields what is left
        const buf = Buffer.allocUnsafe(size);
        let got = 0;
        while (got < size) {
          const n = readSync(fd, buf, got, size - got, got);
          if (n === 0) break;
          got += n;
        }
        return got === size ? buf : buf.subarray(0, got);
      }
    } finally {
      closeSync(fd);
    }
    return readAll(await this.open(p));
  }

  async #openFile(path: string): Promise<{ fh: FileHandle; size: number }> {
    const p = cleanContextPath(path);
    const abs = await this.#abs(p);
    if (abs === undefined) throw this.#notFound(p);
    let fh: FileHandle;
    try {
      fh = await open(abs, openFlags);
    } catch (e) {
      throw this.#openError(e, p);
    }
    const st = await fh.stat();
    if (!st.isFile()) {
      await fh.close();
      throw new ContextError('KILN_CONTEXT_NOT_A_FILE', `"/${p}" is not a regular file`);
    }
    return { fh, size: st.size };
  }

  #notFound(p: string): ContextError {
    return new ContextError('KILN_CONTEXT_NOT_FOUND', `"/${p}": not found in ${this.#root}`);
  }

  #openError(e: unknown, p: string): unknown {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return this.#notFound(p);
    if (code === 'ELOOP')
      return new ContextError('KILN_CONTEXT_NOT_A_FILE', `"/${p}" is a symlink, not a regular file`);
    return e;
  }
}

/** The entry for `st`, a file, directory or symlink (without its link target); undefined for other kinds. */
function toEntry(p: string, st: Stats): ContextEntry | undefined {
  const type: ContextEntryType | undefined = st.isFile()
    ? 'file'
    : st.isDirectory()
      ? 'dir'
      : st.isSymbolicLink()
        ? 'symlink'
        : undefined;
  if (!type) return undefined; // devices, FIFOs and sockets are not part of a build context
  const entry: ContextEntry = {
    path: p,
    type,
    mode: st.mode & 0o7777,
    size: type === 'file' ? st.size : 0,
    mtime: Math.floor(st.mtimeMs),
    uid: st.uid,
    gid: st.gid,
  };
  return entry;
}
