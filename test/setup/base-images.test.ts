import { lstat, mkdtemp, readFile, readlink, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execTool } from '../lib/exec.js';
import { buildBaseImages, type SeededImages, seedBaseImages } from './base-images.js';
import { type RunningRegistry, startRegistry } from './distribution.js';

let reg: RunningRegistry;
let seeded: SeededImages;
let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'kiln-base-images-test-'));
  reg = await startRegistry();
  seeded = await seedBaseImages(reg.host, { workDir: join(work, 'seed') });
  console.log('busybox seed timings (ms):', seeded.timings);
});
afterAll(async () => {
  await reg?.stop();
  await rm(work, { recursive: true, force: true });
});

const skopeo = async (...args: string[]) => (await execTool('skopeo', args)).stdout;

describe('seedBaseImages (busybox)', () => {
  it('pushes an OCI and a Docker schema2 manifest of the same layer', async () => {
    const oci = JSON.parse(
      await skopeo('inspect', '--tls-verify=false', '--raw', `docker://${seeded.busybox}`),
    );
    const v2 = JSON.parse(
      await skopeo('inspect', '--tls-verify=false', '--raw', `docker://${seeded.busyboxV2s2}`),
    );
    expect(oci.mediaType).toBe('application/vnd.oci.image.manifest.v1+json');
    expect(v2.mediaType).toBe('application/vnd.docker.distribution.manifest.v2+json');
    expect(oci.layers).toHaveLength(1);
    expect(v2.layers[0].digest).toBe(oci.layers[0].digest);
    expect(seeded.digests.busybox).not.toBe(seeded.digests.busyboxV2s2);
  });

  it('gives the image PATH, Cmd sh, linux/amd64 and a fixed created time', async () => {
    const cfg = JSON.parse(
      await skopeo('inspect', '--tls-verify=false', '--config', `docker://${seeded.busybox}`),
    );
    expect(cfg.config).toEqual({
      Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
      Cmd: ['sh'],
    });
    expect(cfg.os).toBe('linux');
    expect(cfg.created).toBe('2024-01-01T00:00:00Z');
  });

  it('builds the same digest again in another work dir (reproducible)', async () => {
    const again = await buildBaseImages({ workDir: join(work, 'again') });
    try {
      expect(again.busybox.digest).toBe(seeded.digests.busybox);
    } finally {
      await rm(join(again.busybox.layout, '..'), { recursive: true, force: true });
    }
  });

  it('unpacks with umoci to a rootfs with busybox, applet links, passwd/group and the right modes', async () => {
    const bundle = `${seeded.oci.busybox.split(':')[1]}-bundle`;
    await execTool('umoci', ['unpack', '--image', seeded.oci.busybox.slice(4), bundle]);
    try {
      const root = join(bundle, 'rootfs');
      expect(await readlink(join(root, 'bin/sh'))).toBe('/bin/busybox');
      expect((await lstat(join(root, 'tmp'))).mode & 0o7777).toBe(0o1777);
      expect((await lstat(join(root, 'root'))).mode & 0o7777).toBe(0o700);
      expect((await lstat(join(root, 'bin/busybox'))).mode & 0o7777).toBe(0o755);
      expect(await readFile(join(root, 'etc/group'), 'utf8')).toContain('nobody:x:65534:');
      expect((await lstat(join(root, 'etc/passwd'))).mtimeMs).toBe(1_704_067_200_000);
      const out = await execTool(join(root, 'bin/busybox'), ['echo', 'hello']);
      expect(out.stdout).toBe('hello\n');
    } finally {
      await rm(bundle, { recursive: true, force: true });
    }
  });
});

describe.skipIf(process.env.KILN_TEST_DEBIAN === '0')('seedBaseImages (debian)', () => {
  it('pushes a one-layer Debian bookworm minbase image with Cmd bash, stable across rebuilds from the cache', async () => {
    const r = await seedBaseImages(reg.host, { debian: true, workDir: join(work, 'debian') });
    console.log('debian seed timings (ms):', r.timings);
    expect(r.debian).toBe(`${reg.host}/debian:bookworm`);
    const cfg = JSON.parse(await skopeo('inspect', '--tls-verify=false', '--config', `docker://${r.debian}`));
    expect(cfg.config.Cmd).toEqual(['bash']);
    expect(cfg.rootfs.diff_ids).toHaveLength(1);
    const again = await buildBaseImages({ debian: true, workDir: join(work, 'debian-again') });
    expect(again.debian!.digest).toBe(r.digests.debian);
    const listing = await execTool('sh', [
      '-c',
      `gzip -dc "$1" | tar -tvf - | grep -E ' (etc/debian_version|usr/bin/bash)$'`,
      'sh',
      join(again.debian!.layout, 'blobs', ...again.debian!.layer.digest.split(':')),
    ]);
    expect(listing.stdout.trim().split('\n')).toHaveLength(2);
    await rm(join(again.debian!.layout, '..'), { recursive: true, force: true });
  }, 900_000);
});
