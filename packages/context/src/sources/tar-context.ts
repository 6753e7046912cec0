import {
  close as closeFd,
  createReadStream,
  createWriteStream,
  open as openFd,
  read as readFd,
  readSync,
  type WriteStream,
} from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { promisify } from 'node:util';
import { extract, type Header as TarHeader } from 'tar-stream';
import { ContextError } from '../errors.js';
import { cleanContextPath } from '../path.js';
import type { ContextEntry, ContextSource } from '../types.js';
import { EntryTree } from '../walk/entry-tree.js';
import { decompress } from './decompress.js';
import { TreeSource } from './tree-source.js';

/** Options of {@link tarContext}. */
export interface TarContextOptions {
  /** Where content too large for memory is spooled. Default: `os.tmpdir()`. */
  tmpDir?: string;
  /**
   * Content kept in memory before spooling to a temporary file. Default 32 MiB: small contexts
   * (the common case) never touch the disk, large ones cost one sequential temp file.
   */
  memoryBytes?: number;
  /** Named in error messages. Default: the file name, or `tar stream`. */
  label?: string;
  /** Reported as `kind`. Default `tar`; `httpContext` passes `http`. */
  kind?: string;
  signal?: AbortSignal;
}

/** Where one file's bytes live: in memory, or a range of the spool file. */
type TarData = Buffer | { offset: number; size: number };

/** Files at most this large stay in memory while the budget lasts (one spool write per big file otherwise). */
const smallFile = 256 * 1024;

/**
 * tarContext: a tar archive (a file path, a stream such as stdin, or bytes) as a build context;
 * gzip, bzip2, xz and zstd are detected by their magic bytes. The whole archive is read once,
 * up front: entries are indexed, content is kept in memory up to `memoryBytes` and spooled to a
 * temporary file beyond (removed by `close()`).
 *
 * Safety: member names are resolved inside the root as `chroot` would (DESIGN's rule, and what
 * Docker does with such a context, observed with 20.10): `/abs` is `abs`, `../evil` is `evil`.
 * Symlink targets are kept verbatim and never followed.
 * Hard links become regular files sharing their target's content. Devices and FIFOs are skipped.
 */
export async function tarContext(
  input: string | Readable | Uint8Array,
  opts: TarContextOptions = {},
): Promise<ContextSource> {
  const label = opts.label ?? (typeof input === 'string' ? input : 'tar stream');
  const raw =
    typeof input === 'string'
      ? createReadStream(input)
      : input instanceof Uint8Array
        ? Readable.from([Buffer.from(input)], { objectMode: false })
        : input;
  const tree = new EntryTree<TarData>();
  const spool = new Spool(opts.tmpDir ?? tmpdir());
  try {
    const { stream } = await decompress(raw, label).catch((e) => {
      throw asTarError(e, label);
    });
    await indexTar(stream, tree, spool, opts.memoryBytes ?? 32 * 1024 * 1024, label, opts.signal);
    await spool.finish();
  } catch (e) {
    raw.destroy();
    await spool.remove();
    throw asTarError(e, label);
  }
  return new TreeSource<TarData>(opts.kind ?? 'tar', tree, {
    open: (data) => {
      if (Buffer.isBuffer(data)) return Readable.from([data], { objectMode: false });
      const { offset, size } = data as { offset: number; size: number };
      // positional reads on the one shared descriptor: no open/close per file
      return createReadStream('', { fd: spool.fd!, start: offset, end: offset + size - 1, autoClose: false });
    },
    // in-memory content is copied: callers may write into what they get
    read: async (data) =>
      Buffer.isBuffer(data) ? Buffer.from(data) : spool.read(data as { offset: number; size: number }),
    close: () => spool.remove(),
  });
}

function asTarError(e: unknown, label: string): Error {
  if (e instanceof ContextError) return e;
  const err = e as NodeJS.ErrnoException;
  if (err.code === 'ENOENT' && err.syscall === 'open')
    return new ContextError('KILN_CONTEXT_NOT_FOUND', `tar context ${label} does not exist`, { cause: e });
  if (err.name === 'AbortError') return err;
  return new ContextError('KILN_CONTEXT_TAR_INVALID', `cannot read tar context ${label}: ${err.message}`, {
    cause: e,
  });
}

async function indexTar(
  stream: Readable,
  tree: EntryTree<TarData>,
  spool: Spool,
  memoryBytes: number,
  label: string,
  signal?: AbortSignal,
): Promise<void> {
  const ex = extract();
  let failure: unknown;
  stream.on('error', (e) => {
    failure = e;
    ex.destroy(e);
  });
  stream.pipe(ex as unknown as NodeJS.WritableStream);
  const onAbort = () => {
    failure = signal?.reason;
    stream.destroy();
    ex.destroy(signal?.reason as Error);
  };
  signal?.throwIfAborted();
  signal?.addEventListener('abort', onAbort, { once: true });
  let inMemory = 0;
  /** Names sharing one file through hard links, by name. */
  const inodes = new Map<string, string[]>();
  try {
    for await (const member of ex) {
      signal?.throwIfAborted();
      const h = member.header;
      const path = cleanContextPath(h.name);
      const meta = headerMeta(h, path);
      if (h.type === 'file' || h.type === 'contiguous-file') {
        const size = h.size ?? 0;
        let data: TarData;
        if (size <= smallFile && inMemory + size <= memoryBytes) {
          const chunks: Buffer[] = [];
          for await (const c of member) chunks.push(c as Buffer);
          data = Buffer.concat(chunks);
          inMemory += size;
        } else data = await spool.append(member as unknown as AsyncIterable<Buffer>);
        tree.set({ ...meta, type: 'file', size }, data);
      } else {
        member.resume();
        if (h.type === 'directory') tree.set({ ...meta, type: 'dir', size: 0 });
        else if (h.type === 'symlink')
          // a symlink's mode is always 0777 on Linux, whatever the header says (Docker extracts it so)
          tree.set({ ...meta, type: 'symlink', mode: 0o777, size: 0, linkname: h.linkname ?? '' });
        else if (h.type === 'link') {
          const target = tree.get(cleanContextPath(h.linkname ?? ''));
          if (target?.entry.type !== 'file')
            throw new ContextError(
              'KILN_CONTEXT_TAR_INVALID',
              `tar context ${label}: hard link ${JSON.stringify(h.name)} points to ${JSON.stringify(h.linkname)}, which is not an earlier regular file`,
            );
          // one inode, many names: the link's header metadata (applied last on extraction) holds
          // for every name of the file, as Docker's extraction of the context shows
          const group = inodes.get(target.entry.path) ?? [target.entry.path];
          group.push(path);
          for (const name of group) {
            inodes.set(name, group);
            const node = tree.get(name);
            if (node?.entry.type === 'file')
              node.entry = { ...meta, path: name, type: 'file', size: target.entry.size };
          }
          tree.set({ ...meta, type: 'file', size: target.entry.size }, target.data);
        }
        // char/block devices, FIFOs and unknown types are not build-context content
      }
    }
  } catch (e) {
    throw failure ?? e;
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
  if (failure) throw failure;
}

function headerMeta(h: TarHeader, path: string): Omit<ContextEntry, 'type' | 'size'> {
  return {
    path,
    mode: (h.mode ?? 0o644) & 0o7777,
    mtime: h.mtime ? h.mtime.getTime() : 0,
    uid: h.uid ?? 0,
    gid: h.gid ?? 0,
  };
}

/** Spool: one temporary file receiving large members back to back; created on first use. */
class Spool {
  path: string | undefined;
  /** The read descriptor, open from `finish()` to `remove()`. */
  fd: number | undefined;
  #dir: string | undefined;
  #out: WriteStream | undefined;
  #offset = 0;
  readonly #parent: string;

  constructor(parent: string) {
    this.#parent = parent;
  }

  async append(chunks: AsyncIterable<Buffer>): Promise<{ offset: number; size: number }> {
    if (!this.#out) {
      this.#dir = await mkdtemp(join(this.#parent, 'kiln-tar-context-'));
      this.path = join(this.#dir, 'content');
      this.#out = createWriteStream(this.path);
    }
    const out = this.#out;
    const offset = this.#offset;
    for await (const chunk of chunks) {
      this.#offset += chunk.length;
      if (!out.write(chunk))
        await new Promise<void>((res, rej) => {
          const onError = (e: Error) => rej(e);
          out.once('error', onError);
          out.once('drain', () => {
            out.off('error', onError);
            res();
          });
        });
    }
    return { offset, size: this.#offset - offset };
  }

  /** finish flushes the spool and opens the descriptor every later read shares. */
  async finish(): Promise<void> {
    if (!this.#out) return;
    this.#out.end();
    await finished(this.#out);
    this.fd = await promisify(openFd)(this.path!, 'r');
  }

  /**
   * read returns one member's bytes with positional reads on the shared descriptor. Small members
   * are read synchronously (no thread-pool round trip; a page-cache copy of at most 256 KiB).
   */
  async read({ offset, size }: { offset: number; size: number }): Promise<Buffer> {
    const buf = Buffer.allocUnsafe(size);
    let got = 0;
    const readAt = (at: number, length: number): number | Promise<number> =>
      size <= 256 * 1024
        ? readSync(this.fd!, buf, at, length, offset + at)
        : promisify(readFd)(this.fd!, buf, at, length, offset + at).then((r) => r.bytesRead);
    while (got < size) {
      const n = await readAt(got, size - got);
      if (n === 0)
        throw new ContextError('KILN_CONTEXT_TAR_INVALID', 'the tar context spool file was truncated');
      got += n;
    }
    return buf;
  }

  async remove(): Promise<void> {
    this.#out?.destroy();
    if (this.fd !== undefined) await promisify(closeFd)(this.fd).catch(() => {});
    this.fd = undefined;
    if (this.#dir) await rm(this.#dir, { recursive: true, force: true });
  }
}
