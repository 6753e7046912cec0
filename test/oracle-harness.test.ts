import { createHash } from 'node:crypto';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUILDAH_ARTIFACTS, compareImages, inspectImage, listRootfs, umociUnpack } from './lib/compare.js';
import { copyImage } from './lib/copy-image.js';
import { cleanupBuildah, type OracleBuildResult, oracleBuild } from './lib/oracle.js';
import { runImage } from './lib/run-image.js';
import { testEnv } from './lib/test-env.js';

// Proves the harness: two independent builders agree on a RUN-less Dockerfile, and the
// comparison does report a real difference.

const env = testEnv();
let ctx: string;

function dockerfile(variant: 'same' | 'different' | 'owner'): string {
  return [
    `FROM ${env.images.busybox}`,
    'COPY app/ /opt/app/',
    variant === 'owner'
      ? 'COPY --chown=1001:1000 conf.txt /etc/app/conf.txt'
      : 'COPY --chown=1000:1000 conf.txt /etc/app/conf.txt',
    variant === 'different'
      ? 'ENV APP_HOME=/opt/app GREETING="hello moon"'
      : 'ENV APP_HOME=/opt/app GREETING="hello world"',
    'WORKDIR /opt/app',
    'LABEL org.example.name="harness" version=1',
    'EXPOSE 8080/tcp 53/udp',
    ...(variant === 'different' ? ['COPY conf.txt /opt/app/extra.txt'] : []),
    'USER 1000:1000',
    'ENTRYPOINT ["/bin/sh", "-c"]',
    'CMD ["echo $GREETING"]',
    '',
  ].join('\n');
}

/** Builds `dir` with BuildKit and buildah at once (each pushed as `harness/REPO:builder`). */
async function buildWithBoth(
  dir: string,
  repo: string,
  extra: { format?: 'docker' } = {},
): Promise<[OracleBuildResult, OracleBuildResult]> {
  const ref = (b: string) => `${env.registry}/harness/${repo}:${b}`;
  return Promise.all([
    oracleBuild({ contextDir: dir, ref: ref('buildkit'), builder: 'buildkit' }),
    oracleBuild({ contextDir: dir, ref: ref('buildah'), builder: 'buildah', ...extra }),
  ]);
}

beforeAll(async () => {
  ctx = await mkdtemp(join(tmpdir(), 'kiln-harness-ctx-'));
  await mkdir(join(ctx, 'app/bin'), { recursive: true });
  await writeFile(join(ctx, 'app/bin/run.sh'), '#!/bin/sh\necho run\n');
  await chmod(join(ctx, 'app/bin/run.sh'), 0o755);
  await writeFile(join(ctx, 'app/README'), 'readme\n');
  await writeFile(join(ctx, 'conf.txt'), 'key=value\n');
  await writeFile(join(ctx, 'Dockerfile'), dockerfile('same'));
  await writeFile(join(ctx, 'Dockerfile.different'), dockerfile('different'));
  await writeFile(join(ctx, 'Dockerfile.owner'), dockerfile('owner'));
});
afterAll(async () => {
  await rm(ctx, { recursive: true, force: true });
});

describe('oracle harness', () => {
  let buildkit: OracleBuildResult;
  let buildah: OracleBuildResult;

  it('builds the Dockerfile with BuildKit (private dockerd) and with buildah, and pushes both', async () => {
    buildkit = await oracleBuild({
      contextDir: ctx,
      ref: `${env.registry}/harness/app:buildkit`,
      builder: 'buildkit',
    });
    buildah = await oracleBuild({
      contextDir: ctx,
      ref: `${env.registry}/harness/app:buildah`,
      builder: 'buildah',
    });
    console.log('oracle builds (ms):', { buildkit, buildah });
    expect(buildkit.builder).toBe('buildkit');
    expect(buildah.builder).toBe('buildah');
    expect(buildkit.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect((await inspectImage(buildkit.ref)).digest).toBe(buildkit.digest);
    expect((await inspectImage(buildah.ref)).digest).toBe(buildah.digest);
    expect(buildkit.digest).not.toBe(buildah.digest);
  });

  it('finds the BuildKit and buildah images the same (config and flattened rootfs)', async () => {
    const r = await compareImages(buildkit.ref, buildah.ref, { ignorePaths: BUILDAH_ARTIFACTS });
    expect(r.configDiff).toEqual([]);
    expect(r.treeDiff).toEqual([]);
    expect(r.same).toBe(true);
    // The comparison looked at real content: the Dockerfile's settings and the base's files.
    expect(r.configA.config).toMatchObject({
      User: '1000:1000',
      WorkingDir: '/opt/app',
      Entrypoint: ['/bin/sh', '-c'],
      Cmd: ['echo $GREETING'],
      ExposedPorts: { '53/udp': {}, '8080/tcp': {} },
      Labels: { 'org.example.name': 'harness', version: '1' },
    });
    expect(r.entries.a).toBeGreaterThan(270);
  });

  it('reports a different ENV value and an extra file as differences', async () => {
    const other = await oracleBuild({
      contextDir: ctx,
      dockerfile: 'Dockerfile.different',
      ref: `${env.registry}/harness/app:different`,
    });
    const r = await compareImages(buildkit.ref, other.ref, { ignorePaths: BUILDAH_ARTIFACTS });
    expect(r.same).toBe(false);
    expect(r.configDiff).toEqual([
      'config.Env: A=["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin","APP_HOME=/opt/app","GREETING=hello world"] B=["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin","APP_HOME=/opt/app","GREETING=hello moon"]',
    ]);
    expect(r.treeDiff).toHaveLength(1);
    expect(r.treeDiff[0]).toMatch(/^\+ opt\/app\/extra\.txt\tf\t0644\t0:0\t10\t[0-9a-f]{64}\t-$/);
  });

  it('reports a changed file owner with both sides of the entry', async () => {
    const other = await oracleBuild({
      contextDir: ctx,
      dockerfile: 'Dockerfile.owner',
      ref: `${env.registry}/harness/app:owner`,
    });
    const r = await compareImages(buildkit.ref, other.ref);
    expect(r.configDiff).toEqual([]);
    expect(r.treeDiff.map((l) => l.split('\t').slice(0, 4).join(' '))).toEqual([
      // Both builders give the parent dirs that COPY --chown creates the same owner.
      '- etc/app d 0755 1000:1000',
      '+ etc/app d 0755 1001:1000',
      '- etc/app/conf.txt f 0644 1000:1000',
      '+ etc/app/conf.txt f 0644 1001:1000',
    ]);
    expect(r.same).toBe(false);
  });

  it('compares docker-archive and oci references with registry ones', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kiln-harness-refs-'));
    try {
      const archive = join(dir, 'img.tar');
      await copyImage(buildkit.ref, `docker-archive:${archive}`);
      await copyImage(buildah.ref, `oci:${dir}/layout:x`);
      const r = await compareImages(`docker-archive:${archive}`, `oci:${dir}/layout:x`, {
        ignorePaths: BUILDAH_ARTIFACTS,
      });
      expect(r.treeDiff).toEqual([]);
      expect(r.configDiff).toEqual([]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('falls back to buildah when the Docker engine cannot start, and says so when BuildKit is demanded', async () => {
    const state = await mkdtemp(join(tmpdir(), 'kiln-harness-state-'));
    try {
      await mkdir(join(state, 'docker'), { recursive: true });
      // The marker ensureDockerEngine leaves after a failed start: later calls fail fast.
      await writeFile(join(state, 'docker', 'start-failed'), 'dockerd did not come up (test)');
      const ref = `${env.registry}/harness/app:fallback`;
      const r = await oracleBuild({ contextDir: ctx, ref, stateDir: state });
      expect(r.builder).toBe('buildah');
      expect((await compareImages(buildah.ref, r.ref)).same).toBe(true);
      await expect(
        oracleBuild({ contextDir: ctx, ref, stateDir: state, builder: 'buildkit' }),
      ).rejects.toMatchObject({
        code: 'KILN_TEST_DOCKER_START',
      });
    } finally {
      await cleanupBuildah(state);
      await rm(state, { recursive: true, force: true });
    }
  });

  it('fails with KILN_TEST_ORACLE_BUILD and the builder output for a broken Dockerfile', async () => {
    await writeFile(join(ctx, 'Dockerfile.broken'), `FROM ${env.images.busybox}\nCOPY missing.txt /x\n`);
    await expect(
      oracleBuild({
        contextDir: ctx,
        dockerfile: 'Dockerfile.broken',
        ref: `${env.registry}/harness/app:broken`,
      }),
    ).rejects.toMatchObject({
      code: 'KILN_TEST_ORACLE_BUILD',
      message: expect.stringMatching(/missing\.txt/),
    });
  });

  it('agrees between BuildKit and buildah on RUN steps (mode change, symlink, deleted base file) apart from buildah artifacts', async () => {
    const dir = join(ctx, 'run');
    await mkdir(dir, { recursive: true });
    await writeFile(
      join(dir, 'Dockerfile'),
      [
        `FROM ${env.images.busybox}`,
        'COPY . /src/',
        'RUN chmod 0700 /src && ln -s /src/Dockerfile /Dockerfile.link && rm /bin/vi && mkdir -p /var/data && echo hi > /var/data/hi.txt',
        'RUN echo "app:x:1000:1000::/home/app:/bin/sh" >> /etc/passwd && mkdir /home/app && chown 1000:1000 /home/app',
        'USER app',
        '',
      ].join('\n'),
    );
    const [a, b] = await buildWithBoth(dir, 'run');
    const raw = await compareImages(a.ref, b.ref);
    // The documented buildah artifacts are the only difference...
    expect(raw.treeDiff.map((l) => l.split('\t')[0])).toEqual(['+ etc/hostname', '+ run']);
    // ...and with them ignored the images are the same, whiteout of bin/vi included.
    const r = await compareImages(a.ref, b.ref, { ignorePaths: BUILDAH_ARTIFACTS });
    expect(r.configDiff).toEqual([]);
    expect(r.treeDiff).toEqual([]);
    expect(r.configA.config.User).toBe('app');
  });

  it('compares layer by layer on request: same through docker-archive, WORKDIR layer counted differently by the two builders', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kiln-harness-layers-'));
    try {
      const archive = join(dir, 'img.tar');
      await copyImage(buildkit.ref, `docker-archive:${archive}`);
      const self = await compareImages(buildkit.ref, `docker-archive:${archive}`, { layers: true });
      expect(self.layerDiff).toEqual([]);
      expect(self.same).toBe(true);
      const r = await compareImages(buildkit.ref, buildah.ref, { layers: true });
      console.log('BuildKit vs buildah layers:', r.layerDiff);
      expect(r.layerDiff[0]).toMatch(/^layer count: A=\d+ B=\d+$/);
      expect(r.same).toBe(false);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('keeps Docker config extensions (Healthcheck, Shell, OnBuild) of schema2 images in the comparison', async () => {
    const dir = join(ctx, 'ext');
    await mkdir(dir, { recursive: true });
    const lines = [
      `FROM ${env.images.busybox}`,
      'SHELL ["/bin/sh", "-ec"]',
      'HEALTHCHECK --interval=30s --timeout=5s --retries=4 CMD wget -q -O- http://localhost/ || exit 1',
      'ONBUILD LABEL from.onbuild=yes',
      'STOPSIGNAL SIGTERM',
      'VOLUME /data',
    ];
    await writeFile(join(dir, 'Dockerfile'), `${lines.join('\n')}\n`);
    await writeFile(
      join(dir, 'Dockerfile.nohc'),
      `${lines.filter((l) => !l.startsWith('HEALTHCHECK')).join('\n')}\n`,
    );
    const [a, b] = await buildWithBoth(dir, 'ext', { format: 'docker' });
    const r = await compareImages(a.ref, b.ref);
    expect(r.configDiff).toEqual([]);
    expect(r.configA.config).toMatchObject({
      Shell: ['/bin/sh', '-ec'],
      OnBuild: ['LABEL from.onbuild=yes'],
      StopSignal: 'SIGTERM',
      Volumes: { '/data': {} },
      Healthcheck: {
        Test: ['CMD-SHELL', 'wget -q -O- http://localhost/ || exit 1'],
        Interval: 30_000_000_000,
        Timeout: 5_000_000_000,
        Retries: 4,
      },
    });
    const c = await oracleBuild({
      contextDir: dir,
      dockerfile: 'Dockerfile.nohc',
      ref: `${env.registry}/harness/ext:nohc`,
      builder: 'buildkit',
    });
    expect((await compareImages(a.ref, c.ref)).configDiff).toEqual([
      expect.stringMatching(/^config\.Healthcheck: A=\{.*\} B=\(unset\)$/),
    ]);
  });

  it.skipIf(!env.debian)(
    'agrees between BuildKit and buildah on a Debian base (useradd, deleted docs, hardlinks, WORKDIR, USER)',
    async () => {
      const dir = join(ctx, 'debian');
      await mkdir(dir, { recursive: true });
      await writeFile(join(dir, 'hello.txt'), 'hello from the context\n');
      const lines = [
        `FROM ${env.images.debian}`,
        'RUN useradd --create-home --uid 1001 app && rm -rf /usr/share/doc/* && ln /usr/bin/env /usr/local/bin/env-hardlink',
        'COPY --chown=app:app hello.txt /home/app/',
        'WORKDIR /home/app',
        'USER app',
      ];
      await writeFile(join(dir, 'Dockerfile'), `${lines.join('\n')}\n`);
      const t0 = performance.now();
      const [a, b] = await buildWithBoth(dir, 'debian');
      const t1 = performance.now();
      const r = await compareImages(a.ref, b.ref, { ignorePaths: BUILDAH_ARTIFACTS });
      console.log('debian oracle builds + compare (ms):', {
        a,
        b,
        compare: Math.round(performance.now() - t1),
        builds: Math.round(t1 - t0),
      });
      expect(r.configDiff).toEqual([]);
      expect(r.treeDiff).toEqual([]);
      expect(r.entries.a).toBeGreaterThan(3000);
    },
  );

  it('passes build secrets to both builders, keeps them out of the image, and shows where RUN --mount differs', async () => {
    const dir = join(ctx, 'mounts');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'token.txt'), 's3cr3t-token\n');
    const lines = [
      `FROM ${env.images.busybox}`,
      'RUN --mount=type=secret,id=tok wc -c < /run/secrets/tok > /secret-size',
      'RUN --mount=type=bind,source=token.txt,target=/mnt/t.txt wc -l < /mnt/t.txt > /bind-lines',
      'RUN --mount=type=cache,target=/var/cache/x echo x > /var/cache/x/y',
      'RUN --mount=type=tmpfs,target=/scratch touch /scratch/z',
    ];
    await writeFile(join(dir, 'Dockerfile'), `${lines.join('\n')}\n`);
    const secrets = { tok: join(dir, 'token.txt') };
    const ref = (b: string) => `${env.registry}/harness/mounts:${b}`;
    const a = await oracleBuild({ contextDir: dir, ref: ref('buildkit'), builder: 'buildkit', secrets });
    const b = await oracleBuild({ contextDir: dir, ref: ref('buildah'), builder: 'buildah', secrets });
    const r = await compareImages(a.ref, b.ref, { ignorePaths: BUILDAH_ARTIFACTS });
    expect(r.configDiff).toEqual([]);
    // BuildKit leaves the cache and tmpfs mount targets behind as empty dirs; buildah does not.
    expect(r.treeDiff.map((l) => l.split('\t').slice(0, 4).join(' '))).toEqual([
      '- scratch d 0755 0:0',
      '- var/cache/x d 0755 0:0',
    ]);
    const run = await runImage(a.ref, {
      args: ['sh', '-c', 'cat /secret-size /bind-lines; ls /run/secrets 2>&1 | wc -l'],
    });
    expect(run.stdout.split('\n').map((l) => l.trim())).toEqual(['13', '1', '0', '']);
    const tokenSha = createHash('sha256').update('s3cr3t-token\n').digest('hex');
    const u = await umociUnpack(a.ref, { raw: true });
    try {
      const files = await listRootfs(u.rootfs);
      expect(files.filter((f) => f.sha256 === tokenSha)).toEqual([]);
      expect(files.find((f) => f.path === 'secret-size')?.size).toBe(3);
    } finally {
      await u.cleanup();
    }
  });
});
