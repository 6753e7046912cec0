import type { Readable, Writable } from 'node:stream';

/** The kind of a file system object, as `lstat` reports it. */
export type FileKind = 'file' | 'dir' | 'symlink' | 'char' | 'block' | 'fifo' | 'socket';

/** FileStat: what `lstat` reports, reduced to what layers and diffs need. */
export interface FileStat {
  kind: FileKind;
  /** Permission bits including setuid, setgid and sticky (`mode & 0o7777`). */
  mode: number;
  uid: number;
  gid: number;
  /** Bytes for regular files and symlinks (target length); 0 or file-system specific for others. */
  size: number;
  /** Modification time in milliseconds, possibly fractional. */
  mtimeMs: number;
  /** Inode change time in milliseconds: set by the kernel on every content or metadata change, never by callers. */
  ctimeMs: number;
  /** Device and inode: together they identify hardlinks within one file system. */
  dev: number;
  ino: number;
  nlink: number;
  /** Device number of a char or block device (major/minor as the kernel encodes them). */
  rdevMajor: number;
  rdevMinor: number;
}

/** Extended attributes of one object: name (`security.capability`, `user.foo`) → raw value. */
export type Xattrs = Record<string, Buffer>;

/**
 * FileSystem: the subset of `node:fs/promises` that extraction, directory diffs and overlay
 * conversion use. Paths are absolute POSIX paths of this file system. Like the kernel,
 * implementations follow symlinks in every component but the last, and `lstat`, `readlink`,
 * `lchown`, `lutimes` never follow the last one. Failures reject with an error whose `code`
 * is the errno name (`ENOENT`, `ENOTDIR`, `EEXIST`, `ENOTEMPTY`, …) as node:fs does.
 *
 * Implementations: {@link nodeFileSystem} (the real disk) and {@link MemoryFileSystem}
 * (in memory, for unit tests and RUN-less builds).
 */
export interface FileSystem {
  lstat(path: string): Promise<FileStat>;
  /** Names in a directory, in no particular order. */
  readdir(path: string): Promise<string[]>;
  readlink(path: string): Promise<string>;
  /**
   * Names in a directory with each one's lstat, in one call. Optional: tree walks (diffs,
   * overlay conversion, layers from directories) use it when present because one call per
   * directory is far cheaper than one promise per file; they fall back to readdir + lstat.
   */
  listDir?(path: string): Promise<{ name: string; stat: FileStat }[]>;
  /** A regular file's whole content. Callers use it for small files only (a stream costs more there). */
  readFile(path: string): Promise<Buffer>;
  /** A fresh stream of a regular file's bytes. */
  createReadStream(path: string): Readable;
  /** Creates a new regular file (failing with EEXIST if the name exists, never following a symlink) and streams its content. */
  createWriteStream(path: string, options: { mode: number }): Writable;
  /** Creates (or replaces the content of) a regular file in one call; used for small files. */
  writeFile(path: string, data: Buffer, options: { mode: number }): Promise<void>;
  /**
   * Creates a new regular file (failing if the name exists, never following a symlink) with its
   * content, owner (when given), mode and mtime, in one call. Optional: extraction uses it for
   * small files because one call beats five; without it, writeFile + lchown + chmod + lutimes.
   */
  createFile?(
    path: string,
    data: Buffer,
    meta: { mode: number; mtimeMs: number; owner?: { uid: number; gid: number } },
  ): Promise<void>;
  /** Creates one directory; its parent must exist. */
  mkdir(path: string, options: { mode: number }): Promise<void>;
  symlink(target: string, path: string): Promise<void>;
  link(existingPath: string, newPath: string): Promise<void>;
  chmod(path: string, mode: number): Promise<void>;
  lchown(path: string, uid: number, gid: number): Promise<void>;
  /** Sets access and modification times (milliseconds) without following a final symlink. */
  lutimes(path: string, atimeMs: number, mtimeMs: number): Promise<void>;
  /** Removes a file or (with `recursive`) a tree; a missing path is not an error. */
  rm(path: string, options?: { recursive?: boolean }): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  /**
   * Creates a device node or FIFO. Optional: used by extraction for `char`, `block` and `fifo`
   * entries; without it such entries fail with `KILN_DEVICE_NOT_ALLOWED`.
   */
  mknod?(
    path: string,
    kind: 'char' | 'block' | 'fifo',
    mode: number,
    major: number,
    minor: number,
  ): Promise<void>;
  /**
   * Reads the extended attributes of many objects in one call (batched because the node
   * implementation pays one process per call), never following a final symlink. Optional: used
   * by overlay conversion, directory diffs and `entriesFromDirectory({ xattrs: true })`.
   * Objects without xattrs may be absent.
   */
  readXattrs?(paths: string[]): Promise<Map<string, Xattrs>>;
  /**
   * Sets the given extended attributes (others are left as they are) of a regular file,
   * directory or symlink (never following it). Optional: used by extraction when an entry
   * carries xattrs; without it they are skipped and counted.
   */
  setXattrs?(path: string, kind: 'file' | 'dir' | 'symlink', xattrs: Xattrs): Promise<void>;
}

/** Lists a directory with stats through {@link FileSystem.listDir} when present, else readdir + lstat. */
export async function listDir(fs: FileSystem, dir: string): Promise<{ name: string; stat: FileStat }[]> {
  if (fs.listDir) return fs.listDir(dir);
  const names = await fs.readdir(dir);
  const stats = await Promise.all(names.map((n) => fs.lstat(dir.endsWith('/') ? dir + n : `${dir}/${n}`)));
  return names.map((name, i) => ({ name, stat: stats[i]! }));
}

/** Makes an error that looks like node:fs's for `code` (used by non-disk implementations). */
export function fsError(code: string, syscall: string, path: string): NodeJS.ErrnoException {
  const e: NodeJS.ErrnoException = new Error(`${code}: ${syscall} '${path}'`);
  e.code = code;
  e.syscall = syscall;
  e.path = path;
  return e;
}

/** True when `e` is a file system error with one of the given errno codes. */
export function isFsError(e: unknown, ...codes: string[]): boolean {
  return typeof e === 'object' && e !== null && codes.includes((e as { code?: string }).code ?? '');
}
