import { randomUUID } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { ensureDockerEngine } from './docker-engine.js';
import { execTool, TestHarnessError } from './exec.js';
import { inspectImage } from './inspect.js';
import { unmountBelow } from './mounts.js';

/** Which reference builder made an oracle image. @public */
export type OracleBuilder = 'buildkit' | 'buildah';

/** Options of {@link oracleBuild}. @public */
export interface OracleBuildOptions {
  /** Build context directory. */
  contextDir: string;
  /** Dockerfile path, absolute or relative to `contextDir`. Default `Dockerfile` in the context. */
  dockerfile?: string;
  /** Where to push the result, in the plain test registry: `HOST/repo:tag`. */
  ref: string;
  buildArgs?: Record<string, string>;
  target?: string;
  /**
   * Build secrets for `RUN --mount=type=secret,id=ID`: id → file path (`--secret id=ID,src=PATH`
   * for both builders). Both oracles here support RUN --mount (secret, bind, cache, tmpfs).
   */
  secrets?: Record<string, string>;
  /** SSH agents for `RUN --mount=type=ssh`: id → agent socket or private key file (`--ssh ID=PATH`, both builders). */
  ssh?: Record<string, string>;
  /**
   * `buildkit` (the private Docker engine), `buildah`, or `auto` (default): BuildKit,
   * falling back to buildah when the engine cannot start.
   */
  builder?: OracleBuilder | 'auto';
  /** buildah only: manifest format pushed (`oci` default, or `docker` schema2). BuildKit via docker push is always schema2. */
  format?: 'oci' | 'docker';
  /** BuildKit only: build every step again instead of reusing the engine's cache (benchmarks). buildah never reuses it. */
  noCache?: boolean;
  /** Per-run state dir for the engine's and buildah's storage. Default `KILN_TEST_STATE`. */
  stateDir?: string;
}

/** What {@link oracleBuild} made. @public */
export interface OracleBuildResult {
  /** Manifest digest of the pushed image, as the registry serves it. */
  digest: string;
  builder: OracleBuilder;
  /** The reference pushed (same as the `ref` option). */
  ref: string;
  buildMs: number;
  pushMs: number;
}

/**
 * oracleBuild: builds a Dockerfile with a reference builder and pushes the result, for
 * comparing kiln's image against it (see `compareImages`). BuildKit runs inside the run's
 * private Docker engine (dockerd 20.10, started on first use, `--network host`); buildah
 * runs as `buildah build --isolation chroot` with storage under the run's state dir,
 * without `/etc/hosts`, resolv.conf or an identity label, and never reusing its cache.
 * Neither supports heredocs (both predate them). Throws `KILN_TEST_ORACLE_BUILD` with the
 * builder's output tail when the build fails.
 * @public
 */
export async function oracleBuild(opts: OracleBuildOptions): Promise<OracleBuildResult> {
  const stateDir = opts.stateDir ?? process.env.KILN_TEST_STATE;
  if (!stateDir) {
    throw new TestHarnessError(
      'KILN_TEST_NO_STATE',
      'oracleBuild needs stateDir or KILN_TEST_STATE (e2e global setup)',
    );
  }
  const dockerfile = opts.dockerfile
    ? isAbsolute(opts.dockerfile)
      ? opts.dockerfile
      : join(opts.contextDir, opts.dockerfile)
    : join(opts.contextDir, 'Dockerfile');
  const common = [
    ...Object.entries(opts.buildArgs ?? {}).flatMap(([k, v]) => ['--build-arg', `${k}=${v}`]),
    ...(opts.target ? ['--target', opts.target] : []),
    ...Object.entries(opts.secrets ?? {}).flatMap(([id, src]) => ['--secret', `id=${id},src=${src}`]),
    ...Object.entries(opts.ssh ?? {}).flatMap(([id, src]) => ['--ssh', `${id}=${src}`]),
  ];
  const builder = opts.builder ?? 'auto';
  if (builder !== 'buildah') {
    try {
      return await buildWithBuildKit(stateDir, dockerfile, common, opts);
    } catch (e) {
      const engineDown = (e as TestHarnessError).code === 'KILN_TEST_DOCKER_START';
      if (builder === 'buildkit' || !engineDown) throw e;
    }
  }
  return buildWithBuildah(stateDir, dockerfile, common, opts);
}

async function buildWithBuildKit(
  stateDir: string,
  dockerfile: string,
  common: string[],
  opts: OracleBuildOptions,
): Promise<OracleBuildResult> {
  const insecure = [process.env.KILN_TEST_REGISTRY, registryOf(opts.ref)].filter((h): h is string => !!h);
  const engine = await ensureDockerEngine(stateDir, [...new Set(insecure)]);
  const build = [
    'build',
    '--quiet',
    '--network',
    'host',
    ...(opts.noCache ? ['--no-cache'] : []),
    '-f',
    dockerfile,
    '-t',
    opts.ref,
    ...common,
  ];
  return timedOracle(
    'buildkit',
    opts.ref,
    () => engine.docker([...build, opts.contextDir]),
    async () => {
      await engine.docker(['push', '--quiet', opts.ref]);
      return (await inspectImage(opts.ref)).digest;
    },
  );
}

async function buildWithBuildah(
  stateDir: string,
  dockerfile: string,
  common: string[],
  opts: OracleBuildOptions,
): Promise<OracleBuildResult> {
  const storage = buildahStorageFlags(stateDir);
  // No /etc/hosts, resolv.conf or identity label in the image; never reuse the cache
  // (buildah 1.28 reuses it even when flags change).
  const flags = ['--isolation', 'chroot', '--layers', '--no-cache', '--no-hosts', '--dns=none'];
  flags.push('--identity-label=false', '--tls-verify=false', '--format', opts.format ?? 'oci');
  const digestFile = join(stateDir, `buildah-digest-${randomUUID()}`);
  return timedOracle(
    'buildah',
    opts.ref,
    () =>
      execTool('buildah', [
        ...storage,
        'build',
        '--quiet',
        ...flags,
        '-f',
        dockerfile,
        '-t',
        opts.ref,
        ...common,
        opts.contextDir,
      ]),
    async () => {
      const push = ['push', '--quiet', '--tls-verify=false', '--digestfile', digestFile];
      await execTool('buildah', [...storage, ...push, opts.ref, `docker://${opts.ref}`]);
      const digest = (await readFile(digestFile, 'utf8')).trim();
      await rm(digestFile, { force: true });
      return digest;
    },
  );
}

/** Runs build then push (which returns the pushed digest), timing both; failures become `KILN_TEST_ORACLE_BUILD`. */
async function timedOracle(
  builder: OracleBuilder,
  ref: string,
  build: () => Promise<unknown>,
  push: () => Promise<string>,
): Promise<OracleBuildResult> {
  try {
    const t0 = performance.now();
    await build();
    const t1 = performance.now();
    const digest = await push();
    const t2 = performance.now();
    return { digest, builder, ref, buildMs: Math.round(t1 - t0), pushMs: Math.round(t2 - t1) };
  } catch (e) {
    throw new TestHarnessError(
      'KILN_TEST_ORACLE_BUILD',
      `${builder} oracle build of ${ref} failed: ${(e as Error).message}`,
      {
        cause: e,
      },
    );
  }
}

/** buildah's storage flags for the run: root and runroot under the state dir, overlay driver. @internal */
export function buildahStorageFlags(stateDir: string): string[] {
  return [
    '--root',
    join(stateDir, 'buildah', 'root'),
    '--runroot',
    join(stateDir, 'buildah', 'run'),
    '--storage-driver',
    'overlay',
  ];
}

/**
 * cleanupBuildah: removes buildah's working containers and storage of the run, after
 * unmounting the overlay mounts containers/storage leaves. Called by the global teardown.
 * @public
 */
export async function cleanupBuildah(stateDir: string): Promise<void> {
  const dir = join(stateDir, 'buildah');
  await execTool('buildah', [...buildahStorageFlags(stateDir), 'rm', '--all'], { allowFailure: true });
  await unmountBelow(dir);
  await rm(dir, { recursive: true, force: true });
}

function registryOf(ref: string): string | undefined {
  const first = ref.split('/')[0];
  return first && /[.:]|^localhost$/.test(first) ? first : undefined;
}
