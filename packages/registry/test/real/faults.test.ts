import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { fetch as undiciFetch } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  copyImage,
  OciLayout,
  RegistryClient,
  type RegistryClientOptions,
  RegistryError,
  RegistryImage,
} from '../../src/index.js';
import { type FaultProxy, startFaultProxy } from '../helpers/fault-proxy.js';
import { makeImage, opener, readStream, uniqueRepo } from '../helpers/images.js';
import { type RunningRegistry, startRegistry } from '../helpers/real-registry.js';

let registry: RunningRegistry;
let proxy: FaultProxy;

beforeAll(async () => {
  registry = await startRegistry();
  proxy = await startFaultProxy(registry.host);
}, 60_000);
afterAll(async () => {
  await proxy?.close();
  await registry?.stop();
});
afterEach(() => proxy.clear());

// Short backoff and stall timeout keep the suite fast; the behaviour is the same as with defaults.
const client = (extra: Partial<RegistryClientOptions> = {}) =>
  new RegistryClient({
    insecure: [proxy.host],
    dockerConfig: false,
    retry: { minDelayMs: 5, maxDelayMs: 50 },
    timeoutMs: 1500,
    ...extra,
  });
const direct = () => new RegistryClient({ insecure: [registry.host], dockerConfig: false });

async function seed(sizes: number[]) {
  const repo = uniqueRepo('faults');
  const img = makeImage(sizes);
  const c = direct();
  for (const b of [img.config, ...img.layers])
    await c.pushBlob(`${registry.host}/${repo}`, b.desc, opener(b.bytes));
  await c.putManifest(`${registry.host}/${repo}:v1`, img.manifest, img.mediaType);
  return { repo, img, ref: `${proxy.host}/${repo}:v1` };
}

describe('pulls through transient faults', () => {
  it('a connection dropped mid-blob is resumed with a Range request and the blob verifies', async () => {
    const { repo, img } = await seed([300_000]);
    const l = img.layers[0]!;
    proxy.add({
      method: 'GET',
      path: new RegExp(`/blobs/${l.desc.digest}`),
      fault: { kind: 'drop-response' },
    });
    const got = await readStream(await client().openBlob(`${proxy.host}/${repo}`, l.desc));
    expect(got.equals(l.bytes)).toBe(true);
    expect(proxy.fired.map((f) => f.fault)).toContain('drop-response');
    const ranged = proxy.seen.filter((s) => s.path.includes(l.desc.digest) && s.range);
    expect(ranged.length).toBe(1);
    expect(ranged[0]!.range).toMatch(/^bytes=[1-9]\d*-$/);
  });

  it('503, 500 and 429 (Retry-After) on the manifest are retried', async () => {
    const { ref, img } = await seed([10]);
    proxy.add({ method: 'GET', path: /\/manifests\/v1$/, fault: { kind: 'status', status: 503 } });
    proxy.add({ method: 'GET', path: /\/manifests\/v1$/, fault: { kind: 'status', status: 500 } });
    proxy.add({
      method: 'GET',
      path: /\/manifests\/v1$/,
      fault: { kind: 'status', status: 429, retryAfter: '0' },
    });
    const m = await client().getManifest(ref);
    expect(m.digest).toBe(img.manifestDesc.digest);
    expect(proxy.fired).toHaveLength(3);
  });

  it('a stalled blob response is abandoned after the stall timeout and retried', async () => {
    const { repo, img } = await seed([5000]);
    const l = img.layers[0]!;
    proxy.add({ method: 'GET', path: new RegExp(`/blobs/${l.desc.digest}`), fault: { kind: 'stall' } });
    const t0 = Date.now();
    const got = await client({ timeoutMs: 400 }).fetchBlob(`${proxy.host}/${repo}`, l.desc);
    expect(got.equals(l.bytes)).toBe(true);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(380);
  });

  it('a persistent 500 fails with a RegistryError after the bounded retries', async () => {
    const { repo, img } = await seed([10]);
    const l = img.layers[0]!;
    proxy.add({
      method: 'GET',
      path: new RegExp(`/blobs/${l.desc.digest}`),
      fault: { kind: 'status', status: 500 },
      times: Infinity,
    });
    const err = await client({ retry: { retries: 2, minDelayMs: 1, maxDelayMs: 5 } })
      .fetchBlob(`${proxy.host}/${repo}`, l.desc)
      .catch((e) => e);
    expect(err).toBeInstanceOf(RegistryError);
    expect(err.status).toBe(500);
    expect(err.code).toBe('KILN_REGISTRY_SERVER_ERROR');
    expect(err.codes).toEqual(['UNAVAILABLE']);
    expect(proxy.fired).toHaveLength(3);
  });

  it('a 404 is not retried', async () => {
    const c = client();
    const repo = uniqueRepo('faults');
    const before = proxy.seen.length;
    const err = await c.getManifest(`${proxy.host}/${repo}:missing`).catch((e) => e);
    expect(err.status).toBe(404);
    expect(proxy.seen.slice(before).filter((s) => s.path.includes('/manifests/'))).toHaveLength(1);
  });
});

describe('stall timeouts measure progress, not duration', () => {
  const slow = (bytes: Buffer, pieces: number, gapMs: number) => () =>
    Readable.from(
      (async function* () {
        const step = Math.ceil(bytes.length / pieces);
        for (let i = 0; i < bytes.length; i += step) {
          await new Promise((r) => setTimeout(r, gapMs));
          yield bytes.subarray(i, i + step);
        }
      })(),
    );
  for (const transport of ['default undici Agent', 'injected fetch'] as const) {
    it(`a slow but steady upload (1.2 s, timeout 400 ms) completes through the ${transport}`, async () => {
      const c = new RegistryClient({
        insecure: [registry.host],
        dockerConfig: false,
        timeoutMs: 400,
        retry: { retries: 0 },
        ...(transport === 'injected fetch' ? { fetch: undiciFetch } : {}),
      });
      const l = makeImage([60_000]).layers[0]!;
      const repo = `${registry.host}/${uniqueRepo('faults')}`;
      expect(await c.pushBlob(repo, l.desc, slow(l.bytes, 8, 150))).toBe('uploaded');
      expect(await c.hasBlob(repo, l.desc.digest)).toBe(60_000);
      await c.close();
    });
  }
});

describe('pushes through transient faults', () => {
  it('a chunk answered 503 is resent from the Range the registry reports', async () => {
    const c = client({ chunkSize: 64 * 1024, monolithicMaxSize: 1024 });
    const repo = uniqueRepo('faults');
    const l = makeImage([200_000]).layers[0]!;
    // The second PATCH (bytes 65536-131071) fails once.
    proxy.add({
      method: 'PATCH',
      path: /\/blobs\/uploads\//,
      fault: { kind: 'status', status: 503 },
      skip: 1,
    });
    expect(await c.pushBlob(`${proxy.host}/${repo}`, l.desc, opener(l.bytes))).toBe('uploaded');
    const uploads = proxy.seen.filter((s) => s.path.includes('/blobs/uploads/'));
    expect(uploads.filter((s) => s.method === 'POST')).toHaveLength(1); // one session: resumed, not restarted
    expect(uploads.filter((s) => s.method === 'PATCH')).toHaveLength(5); // 4 chunks + 1 resend
    expect(uploads.some((s) => s.method === 'GET')).toBe(true); // upload status asked before the resend
    expect(await direct().fetchBlob(`${registry.host}/${repo}`, l.desc)).toEqual(l.bytes);
  });

  for (const skip of [0, 2]) {
    it(`a connection dropped while sending chunk ${skip + 1} recovers and the blob is intact`, async () => {
      const c = client({ chunkSize: 64 * 1024, monolithicMaxSize: 1024 });
      const repo = uniqueRepo('faults');
      const l = makeImage([150_000]).layers[0]!;
      proxy.add({ method: 'PATCH', path: /\/blobs\/uploads\//, fault: { kind: 'drop-request' }, skip });
      expect(await c.pushBlob(`${proxy.host}/${repo}`, l.desc, opener(l.bytes))).toBe('uploaded');
      expect(proxy.fired.map((f) => f.fault)).toEqual(['drop-request']);
      expect(await direct().fetchBlob(`${registry.host}/${repo}`, l.desc)).toEqual(l.bytes);
    });
  }

  for (const skip of [0, 1]) {
    it(`chunk ${skip + 1} cut after the registry received part of it: resumed or restarted, never corrupt`, async () => {
      const c = client({ chunkSize: 64 * 1024, monolithicMaxSize: 1024 });
      const repo = uniqueRepo('faults');
      const l = makeImage([150_000]).layers[0]!;
      proxy.add({ method: 'PATCH', path: /\/blobs\/uploads\//, fault: { kind: 'cut-request' }, skip });
      expect(await c.pushBlob(`${proxy.host}/${repo}`, l.desc, opener(l.bytes))).toBe('uploaded');
      expect(proxy.fired.map((f) => f.fault)).toEqual(['cut-request']);
      expect(await direct().fetchBlob(`${registry.host}/${repo}`, l.desc)).toEqual(l.bytes);
    });
  }

  it('a monolithic PUT dropped mid-body restarts the upload in a new session', async () => {
    const c = client();
    const repo = uniqueRepo('faults');
    const l = makeImage([100_000]).layers[0]!;
    proxy.add({ method: 'PUT', path: /\/blobs\/uploads\//, fault: { kind: 'drop-request' } });
    expect(await c.pushBlob(`${proxy.host}/${repo}`, l.desc, opener(l.bytes))).toBe('uploaded');
    expect(proxy.seen.filter((s) => s.method === 'POST' && s.path.includes(repo)).length).toBe(2);
    expect(await direct().hasBlob(`${registry.host}/${repo}`, l.desc.digest)).toBe(100_000);
  });

  it('copyImage through flaky pushes completes, and the manifest arrives last', async () => {
    const src = await seed([20_000, 30_000, 40_000]);
    const dst = uniqueRepo('faults');
    proxy.add({
      method: 'PUT',
      path: /\/blobs\/uploads\//,
      fault: { kind: 'status', status: 503 },
      times: 2,
    });
    proxy.add({ method: 'HEAD', path: /\/blobs\//, fault: { kind: 'status', status: 502 } });
    const c = client();
    const { digest } = await copyImage(
      new RegistryImage(c, src.ref),
      new RegistryImage(c, `${proxy.host}/${dst}:copied`),
    );
    expect(digest).toBe(src.img.manifestDesc.digest);
    const ops = proxy.seen.filter((s) => s.path.includes(dst) && s.method === 'PUT');
    expect(ops.at(-1)!.path).toContain('/manifests/copied');
    expect(ops.filter((s) => s.path.includes('/manifests/'))).toHaveLength(1);
  });

  it('a persistent fault on one layer fails clearly and leaves no manifest behind', async () => {
    const src = await seed([20_000, 30_000]);
    const dst = uniqueRepo('faults');
    const bad = src.img.layers[1]!.desc.digest;
    proxy.add({
      method: 'PUT',
      path: new RegExp(`digest=${bad.replace(':', '(:|%3A)')}`),
      fault: { kind: 'status', status: 503 },
      times: Infinity,
    });
    const c = client({ retry: { retries: 2, minDelayMs: 1, maxDelayMs: 5 } });
    const err = await copyImage(
      new RegistryImage(c, src.ref),
      new RegistryImage(c, `${proxy.host}/${dst}:broken`),
    ).catch((e) => e);
    expect(err).toBeInstanceOf(RegistryError);
    expect(err.message).toMatch(/503/);
    expect(await direct().headManifest(`${registry.host}/${dst}:broken`)).toBeUndefined();
    expect(proxy.seen.some((s) => s.path.includes(`${dst}/manifests`))).toBe(false);
  });

  it('an OCI layout destination is left without the image or the blob when a source blob cannot be read', async () => {
    const src = await seed([20_000]);
    const dir = await mkdtemp(join(tmpdir(), 'kiln-oci-'));
    try {
      const l = src.img.layers[0]!;
      proxy.add({
        method: 'GET',
        path: new RegExp(`/blobs/${l.desc.digest}`),
        fault: { kind: 'status', status: 500 },
        times: Infinity,
      });
      const layout = new OciLayout(dir, 'x');
      const err = await copyImage(
        new RegistryImage(client({ retry: { retries: 1, minDelayMs: 1 } }), src.ref),
        layout,
      ).catch((e) => e);
      expect(err).toBeInstanceOf(RegistryError);
      expect(await layout.tags()).toEqual([]);
      expect(await layout.hasBlob(l.desc)).toBe(false);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
