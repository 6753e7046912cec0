import type { Readable } from 'node:stream';
import { SnapshotError, throwIfAborted } from '../errors.js';
import { type FileStat, type FileSystem, isFsError } from '../fs/file-system.js';
import { nodeFileSystem } from '../fs/node-file-system.js';
import { decompressAuto } from '../layer/compression.js';
import { classifyWhiteout } from '../layer/whiteout.js';
import type { TarHeader } from '../tar/tar-header.js';
import { readTar } from '../tar/tar-reader.js';
import { layerPathComponents, RootResolver } from './root-resolver.js';

/** Options of {@link extractLayer}. */
export interface ExtractOptions {
  /** Default {@link nodeFileSystem}. */
  fs?: FileSystem;
  /**
   * `keep`: chown every entry to its uid/gid (fails without the privilege); `ignore`: never;
   * `auto` (default): chown when running as uid 0 (root, or root inside a user namespace),
   * and count — not fail — ids the namespace cannot map.
   */
  ownership?: 'keep' | 'ignore' | 'auto';
  /** Create char/block device nodes (needs privilege). false (default) rejects them; `'skip'` drops them. */
  allowDevices?: boolean | 'skip';
  /** Apply xattrs carried by entries (best effort, failures counted). Default true; overlay's own are never applied. */
  xattrs?: boolean;
  signal?: AbortSignal;
}

/** ExtractResult: counts of what was applied and of what was skipped on purpose. */
export interface ExtractResult {
  entries: number;
  whiteouts: number;
  /** Entries whose ownership could not be applied (ownership `auto`). */
  ownershipSkipped: number;
  /** Xattrs that could not be applied, as `path: name`. */
  xattrsSkipped: string[];
  /** Device nodes dropped with `allowDevices: 'skip'`. */
  devicesSkipped: number;
}

// Files up to this size are collected in memory and written with one call: at once through
// FileSystem.createFile, else concurrently with the following entries (bounded by
// MAX_IN_FLIGHT, hence the smaller limit). Larger ones are streamed in order.
const WHOLE_FILE = 16 * 1024 * 1024;
const WHOLE_FILE_CONCURRENT = 1024 * 1024;
const MAX_IN_FLIGHT = 16;

/** Applies one layer to a root directory; see {@link extractLayer}. */
class Extraction {
  private readonly fs: FileSystem;
  private readonly resolver: RootResolver;
  private readonly chown: 'keep' | 'ignore' | 'auto';
  /** Paths (root-relative, resolved) written by this layer: opaque markers and whiteouts spare them. */
  private readonly touched = new Set<string>();
  private readonly inFlight = new Map<string, Promise<void>>();
  private failure: unknown;
  /**
   * Mode and times of this layer's directories, applied at the end, by real path: a later entry for
   * the same directory wins, and replacing a directory forgets what was recorded at or below it.
   */
  private readonly dirTimes = new Map<
    string,
    { real: string[]; entry: string; mtimeMs: number; mode: number }
  >();
  readonly result: ExtractResult = {
    entries: 0,
    whiteouts: 0,
    ownershipSkipped: 0,
    xattrsSkipped: [],
    devicesSkipped: 0,
  };

  constructor(
    root: string,
    private readonly options: ExtractOptions,
  ) {
    this.fs = options.fs ?? nodeFileSystem;
    this.resolver = new RootResolver(this.fs, root);
    const own = options.ownership ?? 'auto';
    this.chown = own === 'auto' && process.getuid?.() !== 0 ? 'ignore' : own;
  }

  private async barrier(): Promise<void> {
    await Promise.all(this.inFlight.values());
    if (this.failure) throw this.failure;
  }

  private track(key: string, work: Promise<void>): void {
    const p = work.then(
      () => {
        if (this.inFlight.get(key) === p) this.inFlight.delete(key);
      },
      (e) => {
        this.failure ??= e;
        if (this.inFlight.get(key) === p) this.inFlight.delete(key);
      },
    );
    this.inFlight.set(key, p);
  }

  private async waitFor(key: string): Promise<void> {
    const p = this.inFlight.get(key);
    if (p) await p;
    if (this.inFlight.size >= MAX_IN_FLIGHT) await Promise.race(this.inFlight.values());
    if (this.failure) throw this.failure;
  }

  private async lstat(host: string): Promise<FileStat | undefined> {
    try {
      return await this.fs.lstat(host);
    } catch (e) {
      if (isFsError(e, 'ENOENT')) return undefined;
      throw e;
    }
  }

  async apply(stream: Readable): Promise<ExtractResult> {
    const tar = await decompressAuto(stream);
    try {
      for await (const entry of readTar(tar)) {
        throwIfAborted(this.options.signal);
        if (this.failure) throw this.failure;
        await this.entry(entry.header, entry.body);
      }
      await this.barrier();
      // Directory times last: creating children changed them.
      for (const d of [...this.dirTimes.values()].reverse()) {
        // The directory may have been removed or replaced later in the same layer (possibly by a
        // symlink, which chmod would follow out of the root): apply only to what is still a directory.
        const now = await this.resolver.resolve(d.real, d.entry, false);
        if (now?.stat?.kind !== 'dir' || now.components.join('/') !== d.real.join('/')) continue;
        const host = this.resolver.host(now.components);
        if (d.mode >= 0) await this.fs.chmod(host, d.mode);
        await this.fs.lutimes(host, d.mtimeMs, d.mtimeMs);
      }
    } catch (e) {
      tar.destroy();
      stream.destroy();
      await Promise.allSettled(this.inFlight.values());
      throw e;
    }
    return this.result;
  }

  private async entry(h: TarHeader, body: () => AsyncGenerator<Buffer>): Promise<void> {
    const parts = layerPathComponents(h.name);
    if (parts.length === 0) {
      // The root itself ("./"): only its metadata applies.
      if (h.type === 'dir') this.dirTime('', { real: [], entry: h.name, mtimeMs: h.mtimeMs, mode: -1 });
      return;
    }
    const base = parts[parts.length - 1]!;
    const wh = classifyWhiteout(base);
    if (wh) return this.whiteout(h, parts.slice(0, -1), wh.kind === 'opaque' ? undefined : wh.target);
    if (h.type === 'char' || h.type === 'block') {
      if (this.options.allowDevices === 'skip') {
        this.result.devicesSkipped++;
        return;
      }
      if (this.options.allowDevices !== true) {
        throw new SnapshotError(
          'KILN_DEVICE_NOT_ALLOWED',
          `${h.type} device ${h.devmajor}:${h.devminor} in layer`,
          {
            entry: h.name,
          },
        );
      }
    }
    const dir = (await this.resolver.resolveDir(parts.slice(0, -1), h.name, true))!;
    const real = [...dir, base];
    const key = real.join('/');
    const host = this.resolver.host(real);
    await this.waitFor(key);
    this.result.entries++;
    for (let i = 1; i <= real.length; i++) this.touched.add(real.slice(0, i).join('/'));

    // What is there now? Nothing, when the parent was created by this extraction and the name is new
    // (neither an entry nor a directory made on the way to one).
    const fresh =
      this.resolver.created.has(dir.join('/')) && !this.seen.has(key) && !this.resolver.created.has(key);
    this.seen.add(key);
    const existing = fresh ? undefined : await this.lstat(host);
    if (existing) {
      if (existing.kind === 'dir' && h.type === 'dir') {
        // Merge: keep content, update metadata below.
      } else {
        // Replace: never write through what is there (it may be a symlink pointing anywhere).
        await this.barrier();
        await this.fs.rm(host, { recursive: existing.kind === 'dir' });
        if (existing.kind === 'dir' || existing.kind === 'symlink') this.resolver.invalidate();
        if (existing.kind === 'dir') {
          for (const k of this.dirTimes.keys())
            if (k === key || k.startsWith(`${key}/`)) this.dirTimes.delete(k);
        }
      }
    }

    switch (h.type) {
      case 'dir':
        if (existing?.kind !== 'dir') {
          await this.fs.mkdir(host, { mode: 0o700 });
          this.resolver.created.add(key);
        }
        await this.owner(host, h);
        await this.applyXattrs(host, 'dir', h);
        this.dirTime(key, { real, entry: h.name, mtimeMs: h.mtimeMs, mode: h.mode });
        return;
      case 'file':
        return this.file(h, host, key, body);
      case 'symlink':
        await this.fs.symlink(h.linkname, host);
        await this.owner(host, h);
        // lsetxattr: the link itself (Linux allows security.* there, not user.*; failures are counted).
        await this.applyXattrs(host, 'symlink', h);
        await this.fs.lutimes(host, h.mtimeMs, h.mtimeMs);
        return;
      case 'hardlink':
        return this.hardlink(h, host);
      default: {
        if (!this.fs.mknod) {
          throw new SnapshotError(
            'KILN_DEVICE_NOT_ALLOWED',
            `this file system cannot create ${h.type} nodes`,
            {
              entry: h.name,
            },
          );
        }
        await this.fs.mknod(host, h.type, h.mode, h.devmajor, h.devminor);
        await this.finish(host, h, true);
      }
    }
  }

  private readonly seen = new Set<string>();

  private dirTime(key: string, d: { real: string[]; entry: string; mtimeMs: number; mode: number }): void {
    this.dirTimes.delete(key);
    this.dirTimes.set(key, d);
  }

  private async file(
    h: TarHeader,
    host: string,
    key: string,
    body: () => AsyncGenerator<Buffer>,
  ): Promise<void> {
    if (h.size <= (this.fs.createFile && !h.xattrs ? WHOLE_FILE : WHOLE_FILE_CONCURRENT)) {
      const parts: Buffer[] = [];
      for await (const slice of body()) parts.push(slice);
      const data = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
      if (this.fs.createFile && !h.xattrs) return this.createFile(h, host, data);
      this.track(
        key,
        (async () => {
          await this.fs.writeFile(host, data, { mode: h.mode & 0o777 });
          await this.finish(host, h, true);
        })(),
      );
      return;
    }
    const out = this.fs.createWriteStream(host, { mode: h.mode & 0o777 });
    await new Promise<void>((resolve, reject) => {
      out.on('error', reject);
      out.on('finish', resolve);
      (async () => {
        for await (const slice of body()) {
          if (!out.write(slice)) await new Promise((r) => out.once('drain', r));
        }
        out.end();
      })().catch((e) => {
        out.destroy();
        reject(e);
      });
    });
    await this.finish(host, h, true);
  }

  /** One-call creation of a small file (see FileSystem.createFile). */
  private async createFile(h: TarHeader, host: string, data: Buffer): Promise<void> {
    const meta = { mode: h.mode, mtimeMs: h.mtimeMs };
    if (this.chown === 'ignore') return this.fs.createFile!(host, data, meta);
    try {
      await this.fs.createFile!(host, data, { ...meta, owner: { uid: h.uid, gid: h.gid } });
    } catch (e) {
      if (this.chown !== 'auto' || !isFsError(e, 'EINVAL', 'EPERM')) throw e;
      // An id the user namespace cannot map: keep the file, owned by us.
      this.result.ownershipSkipped++;
      await this.fs.rm(host);
      await this.fs.createFile!(host, data, meta);
    }
  }

  private async hardlink(h: TarHeader, host: string): Promise<void> {
    const targetParts = layerPathComponents(h.linkname, 'hardlink target');
    // The target may still be being written (small files are written concurrently).
    await this.barrier();
    // link(2) does not follow a final symlink; directories on the way resolve inside the root.
    const target = await this.resolver.resolve(targetParts, h.name, false);
    if (!target?.stat || target.stat.kind === 'dir') {
      throw new SnapshotError(
        'KILN_BAD_HARDLINK',
        `hardlink target ${JSON.stringify(h.linkname)} is ${target?.stat ? 'a directory' : 'not in the root'}`,
        { entry: h.name },
      );
    }
    await this.fs.link(this.resolver.host(target.components), host);
  }

  /** Ownership, xattrs, mode and mtime of a non-directory, in the order that keeps setuid bits. */
  private async finish(host: string, h: TarHeader, chmod: boolean): Promise<void> {
    await this.owner(host, h);
    // After chown, which drops security.capability; before chmod and the times, which keep it.
    if (h.xattrs && h.type === 'file') await this.applyXattrs(host, 'file', h);
    // chown clears setuid/setgid, and creation modes pass through the umask: set the mode last.
    if (chmod) await this.fs.chmod(host, h.mode);
    await this.fs.lutimes(host, h.mtimeMs, h.mtimeMs);
  }

  private async owner(host: string, h: TarHeader): Promise<void> {
    if (this.chown === 'ignore') return;
    try {
      await this.fs.lchown(host, h.uid, h.gid);
    } catch (e) {
      if (this.chown === 'auto' && isFsError(e, 'EINVAL', 'EPERM')) this.result.ownershipSkipped++;
      else throw e;
    }
  }

  private async applyXattrs(host: string, kind: 'file' | 'dir' | 'symlink', h: TarHeader): Promise<void> {
    if (!h.xattrs || this.options.xattrs === false) return;
    const wanted = Object.fromEntries(
      Object.entries(h.xattrs).filter(([k]) => !/^(trusted|user)\.overlay\./.test(k)),
    );
    if (Object.keys(wanted).length === 0) return;
    if (!this.fs.setXattrs) {
      for (const k of Object.keys(wanted)) this.result.xattrsSkipped.push(`${h.name}: ${k}`);
      return;
    }
    try {
      await this.fs.setXattrs(host, kind, wanted);
    } catch {
      for (const k of Object.keys(wanted)) this.result.xattrsSkipped.push(`${h.name}: ${k}`);
    }
  }

  private async whiteout(h: TarHeader, dirParts: string[], target: string | undefined): Promise<void> {
    this.result.whiteouts++;
    await this.barrier();
    if (target !== undefined && (target === '' || target === '.' || target === '..')) {
      throw new SnapshotError('KILN_PATH_ESCAPE', 'a whiteout must name one entry of its own directory', {
        entry: h.name,
      });
    }
    const dir = await this.resolver.resolveDir(dirParts, h.name, false);
    if (!dir) return; // nothing below to hide
    const names = target === undefined ? await this.fs.readdir(this.resolver.host(dir)) : [target];
    for (const name of names) {
      const key = [...dir, name].join('/');
      // A whiteout hides lower layers only: what this layer wrote stays.
      if (this.touched.has(key)) continue;
      await this.fs.rm(this.resolver.host([...dir, name]), { recursive: true });
    }
    this.resolver.invalidate();
  }
}

/**
 * extractLayer: applies a layer (gzip, zstd or plain tar, detected from its first bytes) to
 * `root`: creates files, directories, symlinks, hardlinks, FIFOs and (if allowed) devices
 * with their modes, owners, mtimes and xattrs, and applies OCI whiteouts. Every path is resolved
 * inside `root` like chroot would: symlinks already in the root are followed inside it, never on
 * the host; a final symlink is replaced, never written through; `..` in entry names and
 * hardlinks to anything outside are rejected with `KILN_PATH_ESCAPE` / `KILN_BAD_HARDLINK`.
 * Reads the stream to its end; small files are written concurrently (bounded).
 */
export async function extractLayer(
  stream: Readable,
  root: string,
  options: ExtractOptions = {},
): Promise<ExtractResult> {
  throwIfAborted(options.signal);
  return new Extraction(root, options).apply(stream);
}
