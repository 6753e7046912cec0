import { Readable, Writable } from 'node:stream';
import { type FileKind, type FileStat, type FileSystem, fsError, type Xattrs } from './file-system.js';

interface MemNode {
  kind: FileKind;
  mode: number;
  uid: number;
  gid: number;
  mtimeMs: number;
  ctimeMs: number;
  ino: number;
  nlink: number;
  data: Buffer;
  target: string;
  children: Map<string, MemNode> | undefined;
  rdevMajor: number;
  rdevMinor: number;
  xattrs: Xattrs;
}

/** Linux's limit on symlinks followed while resolving one path (MAXSYMLINKS). */
const MAX_SYMLINKS = 40;

interface Located {
  parent: MemNode;
  name: string;
  node: MemNode | undefined;
}

/**
 * MemoryFileSystem: a {@link FileSystem} held in memory, with inodes (hardlinks share one),
 * symlinks resolved as the kernel does (intermediate components followed, `..` after a
 * symlink goes to the target's parent, ELOOP after 40 links), and xattrs. For unit tests of
 * code that extracts or diffs layers, and for builds that never touch disk.
 */
export class MemoryFileSystem implements FileSystem {
  private nextIno = 1;
  /** Device number reported for every object (one file system). */
  readonly dev = 1;
  private readonly root: MemNode;

  constructor() {
    this.root = this.newNode('dir', 0o755);
  }

  private clock = 0;
  /** A strictly increasing change time, so that two changes in one millisecond still differ. */
  private tick(): number {
    this.clock = Math.max(this.clock + 0.001, Date.now());
    return this.clock;
  }

  private newNode(kind: FileKind, mode: number): MemNode {
    return {
      kind,
      mode: mode & 0o7777,
      uid: 0,
      gid: 0,
      mtimeMs: Date.now(),
      ctimeMs: this.tick(),
      ino: this.nextIno++,
      nlink: 1,
      data: Buffer.alloc(0),
      target: '',
      children: kind === 'dir' ? new Map() : undefined,
      rdevMajor: 0,
      rdevMinor: 0,
      xattrs: {},
    };
  }

  /** Resolves `path` to its parent directory and final name, following symlinks like the kernel. */
  private locate(path: string, syscall: string, followFinal: boolean): Located {
    if (!path.startsWith('/')) throw fsError('EINVAL', syscall, path);
    let links = 0;
    const stack: MemNode[] = [this.root];
    const parts = path.split('/').filter((s) => s !== '' && s !== '.');
    if (parts.length === 0) return { parent: this.root, name: '', node: this.root };
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i]!;
      const dir = stack[stack.length - 1]!;
      if (dir.kind !== 'dir') throw fsError('ENOTDIR', syscall, path);
      const last = i === parts.length - 1;
      if (part === '..') {
        if (stack.length > 1) stack.pop();
        if (last) return { parent: stack[stack.length - 1]!, name: '', node: stack[stack.length - 1]! };
        continue;
      }
      const node = dir.children!.get(part);
      if (last && (!followFinal || node?.kind !== 'symlink')) return { parent: dir, name: part, node };
      if (!node) throw fsError('ENOENT', syscall, path);
      if (node.kind === 'symlink') {
        if (++links > MAX_SYMLINKS) throw fsError('ELOOP', syscall, path);
        const rest = node.target.split('/').filter((s) => s !== '' && s !== '.');
        if (node.target.startsWith('/')) stack.length = 1;
        parts.splice(i + 1, 0, ...rest);
        if (rest.length === 0 && last)
          return { parent: stack[stack.length - 1]!, name: '', node: stack[stack.length - 1]! };
        continue;
      }
      stack.push(node);
    }
    const top = stack[stack.length - 1]!;
    return { parent: top, name: '', node: top };
  }

  private existing(path: string, syscall: string, followFinal = false): MemNode {
    const { node } = this.locate(path, syscall, followFinal);
    if (!node) throw fsError('ENOENT', syscall, path);
    return node;
  }

  private create(path: string, syscall: string, node: MemNode): void {
    const { parent, name, node: old } = this.locate(path, syscall, false);
    if (old || name === '') throw fsError('EEXIST', syscall, path);
    parent.children!.set(name, node);
  }

  async lstat(path: string): Promise<FileStat> {
    const n = this.existing(path, 'lstat');
    return {
      kind: n.kind,
      mode: n.mode,
      uid: n.uid,
      gid: n.gid,
      size: n.kind === 'symlink' ? Buffer.byteLength(n.target) : n.kind === 'dir' ? 4096 : n.data.length,
      mtimeMs: n.mtimeMs,
      ctimeMs: n.ctimeMs,
      dev: this.dev,
      ino: n.ino,
      nlink: n.nlink,
      rdevMajor: n.rdevMajor,
      rdevMinor: n.rdevMinor,
    };
  }

  async readdir(path: string): Promise<string[]> {
    const n = this.existing(path, 'scandir', true);
    if (n.kind !== 'dir') throw fsError('ENOTDIR', 'scandir', path);
    return [...n.children!.keys()];
  }

  async readlink(path: string): Promise<string> {
    const n = this.existing(path, 'readlink');
    if (n.kind !== 'symlink') throw fsError('EINVAL', 'readlink', path);
    return n.target;
  }

  createReadStream(path: string): Readable {
    try {
      const n = this.existing(path, 'open', true);
      if (n.kind === 'dir') throw fsError('EISDIR', 'read', path);
      return Readable.from([n.data], { objectMode: false });
    } catch (e) {
      const r = new Readable({ read() {} });
      process.nextTick(() => r.destroy(e as Error));
      return r;
    }
  }

  /** Opens for writing like O_CREAT|O_TRUNC: an existing file (or the file a symlink names) is reused. */
  private openForWrite(path: string, mode: number): MemNode {
    const { parent, name, node } = this.locate(path, 'open', true);
    if (node) {
      if (node.kind === 'dir') throw fsError('EISDIR', 'open', path);
      node.data = Buffer.alloc(0);
      node.ctimeMs = this.tick();
      return node;
    }
    const created = this.newNode('file', mode);
    parent.children!.set(name, created);
    return created;
  }

  createWriteStream(path: string, options: { mode: number }): Writable {
    const chunks: Buffer[] = [];
    let node: MemNode | undefined;
    return new Writable({
      construct: (cb) => {
        try {
          const { parent, name, node: existing } = this.locate(path, 'open', false);
          if (existing || name === '') throw fsError('EEXIST', 'open', path);
          node = this.newNode('file', options.mode);
          parent.children!.set(name, node);
          cb();
        } catch (e) {
          cb(e as Error);
        }
      },
      write(chunk: Buffer, _enc, cb) {
        chunks.push(chunk);
        cb();
      },
      final(cb) {
        node!.data = Buffer.concat(chunks);
        node!.mtimeMs = Date.now();
        node!.ctimeMs = Date.now();
        cb();
      },
    });
  }

  async writeFile(
    path: string,
    data: Buffer | string,
    options: { mode: number } = { mode: 0o644 },
  ): Promise<void> {
    const node = this.openForWrite(path, options.mode);
    node.data = Buffer.from(data);
    node.mtimeMs = Date.now();
  }

  async mkdir(path: string, options: { mode: number } = { mode: 0o755 }): Promise<void> {
    this.create(path, 'mkdir', this.newNode('dir', options.mode));
  }

  async symlink(target: string, path: string): Promise<void> {
    const n = this.newNode('symlink', 0o777);
    n.target = target;
    this.create(path, 'symlink', n);
  }

  async link(existingPath: string, newPath: string): Promise<void> {
    const n = this.existing(existingPath, 'link');
    if (n.kind === 'dir') throw fsError('EPERM', 'link', existingPath);
    this.create(newPath, 'link', n);
    n.nlink++;
    n.ctimeMs = this.tick();
  }

  async chmod(path: string, mode: number): Promise<void> {
    const n = this.existing(path, 'chmod', true);
    n.mode = mode & 0o7777;
    n.ctimeMs = this.tick();
  }

  async lchown(path: string, uid: number, gid: number): Promise<void> {
    const n = this.existing(path, 'lchown');
    n.uid = uid;
    n.gid = gid;
    n.ctimeMs = this.tick();
  }

  async lutimes(path: string, _atimeMs: number, mtimeMs: number): Promise<void> {
    const n = this.existing(path, 'lutimes');
    n.mtimeMs = mtimeMs;
    n.ctimeMs = this.tick();
  }

  async rm(path: string, options?: { recursive?: boolean }): Promise<void> {
    const { parent, name, node } = this.locate(path, 'rm', false);
    if (!node) return;
    if (name === '') throw fsError('EPERM', 'rm', path);
    if (node.kind === 'dir' && node.children!.size > 0 && !options?.recursive)
      throw fsError('ENOTEMPTY', 'rm', path);
    parent.children!.delete(name);
    node.nlink--;
  }

  async rename(from: string, to: string): Promise<void> {
    const src = this.locate(from, 'rename', false);
    if (!src.node || src.name === '') throw fsError('ENOENT', 'rename', from);
    const dst = this.locate(to, 'rename', false);
    if (dst.name === '') throw fsError('EBUSY', 'rename', to);
    if (dst.node?.kind === 'dir' && dst.node.children!.size > 0) throw fsError('ENOTEMPTY', 'rename', to);
    src.parent.children!.delete(src.name);
    dst.parent.children!.set(dst.name, src.node);
  }

  async mknod(
    path: string,
    kind: 'char' | 'block' | 'fifo',
    mode: number,
    major: number,
    minor: number,
  ): Promise<void> {
    const n = this.newNode(kind, mode);
    n.rdevMajor = major;
    n.rdevMinor = minor;
    this.create(path, 'mknod', n);
  }

  async readXattrs(paths: string[]): Promise<Map<string, Xattrs>> {
    const out = new Map<string, Xattrs>();
    for (const p of paths) {
      const n = this.existing(p, 'getxattr');
      if (Object.keys(n.xattrs).length > 0) out.set(p, { ...n.xattrs });
    }
    return out;
  }

  async setXattrs(path: string, _kind: 'file' | 'dir' | 'symlink', xattrs: Xattrs): Promise<void> {
    const n = this.existing(path, 'setxattr');
    Object.assign(n.xattrs, xattrs);
    n.ctimeMs = this.tick();
  }

  /** Reads a whole regular file (a convenience for tests). */
  async readFile(path: string): Promise<Buffer> {
    const n = this.existing(path, 'open', true);
    if (n.kind !== 'file') throw fsError('EISDIR', 'read', path);
    return n.data;
  }
}
