import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { execTool } from './exec.js';
import { type RegistryAccess, skopeoAccessFlags, skopeoRef } from './image-ref.js';
import type { ImageConfigJson } from './inspect.js';
import { scratchDir } from './scratch-dir.js';

/** Options of {@link umociUnpack}. @public */
export interface UnpackOptions {
  access?: RegistryAccess;
  /**
   * `umoci raw unpack`: only the rootfs, no runtime config.json. Needed when the image's
   * USER names a user its /etc/passwd lacks (full unpack fails then). Default false:
   * the full unpack also checks that the config converts to a runtime spec.
   */
  raw?: boolean;
  /** Parent of the work dir. Default: {@link scratchDir} (tmpfs when there is one). */
  parentDir?: string;
}

/** An image copied to an OCI layout and unpacked by umoci. @public */
export interface UnpackedImage {
  /** Work dir holding `layout/` and `bundle/`; `cleanup()` removes it. */
  dir: string;
  /** `oci:` layout dir (tag `img`). */
  layout: string;
  /** umoci bundle dir (`config.json` unless raw, and `rootfs/`). */
  bundle: string;
  /** The unpacked root filesystem. */
  rootfs: string;
  /** The image manifest in the OCI layout (platform-resolved, converted to OCI by skopeo). */
  manifest: { layers: { digest: string; mediaType: string; size: number }[]; [key: string]: unknown };
  /** The config blob as the source stores it (Docker extensions such as Healthcheck kept). */
  config: ImageConfigJson;
  /** Removes the work dir. */
  cleanup(): Promise<void>;
}

/**
 * umociUnpack: `skopeo copy` of `ref` into a fresh OCI layout, then `umoci unpack` of
 * it — both tools must accept the image, which is the point for kiln's outputs. As root,
 * file owners are kept; otherwise `--rootless` maps them to the caller. Costs ~0.3 s for
 * busybox, ~5 s for Debian (gunzip + write of 127 MiB). Images with zstd layers, which
 * umoci 0.4.7 rejects, are unpacked from a gzip copy (`layout` keeps the zstd original).
 * @public
 */
export async function umociUnpack(ref: string, opts: UnpackOptions = {}): Promise<UnpackedImage> {
  const dir = await mkdtemp(join(opts.parentDir ?? scratchDir(), 'kiln-unpack-'));
  try {
    const layout = join(dir, 'layout');
    const bundle = join(dir, 'bundle');
    await execTool('skopeo', [
      'copy',
      '--quiet',
      ...skopeoAccessFlags(ref, 'src', opts.access),
      skopeoRef(ref),
      `oci:${layout}:img`,
    ]);
    const index = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8')) as {
      manifests: { digest: string }[];
    };
    const blob = (digest: string) => readFile(join(layout, 'blobs', ...digest.split(':')), 'utf8');
    const manifest = JSON.parse(await blob(index.manifests[0]!.digest)) as UnpackedImage['manifest'];
    // umoci 0.4.7 refuses zstd layers: unpack from a gzip copy made by skopeo instead.
    let image = `${layout}:img`;
    if (manifest.layers.some((l) => l.mediaType.endsWith('zstd'))) {
      image = `${join(dir, 'layout-gzip')}:img`;
      const gzip = ['--dest-compress', '--dest-compress-format', 'gzip'];
      await execTool('skopeo', ['copy', '--quiet', ...gzip, `oci:${layout}:img`, `oci:${image}`]);
    }
    const rootless = process.getuid?.() === 0 ? [] : ['--rootless'];
    if (opts.raw) {
      await mkdir(bundle);
      await execTool('umoci', ['raw', 'unpack', ...rootless, '--image', image, join(bundle, 'rootfs')]);
    } else {
      await execTool('umoci', ['unpack', ...rootless, '--image', image, bundle]);
    }
    // The config as the source stores it: the copy into the OCI layout converted a Docker
    // schema2 config to OCI's schema, dropping Healthcheck, Shell, OnBuild and the like.
    const source = await execTool('skopeo', [
      'inspect',
      '--config',
      '--raw',
      ...skopeoAccessFlags(ref, '', opts.access),
      skopeoRef(ref),
    ]);
    const config = JSON.parse(source.stdout) as ImageConfigJson;
    return {
      dir,
      layout,
      bundle,
      rootfs: join(bundle, 'rootfs'),
      manifest,
      config,
      cleanup: () => rm(dir, { recursive: true, force: true }),
    };
  } catch (e) {
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
}

/** One line of {@link listRootfs}. @public */
export interface RootfsEntry {
  /** Path relative to the root, no leading `/`. */
  path: string;
  /** `f` file, `d` dir, `l` symlink, `c`/`b` device, `p` fifo, `s` socket. */
  type: string;
  /** Permission bits incl. setuid/setgid/sticky, octal. */
  mode: string;
  uid: number;
  gid: number;
  /** Regular files only. */
  size?: number;
  /** sha256 hex of a regular file's content. */
  sha256?: string;
  /** Symlink target. */
  link?: string;
  /** `major,minor` of a device. */
  rdev?: string;
  /** mtime in whole seconds (only with `mtime: true`). */
  mtime?: number;
  /**
   * For a regular file that shares its inode with other paths (a hardlink): the first of
   * those paths in listing order; unset on that first path itself.
   */
  hardlinkTo?: string;
}

/**
 * listRootfs: every entry below `root` (not following symlinks), sorted by path bytewise,
 * with type, mode, owner, size and sha256 of regular files, symlink target, device
 * numbers, hardlink groups (so a builder that turns hardlinks into copies is caught), and
 * optionally mtime. Reads every file once.
 * @public
 */
export async function listRootfs(root: string, opts: { mtime?: boolean } = {}): Promise<RootfsEntry[]> {
  const out: RootfsEntry[] = [];
  const inodes = new Map<string, RootfsEntry[]>();
  const hashes: (() => Promise<void>)[] = [];
  const walk = async (rel: string): Promise<void> => {
    const names = await readdir(rel ? join(root, rel) : root);
    const stats = await Promise.all(names.map((n) => lstat(join(root, rel, n))));
    for (const [i, name] of names.entries()) {
      const p = rel ? `${rel}/${name}` : name;
      const abs = join(root, p);
      const st = stats[i]!;
      const e: RootfsEntry = {
        path: p,
        type: fileType(st.mode),
        mode: (st.mode & 0o7777).toString(8).padStart(4, '0'),
        uid: st.uid,
        gid: st.gid,
      };
      if (e.type === 'f') {
        e.size = st.size;
        hashes.push(async () => {
          e.sha256 = await sha256File(abs, st.size);
        });
        if (st.nlink > 1) {
          const key = `${st.dev}:${st.ino}`;
          inodes.set(key, [...(inodes.get(key) ?? []), e]);
        }
      } else if (e.type === 'l') {
        e.link = await readlink(abs);
      } else if (e.type === 'c' || e.type === 'b') {
        e.rdev = deviceNumbers(st.rdev);
      }
      if (opts.mtime) e.mtime = Math.floor(st.mtimeMs / 1000);
      out.push(e);
      if (e.type === 'd') await walk(p);
    }
  };
  await walk('');
  // Hash with a few reads in flight: thousands of small files are latency-bound.
  let next = 0;
  const worker = async () => {
    while (next < hashes.length) await hashes[next++]!();
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  const byPath = (a: RootfsEntry, b: RootfsEntry) => Buffer.compare(Buffer.from(a.path), Buffer.from(b.path));
  for (const group of inodes.values()) {
    group.sort(byPath);
    for (const e of group.slice(1)) e.hardlinkTo = group[0]!.path;
  }
  return out.sort(byPath);
}

/**
 * formatEntry: one listing line, `path type mode uid:gid size sha256 link` (tab-separated);
 * `link` is the symlink target, `=> first/path` for a hardlink, or `major,minor` of a device.
 * @public
 */
export function formatEntry(e: RootfsEntry): string {
  const cols = [
    e.path,
    e.type,
    e.mode,
    `${e.uid}:${e.gid}`,
    e.size ?? '-',
    e.sha256 ?? '-',
    e.link ?? e.rdev ?? (e.hardlinkTo ? `=> ${e.hardlinkTo}` : '-'),
  ];
  if (e.mtime !== undefined) cols.push(e.mtime);
  return cols.join('\t');
}

/** `major,minor` from a Linux dev_t (glibc's encoding: 12+20 bits major, 8+24 bits minor). */
function deviceNumbers(rdev: number): string {
  const hi = Math.floor(rdev / 2 ** 32);
  const lo = rdev >>> 0;
  const major = ((lo >>> 8) & 0xfff) | (hi & ~0xfff);
  const minor = (lo & 0xff) | ((lo >>> 12) & ~0xff);
  return `${major},${minor}`;
}

function fileType(mode: number): string {
  switch (mode & 0o170000) {
    case 0o100000:
      return 'f';
    case 0o040000:
      return 'd';
    case 0o120000:
      return 'l';
    case 0o020000:
      return 'c';
    case 0o060000:
      return 'b';
    case 0o010000:
      return 'p';
    default:
      return 's';
  }
}

/** sha256 hex of a file: small files in one read, large ones streamed. */
async function sha256File(file: string, size: number): Promise<string> {
  const h = createHash('sha256');
  if (size <= 4 * 1024 * 1024) return h.update(await readFile(file)).digest('hex');
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}
