import { spawn } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { SnapshotError } from '../errors.js';
import { END_OF_ARCHIVE, encodeTarHeader, padding } from '../tar/tar-header.js';
import { readTar } from '../tar/tar-reader.js';
import type { FileKind, FileStat, FileSystem, Xattrs } from './file-system.js';
import { xattrSyscalls } from './xattr-syscalls.js';

/** Maps node's Stats to {@link FileStat}. */
export function toFileStat(st: fs.Stats): FileStat {
  const kind: FileKind = st.isFile()
    ? 'file'
    : st.isDirectory()
      ? 'dir'
      : st.isSymbolicLink()
        ? 'symlink'
        : st.isCharacterDevice()
          ? 'char'
          : st.isBlockDevice()
            ? 'block'
            : st.isFIFO()
              ? 'fifo'
              : 'socket';
  // Linux's dev_t encoding (glibc gnu_dev_major/minor), for values below 2^32.
  const rdev = st.rdev;
  return {
    kind,
    mode: st.mode & 0o7777,
    uid: st.uid,
    gid: st.gid,
    size: st.size,
    mtimeMs: st.mtimeMs,
    ctimeMs: st.ctimeMs,
    dev: st.dev,
    ino: st.ino,
    nlink: st.nlink,
    rdevMajor: ((rdev >>> 8) & 0xfff) | (Math.floor(rdev / 2 ** 32) & ~0xfff),
    rdevMinor: (rdev & 0xff) | ((rdev >>> 12) & 0xfff00),
  };
}

/** Runs a command, feeding `input`; resolves with stdout chunks' stream consumer result. */
function run(
  cmd: string,
  args: string[],
  input: Readable | Buffer | undefined,
  consume?: (stdout: Readable) => Promise<void>,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', consume ? 'pipe' : 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    let consumed: Promise<void> = Promise.resolve();
    if (consume) consumed = consume(child.stdout!);
    consumed.catch(() => child.kill());
    child.on('error', reject);
    child.on('close', (code) => {
      consumed.then(() => {
        // GNU tar exits 1 when a file changed while being read: the metadata read is still valid.
        if (code === 0 || (cmd === 'tar' && code === 1)) resolve();
        else reject(new Error(`${cmd} ${args.join(' ')} exited ${code}: ${stderr.trim()}`));
      }, reject);
    });
    child.stdin!.on('error', () => undefined);
    if (input === undefined) child.stdin!.end();
    else if (Buffer.isBuffer(input)) child.stdin!.end(input);
    else input.pipe(child.stdin!);
  });
}

function xattrUnavailable(cause: unknown): SnapshotError {
  return new SnapshotError(
    'KILN_XATTR_UNAVAILABLE',
    'extended attributes are read and written through perl (its syscall builtin) or else GNU tar (--xattrs), which failed or are missing',
    { cause },
  );
}

/**
 * Reads xattrs of many paths with one GNU tar process (`tar --xattrs -c --no-recursion`): Node
 * has no xattr API and GNU tar is present wherever kiln's Debian-based runtime is. Tar reads
 * regular files' content too, so callers ask for directories where they can.
 */
async function readXattrsWithTar(paths: string[]): Promise<Map<string, Xattrs>> {
  const result = new Map<string, Xattrs>();
  if (paths.length === 0) return result;
  const list = Buffer.from(paths.map((p) => `${p}\0`).join(''));
  const args = ['--xattrs', '--xattrs-include=*', '--no-recursion', '-P', '--null', '-T', '-', '-cf', '-'];
  try {
    await run('tar', args, list, async (stdout) => {
      for await (const entry of readTar(stdout)) {
        if (entry.header.xattrs) result.set(path.posix.normalize(entry.header.name), entry.header.xattrs);
      }
    });
  } catch (e) {
    throw xattrUnavailable(e);
  }
  return result;
}

/**
 * Sets xattrs with GNU tar: a one-entry archive carrying them as SCHILY.xattr records is
 * extracted over the object. A directory keeps its content; a regular file is moved aside and
 * its bytes are streamed back through tar into a new inode. Costs one process per call.
 */
async function setXattrsWithTar(
  target: string,
  kind: 'file' | 'dir' | 'symlink',
  xattrs: Xattrs,
): Promise<void> {
  if (kind === 'symlink') throw xattrUnavailable(new Error('GNU tar cannot set xattrs on a symlink'));
  const dir = path.dirname(target);
  const base = path.basename(target);
  const st = await fsp.lstat(target);
  const header = (size: number) =>
    encodeTarHeader({
      name: base,
      type: kind,
      mode: st.mode & 0o7777,
      uid: st.uid,
      gid: st.gid,
      size,
      mtimeMs: st.mtimeMs,
      linkname: '',
      uname: '',
      gname: '',
      devmajor: 0,
      devminor: 0,
      xattrs,
    });
  const args = ['--xattrs', '--xattrs-include=*', '-x', '-f', '-', '-C', dir];
  try {
    if (kind === 'dir') {
      await run('tar', args, Buffer.concat([header(0), END_OF_ARCHIVE]));
      return;
    }
    const aside = path.join(dir, `.kiln-xattr-${process.pid}-${base}`);
    await fsp.rename(target, aside);
    try {
      const archive = Readable.from(
        (async function* () {
          yield header(st.size);
          for await (const chunk of fs.createReadStream(aside)) yield chunk as Buffer;
          yield Buffer.alloc(padding(st.size));
          yield END_OF_ARCHIVE;
        })(),
      );
      await run('tar', args, archive);
    } catch (e) {
      await fsp.rename(aside, target).catch(() => undefined);
      throw e;
    }
    await fsp.rm(aside, { force: true });
  } catch (e) {
    throw xattrUnavailable(e);
  }
}

/** Xattrs through perl's syscall builtin (no file content read), else GNU tar. */
async function readXattrs(paths: string[]): Promise<Map<string, Xattrs>> {
  const sys = await xattrSyscalls();
  if (!sys) return readXattrsWithTar(paths);
  try {
    return await sys.read(paths);
  } catch (e) {
    throw xattrUnavailable(e);
  }
}

async function setXattrs(target: string, kind: 'file' | 'dir' | 'symlink', xattrs: Xattrs): Promise<void> {
  const sys = await xattrSyscalls();
  if (!sys) return setXattrsWithTar(target, kind, xattrs);
  try {
    await sys.set(target, xattrs);
  } catch (e) {
    throw xattrUnavailable(e);
  }
}

/**
 * nodeFileSystem: the real disk through node:fs. Device nodes and FIFOs are made with the
 * `mknod` command (Node has no mknod); extended attributes are read and set by one `perl`
 * process per call through its syscall builtin (see `xattr-syscalls.ts`), or with GNU tar
 * where perl is missing (which reads, and for setting rewrites, regular files' content).
 */
export const nodeFileSystem: FileSystem = {
  async lstat(p) {
    return toFileStat(await fsp.lstat(p));
  },
  readdir: (p) => fsp.readdir(p),
  readlink: (p) => fsp.readlink(p),
  // Synchronous on purpose: lstat of cached metadata costs ~2 µs as a syscall but ~20 µs as a
  // thread-pool round trip. The event loop is held for one directory at a time, and released
  // between directories.
  async listDir(p) {
    await new Promise((r) => setImmediate(r));
    const prefix = p.endsWith('/') ? p : `${p}/`;
    return fs.readdirSync(p).map((name) => ({ name, stat: toFileStat(fs.lstatSync(prefix + name)) }));
  },
  // Synchronous, like listDir and createFile: callers read small files with it (the layer writer
  // up to 256 KiB), where four syscalls beat four thread-pool round trips and their promises.
  readFile: async (p) => fs.readFileSync(p),
  createReadStream: (p) => fs.createReadStream(p, { highWaterMark: 1024 * 1024 }),
  createWriteStream: (p, { mode }) =>
    fs.createWriteStream(p, {
      mode,
      // Numeric open(2) flags are passed to fs.open as they are; @types/node only declares strings.
      flags: (fs.constants.O_WRONLY |
        fs.constants.O_CREAT |
        fs.constants.O_EXCL |
        fs.constants.O_NOFOLLOW) as unknown as string,
    }),
  writeFile: (p, data, { mode }) => fsp.writeFile(p, data, { mode }),
  // Synchronous on purpose, like listDir: six syscalls of a few µs each, against five thread-pool
  // round trips of ~20 µs (far more on a loaded machine). This is how GNU tar extracts.
  async createFile(p, data, { mode, mtimeMs, owner }) {
    const fd = fs.openSync(
      p,
      fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW,
      mode & 0o777,
    );
    try {
      for (let off = 0; off < data.length; ) off += fs.writeSync(fd, data, off, data.length - off);
      if (owner) fs.fchownSync(fd, owner.uid, owner.gid);
      // After chown, which clears setuid/setgid; and the creation mode went through the umask.
      fs.fchmodSync(fd, mode);
      fs.futimesSync(fd, mtimeMs / 1000, mtimeMs / 1000);
    } finally {
      fs.closeSync(fd);
    }
  },
  // The metadata calls below are synchronous for the reason createFile is: each is a few µs of system
  // time, while a thread-pool round trip costs ~20 µs (much more under load), and extraction makes
  // several per entry.
  async mkdir(p, { mode }) {
    fs.mkdirSync(p, { mode });
  },
  async symlink(target, p) {
    fs.symlinkSync(target, p);
  },
  async link(existing, p) {
    fs.linkSync(existing, p);
  },
  async chmod(p, mode) {
    fs.chmodSync(p, mode);
  },
  async lchown(p, uid, gid) {
    fs.lchownSync(p, uid, gid);
  },
  async lutimes(p, atimeMs, mtimeMs) {
    fs.lutimesSync(p, atimeMs / 1000, mtimeMs / 1000);
  },
  rm: (p, options) => fsp.rm(p, { force: true, recursive: options?.recursive === true }),
  rename: (from, to) => fsp.rename(from, to),
  async mknod(p, kind, mode, major, minor) {
    const typeArgs = kind === 'fifo' ? ['p'] : [kind === 'char' ? 'c' : 'b', String(major), String(minor)];
    await run('mknod', ['-m', (mode & 0o7777).toString(8), p, ...typeArgs], undefined);
  },
  readXattrs,
  setXattrs,
};
