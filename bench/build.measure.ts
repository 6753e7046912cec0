import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { build } from '@kiln/core';
import { expect, test } from 'vitest';
import { oracleBuild } from '../test/lib/oracle.js';
import { testEnv } from '../test/lib/test-env.js';

/**
 * Whole-build benchmarks, side by side in one run against the same registry and base image:
 * kiln vs buildah (chroot isolation) vs BuildKit in a private Docker engine. Each figure is build + push
 * wall time; the ratio is kiln's time over the peer's (lower is better for kiln).
 */

async function makeApp(dir: string, files: number, totalBytes: number): Promise<void> {
  const per = Math.floor(totalBytes / files);
  for (let i = 0; i < files; i++) {
    const d = path.join(dir, 'app', `pkg${Math.floor(i / 100)}`);
    if (i % 100 === 0) await mkdir(d, { recursive: true });
    // Half random (incompressible), half text: a plausible mix for an app tree.
    await writeFile(
      path.join(d, `f${i}.js`),
      Buffer.concat([randomBytes(per / 2), Buffer.alloc(per - per / 2, 'x')]),
    );
  }
}

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t = performance.now();
  const r = await fn();
  return [r, performance.now() - t];
}

const fmt = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

async function compare(name: string, dir: string, dockerfile: string) {
  const env = testEnv();
  await writeFile(path.join(dir, 'Dockerfile'), dockerfile);
  const cacheDir = path.join(dir, '..', `${name}-kiln-cache`);
  const kilnRun = (tag: string) =>
    timed(() =>
      build({
        context: dir,
        destinations: [`${env.registry}/bench/${name}:${tag}`],
        registry: { insecureRegistries: [env.registry] },
        cacheDir,
      }),
    );
  const [, kilnCold] = await kilnRun('kiln-cold');
  const [, kilnWarm] = await kilnRun('kiln-warm');
  // Each peer once to warm its base-image store, then the measured run.
  const peer = async (builder: 'buildah' | 'buildkit') => {
    await oracleBuild({ contextDir: dir, ref: `${env.registry}/bench/${name}:${builder}-warmup`, builder });
    const r = await oracleBuild({
      contextDir: dir,
      ref: `${env.registry}/bench/${name}:${builder}`,
      builder,
      noCache: true,
    });
    return { ms: r.buildMs + r.pushMs, builder: r.builder };
  };
  const buildah = await peer('buildah');
  let buildkit: { ms: number; builder: string } | undefined;
  try {
    buildkit = await peer('buildkit');
  } catch (e) {
    console.log(`[bench] ${name}: BuildKit unavailable (${(e as Error).message.split('\n')[0]})`);
  }
  const lines = [
    `[bench] ${name}`,
    `  kiln (first build, base file index read)  ${fmt(kilnCold)}`,
    `  kiln (base file index cached)             ${fmt(kilnWarm)}`,
    `  buildah (base pulled before)              ${fmt(buildah.ms)}   kiln/buildah = ${(kilnWarm / buildah.ms).toFixed(3)} (cold ${(kilnCold / buildah.ms).toFixed(3)})`,
  ];
  if (buildkit)
    lines.push(
      `  BuildKit (docker 20.10, --no-cache)       ${fmt(buildkit.ms)}   kiln/BuildKit = ${(kilnWarm / buildkit.ms).toFixed(3)}`,
    );
  console.log(lines.join('\n'));
  return { kilnCold, kilnWarm, buildah: buildah.ms, buildkit: buildkit?.ms };
}

test('COPY-only build of a 50 MB, 5,000-file app onto the Debian base', async () => {
  const env = testEnv();
  expect(env.images.debian).toBeDefined();
  const dir = path.join(env.stateDir, 'bench-copy');
  await makeApp(dir, 5000, 50 * 1024 * 1024);
  const r = await compare(
    'copy-app',
    dir,
    `FROM ${env.images.debian}\nCOPY app/ /srv/app/\nWORKDIR /srv/app\nENV NODE_ENV=production\nCMD ["ls"]\n`,
  );
  expect(r.kilnWarm).toBeGreaterThan(0);
});

test('multi-stage COPY build', async () => {
  const env = testEnv();
  const dir = path.join(env.stateDir, 'bench-multi');
  await makeApp(dir, 2000, 20 * 1024 * 1024);
  const r = await compare(
    'multi-stage',
    dir,
    `FROM ${env.images.busybox} AS assets\nCOPY app/ /build/app/\n\nFROM ${env.images.busybox} AS config\nCOPY Dockerfile /build/Dockerfile\n\nFROM ${env.images.debian}\nCOPY --from=assets /build/app/ /srv/app/\nCOPY --from=config /build/ /srv/meta/\n`,
  );
  expect(r.kilnWarm).toBeGreaterThan(0);
});

test('three RUN steps on the Debian base', async () => {
  const env = testEnv();
  const dir = path.join(env.stateDir, 'bench-run');
  await mkdir(dir, { recursive: true });
  const r = await compare(
    'run-steps',
    dir,
    `FROM ${env.images.debian}\nRUN useradd -m -u 1500 app && mkdir -p /srv/app && chown app /srv/app\nRUN for i in $(seq 1 200); do echo "line $i" > /srv/app/f$i; done && rm -rf /usr/share/doc\nRUN dpkg-query -W > /srv/app/packages.txt\n`,
  );
  expect(r.kilnWarm).toBeGreaterThan(0);
});
