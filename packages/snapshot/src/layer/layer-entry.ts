import type { Readable } from 'node:stream';
import type { Xattrs } from '../fs/file-system.js';
import type { TarEntryType } from '../tar/tar-header.js';

/**
 * LayerEntry: one file system object to put in a layer, with the metadata that goes into its
 * tar header (see docs/contracts.md). Paths are POSIX, relative to the image root, without a
 * leading `/` or `./` (`usr/bin/env`). A whiteout is an ordinary empty `file` entry named
 * `.wh.<name>` (or `.wh..wh..opq` for an opaque directory).
 */
export interface LayerEntry {
  path: string;
  type: TarEntryType;
  /** Permission bits including setuid, setgid and sticky. */
  mode: number;
  uid: number;
  gid: number;
  uname?: string;
  gname?: string;
  /** Content bytes of a regular file; required when `open` returns a stream (else it is buffered to count). */
  size?: number;
  /** Modification time in milliseconds. Defaults to 0 (the epoch). */
  mtime?: number;
  /** Symlink target, or for a hardlink the layer path of the entry it links to. */
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  xattrs?: Xattrs;
  /**
   * Content of a regular file: a fresh stream (or, for small files, the bytes themselves).
   * Called once, when the entry is written (or slightly earlier, to read ahead small files).
   */
  open?: () => Readable | Buffer | Promise<Readable | Buffer>;
}
