import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compareImages, inspectImage, umociUnpack } from '../lib/compare.js';
import { copyImage } from '../lib/copy-image.js';
import { testEnv } from '../lib/test-env.js';

const env = testEnv();

describe('e2e global setup', () => {
  it('provides both registries and exports the same facts as KILN_TEST_* variables', () => {
    expect(env.registry).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(env.registryTls).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(process.env.KILN_TEST_REGISTRY).toBe(env.registry);
    expect(process.env.KILN_TEST_REGISTRY_TLS).toBe(env.registryTls);
    expect(process.env.KILN_TEST_CA).toBe(env.caFile);
    expect(process.env.KILN_TEST_USER).toBe(env.user);
    expect(process.env.KILN_TEST_PASSWORD).toBe(env.password);
    expect(process.env.KILN_TEST_BUSYBOX).toBe(`${env.registry}/busybox:latest`);
    expect(process.env.KILN_TEST_STATE).toBe(env.stateDir);
  });

  it('serves the same busybox digest from both registries and the oci: layout', async () => {
    const [plain, tls, oci] = await Promise.all([
      inspectImage(env.images.busybox),
      inspectImage(env.imagesTls.busybox), // CA and password picked up from the environment
      inspectImage(env.images.oci.busybox),
    ]);
    expect(plain.digest).toBe(env.images.digests.busybox);
    expect(tls.digest).toBe(plain.digest);
    expect(oci.digest).toBe(plain.digest);
    expect(plain.config.config?.Cmd).toEqual(['sh']);
  });

  it('refuses the TLS registry without credentials', async () => {
    await expect(inspectImage(env.imagesTls.busybox, { certDir: env.certDir })).rejects.toThrow(
      /unauthorized|authentication required/i,
    );
  });

  it('unpacks the v2s2 busybox fully with umoci (runtime config included)', async () => {
    const u = await umociUnpack(env.images.busyboxV2s2);
    try {
      const spec = JSON.parse(await readFile(join(u.bundle, 'config.json'), 'utf8'));
      expect(spec.process.args).toEqual(['sh']);
      expect(u.manifest.layers).toHaveLength(1);
      expect(await readFile(join(u.rootfs, 'etc/passwd'), 'utf8')).toMatch(/^root:x:0:0:/);
    } finally {
      await u.cleanup();
    }
  });

  it('unpacks and compares an image whose layers are zstd (umoci itself only reads gzip)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kiln-zstd-'));
    try {
      const zstd = `oci:${dir}/layout:zstd`;
      await copyImage(env.images.busybox, zstd, { compress: 'zstd' });
      const u = await umociUnpack(zstd);
      try {
        expect(u.manifest.layers[0]!.mediaType).toBe('application/vnd.oci.image.layer.v1.tar+zstd');
        expect(await readFile(join(u.rootfs, 'etc/group'), 'utf8')).toContain('root:x:0:');
      } finally {
        await u.cleanup();
      }
      const r = await compareImages(env.images.busybox, zstd, { layers: true });
      expect(r.layerDiff).toEqual([]);
      expect(r.same).toBe(true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it.skipIf(!env.debian)('seeds Debian bookworm into both registries', async () => {
    const [plain, tls] = await Promise.all([
      inspectImage(env.images.debian!),
      inspectImage(env.imagesTls.debian!),
    ]);
    expect(plain.digest).toBe(tls.digest);
    expect(plain.config.config?.Cmd).toEqual(['bash']);
    expect((await inspectImage(env.images.debianV2s2!)).mediaType).toBe(
      'application/vnd.docker.distribution.manifest.v2+json',
    );
  });
});
