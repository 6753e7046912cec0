import { createReadStream, createWriteStream } from 'node:fs';
import {
  chmod,
  copyFile,
  link,
  mkdir,
  mkdtemp,
  readFile,
  rename,
  rm,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { copyImage } from '../lib/copy-image.js';
import { execTool, TestHarnessError } from '../lib/exec.js';
import { unmountBelow } from '../lib/mounts.js';
import { debianMirror } from './debian-mirror.js';
import { deterministicTar } from './deterministic-tar.js';
import { withDirLock } from './dir-lock.js';
import { blobPath, initLayout, type LayerBlob, writeImage, writeLayerBlob } from './oci-layout-writer.js';

/** 2024-01-01T00:00:00Z: mtimes of the busybox rootfs and `created` of every base image. */
export const BASE_IMAGE_EPOCH = Number(process.env.SOURCE_DATE_EPOCH ?? 1_704_067_200);

/** PATH of both base images, as Debian's official images set it. */
export const BASE_IMAGE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** The Debian suite of the Debian base image. */
export const DEBIAN_SUITE = 'bookworm';

/**
 * Persistent cache (outside the repository) for the debootstrap rootfs and its gzip
 * layer: the first run costs ~70 s of debootstrap, reruns ~0 s.
 */
export function testCacheDir(): string {
  return process.env.KILN_TEST_CACHE ?? '/var/cache/kiln-test';
}

/** One base image built into an OCI layout by {@link buildBaseImages}. @public */
export interface BuiltBaseImage {
  /** OCI layout directory. */
  layout: string;
  /** Tag of the image inside the layout. */
  tag: string;
  /** `oci:LAYOUT:TAG`, a skopeo/kiln input reference. */
  ociRef: string;
  /** Manifest digest (the same after a push without conversion). */
  digest: string;
  /** The single layer. */
  layer: LayerBlob;
}

/** What {@link buildBaseImages} made. @public */
export interface BaseImageLayouts {
  busybox: BuiltBaseImage;
  debian?: BuiltBaseImage;
  /** Wall times of the steps, in ms. */
  timings: Record<string, number>;
}

/** Options of {@link buildBaseImages} and {@link seedBaseImages}. @public */
export interface BaseImageOptions {
  /** Also build the Debian minbase image (debootstrap on the first run; needs root). Default false. */
  debian?: boolean;
  /** Where the OCI layouts go. Default: a fresh temp dir. Kept after the call. */
  workDir?: string;
  /** Cache dir for the Debian rootfs. Default {@link testCacheDir}. */
  cacheDir?: string;
}

/** Credentials and TLS trust for pushing to a registry. @public */
export interface PushTarget {
  /** `127.0.0.1:PORT`. */
  host: string;
  /** Basic-auth user and password, when the registry wants them. */
  creds?: { user: string; password: string };
  /** certs.d-style dir holding `ca.crt` for HTTPS; without it TLS is not verified (plain HTTP works). */
  certDir?: string;
}

/** References and digests of the pushed base images (see {@link seedBaseImages}). @public */
export interface SeededImages {
  /** `HOST/busybox:latest`: OCI manifest. */
  busybox: string;
  /** `HOST/busybox:v2s2`: the same image with Docker schema2 media types. */
  busyboxV2s2: string;
  /** `HOST/debian:bookworm` (OCI), when Debian was asked for. */
  debian?: string;
  /** `HOST/debian:bookworm-v2s2` (Docker schema2), when Debian was asked for. */
  debianV2s2?: string;
  /** Manifest digests as the registry serves them, by the same keys. */
  digests: { busybox: string; busyboxV2s2: string; debian?: string; debianV2s2?: string };
  /** `oci:DIR:TAG` inputs of the same images. */
  oci: { busybox: string; debian?: string };
  /** Wall times of the steps, in ms. */
  timings: Record<string, number>;
}

/**
 * seedBaseImages: {@link buildBaseImages} then {@link pushBaseImages} to one registry.
 * @public
 */
export async function seedBaseImages(
  registry: string | PushTarget,
  opts: BaseImageOptions = {},
): Promise<SeededImages> {
  const built = await buildBaseImages(opts);
  const target = typeof registry === 'string' ? { host: registry } : registry;
  return pushBaseImages(built, target);
}

/**
 * buildBaseImages: makes the test base images locally, each a one-layer OCI image in its
 * own layout: busybox (busybox-static + applet symlinks + passwd/group, ~1 MiB, ~0.3 s)
 * and optionally Debian bookworm minbase (debootstrap, cached). Digests are reproducible:
 * busybox's on every machine with the same busybox-static, Debian's while the cache is kept.
 * @public
 */
export async function buildBaseImages(opts: BaseImageOptions = {}): Promise<BaseImageLayouts> {
  const workDir = opts.workDir ?? (await mkdtemp(join(tmpdir(), 'kiln-base-images-')));
  const timings: Record<string, number> = {};
  const timed = async <T>(label: string, f: () => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    try {
      return await f();
    } finally {
      timings[label] = Math.round(performance.now() - t0);
    }
  };
  const architecture = ociArchitecture();
  const busybox = await timed('busybox: rootfs + layer + image', async () => {
    const rootfs = join(workDir, 'rootfs-busybox');
    await makeBusyboxRootfs(rootfs);
    const layout = join(workDir, 'busybox');
    await initLayout(layout);
    const layer = await writeLayerBlob(
      layout,
      await deterministicTar(rootfs, { mtime: BASE_IMAGE_EPOCH, rootOwned: true }),
    );
    await rm(rootfs, { recursive: true, force: true });
    // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's own format syntax
    const version = (await execTool('dpkg-query', ['-W', '-f=${Version}', 'busybox-static'])).stdout;
    return finishImage(
      layout,
      'busybox',
      layer,
      ['sh'],
      `kiln-test: busybox-static ${version} rootfs`,
      architecture,
    );
  });
  let debian: BuiltBaseImage | undefined;
  if (opts.debian) {
    const cacheDir = opts.cacheDir ?? testCacheDir();
    const rootTar = await timed('debian: cached rootfs tar (debootstrap if missing)', () =>
      debianRootfsTar(cacheDir, architecture),
    );
    debian = await timed('debian: layer + image', async () => {
      const layout = join(workDir, 'debian');
      await initLayout(layout);
      const layer = await cachedLayer(rootTar, layout);
      return finishImage(
        layout,
        DEBIAN_SUITE,
        layer,
        ['bash'],
        `kiln-test: debootstrap --variant=minbase ${DEBIAN_SUITE}`,
        architecture,
      );
    });
  }
  return { busybox, debian, timings };
}

async function finishImage(
  layout: string,
  tag: string,
  layer: LayerBlob,
  cmd: string[],
  createdBy: string,
  architecture: string,
): Promise<BuiltBaseImage> {
  const digest = await writeImage(layout, tag, {
    layers: [layer],
    config: { Env: [`PATH=${BASE_IMAGE_PATH}`], Cmd: cmd },
    created: new Date(BASE_IMAGE_EPOCH * 1000).toISOString().replace('.000Z', 'Z'),
    createdBy: [createdBy],
    architecture,
  });
  return { layout, tag, ociRef: `oci:${layout}:${tag}`, digest, layer };
}

/**
 * pushBaseImages: copies the built images to `target` with skopeo, each twice: as is
 * (OCI manifest) and converted to Docker schema2 (`--format v2s2`, same layer blob).
 * Returns the references and the digests the registry reports.
 * @public
 */
export async function pushBaseImages(built: BaseImageLayouts, target: PushTarget): Promise<SeededImages> {
  const timings: Record<string, number> = {};
  const access = { certDir: target.certDir, creds: target.creds };
  const push = async (image: BuiltBaseImage, dest: string, v2s2: boolean): Promise<string> => {
    const t0 = performance.now();
    const digest = await copyImage(image.ociRef, dest, {
      destAccess: access,
      format: v2s2 ? 'v2s2' : undefined,
    });
    timings[`push ${dest}`] = Math.round(performance.now() - t0);
    return digest;
  };
  const h = target.host;
  const refs = {
    busybox: `${h}/busybox:latest`,
    busyboxV2s2: `${h}/busybox:v2s2`,
    debian: built.debian ? `${h}/debian:${DEBIAN_SUITE}` : undefined,
    debianV2s2: built.debian ? `${h}/debian:${DEBIAN_SUITE}-v2s2` : undefined,
  };
  // One push at a time per repository: distribution 2.8 answers 500 when two uploads of
  // the same blob into one repository race (seen here). The second push finds the blob.
  const busybox = await push(built.busybox, refs.busybox, false);
  const busyboxV2s2 = await push(built.busybox, refs.busyboxV2s2, true);
  let debian: string | undefined;
  let debianV2s2: string | undefined;
  if (built.debian) {
    debian = await push(built.debian, refs.debian!, false);
    debianV2s2 = await push(built.debian, refs.debianV2s2!, true);
  }
  if (busybox !== built.busybox.digest || (built.debian && debian !== built.debian.digest)) {
    throw new TestHarnessError(
      'KILN_TEST_SEED_DIGEST',
      `pushed base image digest differs from the layout's (${busybox} vs ${built.busybox.digest})`,
    );
  }
  return {
    ...refs,
    digests: { busybox, busyboxV2s2, debian, debianV2s2 },
    oci: { busybox: built.busybox.ociRef, debian: built.debian?.ociRef },
    timings: { ...built.timings, ...timings },
  };
}

function ociArchitecture(): string {
  const map: Record<string, string> = {
    x64: 'amd64',
    arm64: 'arm64',
    arm: 'arm',
    s390x: 's390x',
    ppc64: 'ppc64le',
  };
  return map[process.arch] ?? process.arch;
}

/**
 * The busybox rootfs: /bin/busybox (static) and one absolute symlink per applet at the
 * path `busybox --list-full` gives, /etc/passwd and /etc/group with root and nobody
 * (65534), /tmp 1777, /root 0700, and empty /home /var /dev /proc /sys.
 */
async function makeBusyboxRootfs(root: string): Promise<void> {
  const bb = '/bin/busybox';
  const ldd = await execTool('ldd', [bb], { allowFailure: true });
  if (!/not a dynamic executable/.test(ldd.stdout + ldd.stderr)) {
    throw new TestHarnessError('KILN_TEST_TOOL_MISSING', `${bb} is not static: install busybox-static`);
  }
  await rm(root, { recursive: true, force: true });
  for (const d of [
    'bin',
    'sbin',
    'usr/bin',
    'usr/sbin',
    'etc',
    'root',
    'tmp',
    'var',
    'home',
    'dev',
    'proc',
    'sys',
  ]) {
    await mkdir(join(root, d), { recursive: true, mode: 0o755 });
  }
  await copyFile(bb, join(root, 'bin/busybox'));
  await chmod(join(root, 'bin/busybox'), 0o755);
  const { stdout } = await execTool(bb, ['--list-full']);
  for (const applet of stdout.split('\n').filter((a) => a && a !== 'bin/busybox')) {
    await mkdir(dirname(join(root, applet)), { recursive: true, mode: 0o755 });
    await symlink('/bin/busybox', join(root, applet));
  }
  await writeFile(
    join(root, 'etc/passwd'),
    'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n',
  );
  await writeFile(join(root, 'etc/group'), 'root:x:0:\nnobody:x:65534:\n');
  // Explicit modes: the umask must not leak into the image.
  await chmod(join(root, 'etc/passwd'), 0o644);
  await chmod(join(root, 'etc/group'), 0o644);
  await chmod(join(root, 'tmp'), 0o1777);
  await chmod(join(root, 'root'), 0o700);
}

/**
 * The Debian minbase rootfs as a deterministic tar in the cache, made by debootstrap from
 * the machine's apt mirror on first use. Concurrent test runs share one debootstrap
 * through a lock directory.
 */
async function debianRootfsTar(cacheDir: string, arch: string): Promise<string> {
  const tarball = join(cacheDir, `debian-${DEBIAN_SUITE}-minbase-${arch}.tar`);
  if (await exists(tarball)) return tarball;
  await mkdir(cacheDir, { recursive: true });
  return withDirLock(`${tarball}.lock`, async () => {
    if (await exists(tarball)) return tarball;
    if (process.getuid?.() !== 0) {
      throw new TestHarnessError('KILN_TEST_NEEDS_ROOT', `debootstrap needs root; or provide ${tarball}`);
    }
    const mirror = await debianMirror(DEBIAN_SUITE);
    const dir = join(cacheDir, `debootstrap-${process.pid}`);
    const log = join(cacheDir, `debootstrap-${DEBIAN_SUITE}.log`);
    await rm(dir, { recursive: true, force: true });
    try {
      const res = await execTool(
        'debootstrap',
        ['--variant=minbase', `--arch=${arch}`, DEBIAN_SUITE, dir, mirror],
        { allowFailure: true, timeoutMs: 15 * 60_000 },
      );
      await writeFile(log, res.stdout + res.stderr);
      if (res.code !== 0) {
        throw new TestHarnessError(
          'KILN_TEST_DEBOOTSTRAP',
          `debootstrap ${DEBIAN_SUITE} from ${mirror} failed (log: ${log}):\n${res.stderr.split('\n').slice(-10).join('\n')}`,
        );
      }
      await unmountBelow(dir);
      await trimForContainer(dir);
      const part = `${tarball}.part-${process.pid}`;
      await writeLayerTarFile(dir, part);
      await rename(part, tarball);
      await writeFile(
        `${tarball}.meta`,
        `mirror=${mirror}\nsuite=${DEBIAN_SUITE}\narch=${arch}\ncreated=${new Date().toISOString()}\n`,
      );
      return tarball;
    } finally {
      await unmountBelow(dir);
      await rm(dir, { recursive: true, force: true });
    }
  });
}

/** Makes a debootstrapped tree look like a container base image, as Debian's images do. */
async function trimForContainer(dir: string): Promise<void> {
  await execTool('sh', [
    '-c',
    'rm -rf "$1"/var/cache/apt/archives/*.deb "$1"/var/cache/apt/*.bin "$1"/var/lib/apt/lists/* "$1"/dev/* "$1"/debootstrap',
    'sh',
    dir,
  ]);
  await mkdir(join(dir, 'var/lib/apt/lists/partial'), { recursive: true });
  await writeFile(join(dir, 'etc/resolv.conf'), '');
  await writeFile(join(dir, 'etc/hostname'), 'localhost\n');
}

async function writeLayerTarFile(dir: string, file: string): Promise<void> {
  await pipeline(await deterministicTar(dir), createWriteStream(file));
}

/**
 * The gzip layer of a cached rootfs tar: reused from the cache when the tar is unchanged
 * (same size and mtime), else compressed (~5 s for Debian) and cached. Hardlinked into
 * `layout` (copied across filesystems).
 */
async function cachedLayer(rootTar: string, layout: string): Promise<LayerBlob> {
  const st = await stat(rootTar);
  const stampFile = `${rootTar}.layer.json`;
  const blobFile = `${rootTar}.gz`;
  const stamp = JSON.parse(await readFile(stampFile, 'utf8').catch(() => '{}')) as Partial<
    LayerBlob & { tarSize: number; tarMtimeMs: number }
  >;
  if (
    stamp.tarSize === st.size &&
    stamp.tarMtimeMs === st.mtimeMs &&
    stamp.digest &&
    (await exists(blobFile))
  ) {
    const dest = blobPath(layout, stamp.digest);
    await link(blobFile, dest).catch(async (e: NodeJS.ErrnoException) => {
      if (e.code !== 'EEXIST') await copyFile(blobFile, dest);
    });
    return { digest: stamp.digest, diffId: stamp.diffId!, size: stamp.size! };
  }
  const layer = await writeLayerBlob(layout, createReadStream(rootTar));
  const part = `${blobFile}.part-${process.pid}`;
  await copyFile(blobPath(layout, layer.digest), part);
  await rename(part, blobFile);
  await writeFile(stampFile, JSON.stringify({ ...layer, tarSize: st.size, tarMtimeMs: st.mtimeMs }));
  return layer;
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}
