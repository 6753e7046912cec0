import { describe, expect, it } from 'vitest';
import {
  copyImage,
  MediaType,
  type RegistryClient,
  type RegistryClientOptions,
  RegistryError,
  RegistryImage,
} from '../../src/index.js';
import { makeImage, makeIndex, opener, readStream, uniqueRepo } from '../helpers/images.js';

/** ContractTarget: a registry to run the suite against and how to make a client for it. */
export interface ContractTarget {
  /** `host:port` used in references. */
  host: string;
  /** A client for this registry; `extra` overrides options (chunk sizes). */
  client(extra?: Partial<RegistryClientOptions>): RegistryClient;
}

/**
 * registryContract: the behaviour kiln relies on from a registry, run against the in-memory
 * registry (three transports) and against the real distribution registry, so they cannot drift.
 */
export function registryContract(name: string, target: () => ContractTarget): void {
  describe(`registry contract: ${name}`, () => {
    const ref = (repo: string, suffix = '') => `${target().host}/${repo}${suffix}`;

    it('a monolithic blob push is visible to HEAD and reads back verified', async () => {
      const c = target().client();
      const repo = uniqueRepo();
      const img = makeImage([3000]);
      const l = img.layers[0]!;
      expect(await c.hasBlob(ref(repo), l.desc.digest)).toBeUndefined();
      expect(await c.pushBlob(ref(repo), l.desc, opener(l.bytes))).toBe('uploaded');
      expect(await c.hasBlob(ref(repo), l.desc.digest)).toBe(3000);
      expect(
        await c.pushBlob(ref(repo), l.desc, () => {
          throw new Error('must not reopen');
        }),
      ).toBe('exists');
      expect((await readStream(await c.openBlob(ref(repo), l.desc))).equals(l.bytes)).toBe(true);
    });

    it('a chunked push (several PATCHes with Content-Range) yields the same blob', async () => {
      const c = target().client({ chunkSize: 64 * 1024, monolithicMaxSize: 1024 });
      const repo = uniqueRepo();
      const img = makeImage([200 * 1024 + 17]);
      const l = img.layers[0]!;
      expect(await c.pushBlob(ref(repo), l.desc, opener(l.bytes))).toBe('uploaded');
      expect(await c.fetchBlob(ref(repo), l.desc)).toEqual(l.bytes);
    });

    it('a blob known in another repository is mounted, not uploaded', async () => {
      const c = target().client();
      const a = uniqueRepo();
      const b = uniqueRepo();
      const l = makeImage([1024]).layers[0]!;
      await c.pushBlob(ref(a), l.desc, opener(l.bytes));
      const result = await c.pushBlob(
        ref(b),
        l.desc,
        () => {
          throw new Error('must mount, not upload');
        },
        { mountFrom: ref(a) },
      );
      expect(result).toBe('mounted');
      expect(await c.hasBlob(ref(b), l.desc.digest)).toBe(1024);
    });

    it('content that does not match its digest is refused with DIGEST_INVALID', async () => {
      const c = target().client();
      const repo = uniqueRepo();
      const l = makeImage([100]).layers[0]!;
      const err = await c.pushBlob(ref(repo), l.desc, opener(Buffer.alloc(100, 1))).catch((e) => e);
      expect(err).toBeInstanceOf(RegistryError);
      expect(err.status).toBe(400);
      expect(err.codes).toContain('DIGEST_INVALID');
      expect(await c.hasBlob(ref(repo), l.desc.digest)).toBeUndefined();
    });

    it('OCI and Docker manifests round-trip byte-exact with their Content-Type, under several tags', async () => {
      const c = target().client();
      const repo = uniqueRepo();
      for (const docker of [false, true]) {
        const img = makeImage([10, 20], { docker });
        for (const b of [img.config, ...img.layers]) await c.pushBlob(ref(repo), b.desc, opener(b.bytes));
        const tag = docker ? 'v2s2' : 'oci';
        const digest = await c.putManifest(ref(repo, `:${tag}`), img.manifest, img.mediaType);
        expect(digest).toBe(img.manifestDesc.digest);
        await c.putManifest(ref(repo, `:${tag}-again`), img.manifest, img.mediaType);
        const got = await c.getManifest(ref(repo, `:${tag}`));
        expect(got.bytes.equals(img.manifest)).toBe(true);
        expect(got.mediaType).toBe(img.mediaType);
        expect(got.digest).toBe(digest);
        const head = await c.headManifest(ref(repo, `:${tag}-again`));
        expect(head).toMatchObject({ digest, mediaType: img.mediaType, size: img.manifest.length });
        expect((await c.getManifest(ref(repo, `@${digest}`))).bytes.equals(img.manifest)).toBe(true);
      }
      expect((await c.listTags(ref(repo))).sort()).toEqual(['oci', 'oci-again', 'v2s2', 'v2s2-again']);
    });

    it('a manifest whose blobs are missing is refused (MANIFEST_BLOB_UNKNOWN) and no tag appears', async () => {
      const c = target().client();
      const repo = uniqueRepo();
      const img = makeImage([10, 20]);
      await c.pushBlob(ref(repo), img.config.desc, opener(img.config.bytes));
      await c.pushBlob(ref(repo), img.layers[0]!.desc, opener(img.layers[0]!.bytes));
      const err = await c.putManifest(ref(repo, ':x'), img.manifest, img.mediaType).catch((e) => e);
      expect(err).toBeInstanceOf(RegistryError);
      expect(err.status).toBe(400);
      expect(err.codes).toContain('MANIFEST_BLOB_UNKNOWN');
      expect(await c.headManifest(ref(repo, ':x'))).toBeUndefined();
    });

    it('an unknown manifest is a 404 RegistryError naming the URL and MANIFEST_UNKNOWN', async () => {
      const c = target().client();
      const repo = uniqueRepo();
      const err = await c.getManifest(ref(repo, ':nope')).catch((e) => e);
      expect(err).toBeInstanceOf(RegistryError);
      expect(err.status).toBe(404);
      expect(err.code).toBe('KILN_REGISTRY_NOT_FOUND');
      expect(err.message).toContain(`/v2/${repo}/manifests/nope`);
      expect(['MANIFEST_UNKNOWN', 'NAME_UNKNOWN']).toContain(err.codes[0]);
    });

    it('an index resolves to the requested platform; a missing platform lists what exists', async () => {
      const c = target().client();
      const repo = uniqueRepo();
      const amd = makeImage([11], { platform: { os: 'linux', architecture: 'amd64' } });
      const arm = makeImage([12], { platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } });
      for (const img of [amd, arm]) {
        for (const b of [img.config, ...img.layers]) await c.pushBlob(ref(repo), b.desc, opener(b.bytes));
        await c.putManifest(ref(repo, `@${img.manifestDesc.digest}`), img.manifest, img.mediaType);
      }
      const index = makeIndex([
        { image: amd, platform: { os: 'linux', architecture: 'amd64' } },
        { image: arm, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
      ]);
      await c.putManifest(ref(repo, ':multi'), index.bytes, MediaType.OciIndex);
      const r = await c.resolveImage(ref(repo, ':multi'), {
        platform: { os: 'linux', architecture: 'arm64' },
      });
      expect(r.manifestDigest).toBe(arm.manifestDesc.digest);
      expect(r.index?.digest).toBe(index.desc.digest);
      expect(r.config.architecture).toBe('arm64');
      const err = await c
        .resolveImage(ref(repo, ':multi'), { platform: { os: 'linux', architecture: 's390x' } })
        .catch((e) => e);
      expect(err.code).toBe('KILN_PLATFORM_NOT_FOUND');
      expect(err.message).toContain('linux/s390x');
      expect(err.message).toContain('linux/amd64, linux/arm64/v8');
    });

    it('copyImage between repositories keeps the manifest digest', async () => {
      const c = target().client();
      const a = uniqueRepo();
      const b = uniqueRepo();
      const img = makeImage([5000, 7000]);
      for (const blob of [img.config, ...img.layers]) await c.pushBlob(ref(a), blob.desc, opener(blob.bytes));
      await c.putManifest(ref(a, ':1'), img.manifest, img.mediaType);
      const results: string[] = [];
      const { digest } = await copyImage(
        new RegistryImage(c, ref(a, ':1')),
        new RegistryImage(c, ref(b, ':copy')),
        {
          mountFrom: [ref(a)],
          onBlob: (_d, r) => results.push(r),
        },
      );
      expect(digest).toBe(img.manifestDesc.digest);
      expect(results).toEqual(['mounted', 'mounted', 'mounted']);
      expect((await c.headManifest(ref(b, ':copy')))?.digest).toBe(digest);
    });
  });
}
