import { Readable } from 'node:stream';
import { ContextError } from '../errors.js';
import { cleanStrictPath } from '../path.js';
import type { ContextEntryType, ContextSource } from '../types.js';
import { EntryTree } from '../walk/entry-tree.js';
import { TreeSource } from './tree-source.js';

/** MemoryFile: the full form of one {@link memoryContext} entry; every field has a default. */
export interface MemoryFile {
  /** File content (UTF-8 when a string). Default: empty. */
  content?: string | Uint8Array;
  /** Default: `file`, or `symlink` when `linkname` is set. */
  type?: ContextEntryType;
  /** Permission bits. Default: 0644 for files, 0755 for directories; symlinks are always 0777, as on Linux. */
  mode?: number;
  /** Default: 0. */
  uid?: number;
  /** Default: 0. */
  gid?: number;
  /** Milliseconds or a Date. Default: 0 (the epoch), so digests and listings are reproducible. */
  mtime?: number | Date;
  /** Symlink target, stored verbatim. */
  linkname?: string;
}

/**
 * memoryContext: a context held in memory, for unit tests and programmatic callers.
 * Keys are paths relative to the root (a trailing `/` makes a directory); values are content or
 * a {@link MemoryFile}. Parent directories are implied. A key that climbs above the root is
 * `KILN_CONTEXT_UNSAFE_PATH`. `opts.kind` overrides the reported kind (default `memory`).
 */
export function memoryContext(
  files: Record<string, string | Uint8Array | MemoryFile>,
  opts: { kind?: string } = {},
): ContextSource {
  const tree = new EntryTree<Buffer>();
  for (const [key, spec] of Object.entries(files)) {
    const path = cleanStrictPath(key);
    if (path === undefined)
      throw new ContextError(
        'KILN_CONTEXT_UNSAFE_PATH',
        `memory context path ${JSON.stringify(key)} leaves the root`,
      );
    const f: MemoryFile = typeof spec === 'string' || spec instanceof Uint8Array ? { content: spec } : spec;
    const type: ContextEntryType =
      f.type ?? (key.endsWith('/') ? 'dir' : f.linkname !== undefined ? 'symlink' : 'file');
    const content = type === 'file' ? Buffer.from(f.content ?? '') : Buffer.alloc(0);
    const defaultMode = type === 'dir' ? 0o755 : type === 'symlink' ? 0o777 : 0o644;
    tree.set(
      {
        path,
        type,
        mode: type === 'symlink' ? 0o777 : (f.mode ?? defaultMode) & 0o7777,
        size: content.length,
        mtime: f.mtime instanceof Date ? f.mtime.getTime() : (f.mtime ?? 0),
        uid: f.uid ?? 0,
        gid: f.gid ?? 0,
        ...(type === 'symlink' ? { linkname: f.linkname ?? '' } : {}),
      },
      content,
    );
  }
  return new TreeSource(opts.kind ?? 'memory', tree, {
    open: (data) => Readable.from([data], { objectMode: false }),
    read: async (data) => Buffer.from(data), // a copy: callers may write into what they get
  });
}
