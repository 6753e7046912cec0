import type { TestProject } from 'vitest/node';
import { envVarsOf, type KilnTestEnv } from '../lib/test-env.js';
import { type BaseImageLayouts, buildBaseImages, pushBaseImages } from './base-images.js';
import { type RunningRegistry, startRegistry } from './distribution.js';
import { ensureRootlessUsers } from './rootless-user.js';
import { cleanupStateDir, createStateDir, sweepStaleStateDirs } from './state-dir.js';

/**
 * Global setup of the vitest `e2e` project: starts a plain-HTTP registry and an
 * HTTPS + htpasswd registry on loopback, seeds the base images (busybox always, Debian
 * minbase unless `KILN_TEST_DEBIAN=0`; `=1` makes a failure to build it fatal) into both,
 * and hands their addresses to the tests through `provide('kilnTest', …)` (read with `testEnv()` from test/lib/test-env.ts) and
 * through `KILN_TEST_*` environment variables. The returned teardown stops the Docker
 * engine the oracle may have started, buildah's storage and the registries, and deletes
 * the state dir (kept when `KILN_TEST_KEEP=1`). State dirs of earlier runs that were killed
 * before their teardown are cleaned up first.
 *
 * Typical cost: ~1.5 s with busybox only, ~5 s with Debian from the cache (first run on a
 * machine: + ~25–70 s of debootstrap).
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const t0 = performance.now();
  const timings: Record<string, number> = {};
  const lap = (label: string, since: number) => {
    timings[label] = Math.round(performance.now() - since);
  };
  const swept = await sweepStaleStateDirs();
  if (swept.length) console.log(`[kiln e2e] removed state of killed runs: ${swept.join(' ')}`);
  const stateDir = await createStateDir();
  const registries: RunningRegistry[] = [];
  const teardown = async () => {
    const t = performance.now();
    // Registries first: their storage lives in the state dir.
    await Promise.all(registries.map((r) => r.stop()));
    const keep = process.env.KILN_TEST_KEEP === '1';
    const docker = await cleanupStateDir(stateDir, { keep }).catch((e) =>
      console.error('[kiln e2e] cleaning up the state dir:', e),
    );
    if (docker?.stopped) {
      console.log(
        `[kiln e2e] dockerd: start ${docker.startMs} ms, stop ${docker.stopMs} ms, unmounted ${docker.unmounted.length}`,
      );
    }
    if (keep) console.log(`[kiln e2e] state kept in ${stateDir}`);
    console.log(`[kiln e2e] teardown ${Math.round(performance.now() - t)} ms`);
  };
  try {
    const user = 'kiln';
    const password = `kiln-${Math.random().toString(36).slice(2, 10)}`;
    let t = performance.now();
    const [plain, tls] = await Promise.all([
      startRegistry({ parentDir: stateDir }),
      startRegistry({ parentDir: stateDir, tls: true, htpasswd: { user, password } }),
    ]);
    registries.push(plain, tls);
    lap('registries start', t);
    t = performance.now();
    const built = await buildWithOptionalDebian(`${stateDir}/base-images`);
    const debian = built.debian !== undefined;
    lap('base images build', t);
    t = performance.now();
    const creds = { user, password };
    const [images, imagesTls] = await Promise.all([
      pushBaseImages(built, { host: plain.host }),
      pushBaseImages(built, { host: tls.host, creds, certDir: tls.certDir }),
    ]);
    lap('base images push (both registries)', t);
    for (const [k, v] of Object.entries(built.timings)) timings[`  ${k}`] = v;
    timings.total = Math.round(performance.now() - t0);
    t = performance.now();
    const rootless = await ensureRootlessUsers();
    lap('rootless users', t);
    const env: KilnTestEnv = {
      stateDir,
      registry: plain.host,
      registryTls: tls.host,
      caFile: tls.caFile!,
      caPem: tls.caPem!,
      certDir: tls.certDir!,
      user,
      password,
      images,
      imagesTls,
      debian,
      timings,
      ...(rootless ? { rootless } : {}),
    };
    project.provide('kilnTest', env);
    Object.assign(process.env, envVarsOf(env));
    console.log(
      `[kiln e2e] registries ${plain.host} (http) ${tls.host} (https+auth); base images ${
        debian ? 'busybox+debian' : 'busybox'
      }; setup timings (ms): ${JSON.stringify(timings)}; digests: ${JSON.stringify(images.digests)}`,
    );
    return teardown;
  } catch (e) {
    await teardown();
    throw e;
  }
}

/**
 * The base images. Debian is wanted unless `KILN_TEST_DEBIAN=0`; when it was only wanted by
 * default (not `KILN_TEST_DEBIAN=1`) and cannot be made — first run on a machine whose
 * Debian mirror is unreachable — the run goes on without it, loudly, and Debian cases skip.
 */
async function buildWithOptionalDebian(workDir: string): Promise<BaseImageLayouts> {
  const flag = process.env.KILN_TEST_DEBIAN;
  if (flag === '0') return buildBaseImages({ workDir });
  try {
    return await buildBaseImages({ debian: true, workDir });
  } catch (e) {
    if (flag === '1') throw e;
    console.warn(
      `[kiln e2e] WARNING: no Debian base image (${(e as Error).message.split('\n')[0]}); ` +
        'Debian cases will be skipped. Set KILN_TEST_DEBIAN=1 to make this an error.',
    );
    return buildBaseImages({ workDir });
  }
}
