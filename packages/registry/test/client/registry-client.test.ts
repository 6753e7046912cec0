import diagnostics from 'node:diagnostics_channel';
import { describe, expect, it } from 'vitest';
import {
  DigestMismatchError,
  KilnRegistryBaseError,
  MediaType,
  RegistryClient,
  type RegistryClientOptions,
  RegistryError,
  redactUrl,
} from '../../src/index.js';
import {
  listenMemoryRegistry,
  MemoryRegistry,
  type MemoryRegistryOptions,
  memoryFetch,
} from '../../src/testing/index.js';
import { makeImage, opener, readStream, uniqueRepo } from '../helpers/images.js';

const HOST = 'reg.test';
const fast = { retry: { minDelayMs: 1, maxDelayMs: 5 } };

function setup(opts: MemoryRegistryOptions = {}, extra: Partial<RegistryClientOptions> = {}) {
  const registry = new MemoryRegistry(opts);
  const client = new RegistryClient({ fetch: memoryFetch(registry), dockerConfig: false, ...fast, ...extra });
  return { registry, client };
}

async function seed(client: RegistryClient, repo: string, sizes = [1000]) {
  const img = makeImage(sizes);
  for (const b of [img.config, ...img.layers])
    await client.pushBlob(`${HOST}/${repo}`, b.desc, opener(b.bytes));
  await client.putManifest(`${HOST}/${repo}:v1`, img.manifest, img.mediaType);
  return img;
}

describe('authentication', () => {
  const users = { alice: 'al1ce-S3cret' };
  const alice = { [HOST]: { username: 'alice', password: users.alice } };

  it('Bearer: fetches a token with Basic credentials, caches it per scope, and reuses it', async () => {
    const { registry, client } = setup({ auth: { mode: 'token', users } }, { credentials: alice });
    const repo = uniqueRepo();
    await seed(client, repo, [10, 20]);
    await client.getManifest(`${HOST}/${repo}:v1`);
    await client.getManifest(`${HOST}/${repo}:v1`);
    const tokens = registry.requests.filter((r) => r.path.startsWith('/token'));
    // One token for pull,push (uploads) and one for pull (manifest reads).
    expect(
      tokens
        .map((t) => decodeURIComponent(new URL(t.path, 'http://x').searchParams.get('scope') ?? ''))
        .sort(),
    ).toEqual([`repository:${repo}:pull`, `repository:${repo}:pull,push`]);
    expect(tokens.every((t) => t.authorized)).toBe(true);
  });

  it('Bearer: a token revoked by the registry is refreshed after the 401', async () => {
    const { registry, client } = setup({ auth: { mode: 'token', users } }, { credentials: alice });
    const repo = uniqueRepo();
    await seed(client, repo);
    registry.revokeTokens();
    const before = registry.requests.filter((r) => r.path.startsWith('/token')).length;
    await client.getManifest(`${HOST}/${repo}:v1`);
    expect(registry.requests.filter((r) => r.path.startsWith('/token')).length).toBe(before + 1);
  });

  it('Bearer: anonymous tokens are used when no credentials exist', async () => {
    const { registry, client } = setup({ auth: { mode: 'token', users, anonymousPull: true } });
    const writer = new RegistryClient({
      fetch: memoryFetch(registry),
      credentials: alice,
      dockerConfig: false,
    });
    const repo = uniqueRepo();
    const img = await seed(writer, repo);
    const r = await client.resolveImage(`${HOST}/${repo}:v1`);
    expect(r.manifestDigest).toBe(img.manifestDesc.digest);
    const anonymous = registry.requests.filter((q) => q.path.startsWith('/token') && !q.authorized);
    expect(anonymous.length).toBeGreaterThan(0);
    // Anonymous tokens carry pull only: an upload is refused with a clear 401.
    const fresh = makeImage([10]).layers[0]!;
    const err = await client.pushBlob(`${HOST}/${repo}`, fresh.desc, opener(fresh.bytes)).catch((e) => e);
    expect(err).toBeInstanceOf(RegistryError);
    expect(err.status).toBe(401);
  });

  it('Bearer: an identity token is exchanged with the OAuth2 refresh_token grant (POST)', async () => {
    const { registry, client } = setup(
      { auth: { mode: 'token', users, refreshTokens: { 'refresh-abc': 'alice' } } },
      { credentials: { [HOST]: { identityToken: 'refresh-abc' } } },
    );
    await seed(client, uniqueRepo());
    const tokenCalls = registry.requests.filter((r) => r.path.startsWith('/token'));
    expect(tokenCalls.length).toBeGreaterThan(0);
    expect(
      tokenCalls.every((r) => r.method === 'POST' && r.contentType === 'application/x-www-form-urlencoded'),
    ).toBe(true);
  });

  it('Basic: the credential is sent after the challenge; a wrong one is a 401 without secrets in the error', async () => {
    const { client } = setup({ auth: { mode: 'basic', users } }, { credentials: alice });
    const repo = uniqueRepo();
    await seed(client, repo);
    const bad = setup(
      { auth: { mode: 'basic', users } },
      { credentials: { [HOST]: { username: 'alice', password: 'n0pe-S3cret' } } },
    );
    const err = await bad.client.getManifest(`${HOST}/${repo}:v1`).catch((e) => e);
    expect(err).toBeInstanceOf(RegistryError);
    expect(err.status).toBe(401);
    expect(err.message).not.toContain('n0pe-S3cret');
    expect(err.message).not.toContain(Buffer.from('alice:n0pe-S3cret').toString('base64'));
  });

  it('a failing credential source surfaces as KILN_CREDENTIALS, not as a network error', async () => {
    const { client } = setup(
      { auth: { mode: 'token', users } },
      {
        credentials: async () => {
          throw new KilnRegistryBaseError(
            'KILN_CREDENTIALS',
            'docker-credential-x get for reg.test exited with status 1',
          );
        },
      },
    );
    const err = await client.getManifest(`${HOST}/a/b:c`).catch((e) => e);
    expect(err.code).toBe('KILN_CREDENTIALS');
  });

  it('diagnostics events name method, redacted URL and status, never credentials', async () => {
    const seen: unknown[] = [];
    const listener = (m: unknown) => seen.push(m);
    diagnostics.subscribe('kiln:registry:request', listener);
    try {
      const { client } = setup({ auth: { mode: 'token', users } }, { credentials: alice });
      await seed(client, uniqueRepo());
    } finally {
      diagnostics.unsubscribe('kiln:registry:request', listener);
    }
    const text = JSON.stringify(seen);
    expect(seen.length).toBeGreaterThan(3);
    expect(text).not.toContain(users.alice);
    expect(text).not.toMatch(/authorization|Bearer [0-9a-f]{8}/i);
  });

  it('redactUrl strips userinfo and token-like parameters', () => {
    expect(redactUrl('https://u:p@h/v2/x?_state=abc&digest=sha256:1&access_token=t')).toBe(
      'https://h/v2/x?_state=REDACTED&digest=sha256%3A1&access_token=REDACTED',
    );
  });
});

describe('wire details', () => {
  it('manifest GETs accept all four manifest types; PUTs send the exact media type', async () => {
    const { registry, client } = setup();
    const repo = uniqueRepo();
    const img = makeImage([10], { docker: true });
    for (const b of [img.config, ...img.layers])
      await client.pushBlob(`${HOST}/${repo}`, b.desc, opener(b.bytes));
    await client.putManifest(`${HOST}/${repo}:a`, img.manifest, img.mediaType);
    await client.getManifest(`${HOST}/${repo}:a`);
    const put = registry.requests.find((r) => r.method === 'PUT' && r.path.includes('/manifests/'));
    expect(put?.contentType).toBe('application/vnd.docker.distribution.manifest.v2+json');
    const get = registry.requests.find((r) => r.method === 'GET' && r.path.includes('/manifests/'));
    expect(get?.accept?.split(', ').sort()).toEqual([
      'application/vnd.docker.distribution.manifest.list.v2+json',
      'application/vnd.docker.distribution.manifest.v2+json',
      'application/vnd.oci.image.index.v1+json',
      'application/vnd.oci.image.manifest.v1+json',
    ]);
  });

  it('concurrent first requests to a registry share one GET /v2/ probe', async () => {
    const { registry, client } = setup();
    const img = makeImage([1, 2, 3, 4]);
    await Promise.all(img.layers.map((l) => client.pushBlob(`${HOST}/p/q`, l.desc, opener(l.bytes))));
    expect(registry.requests.filter((r) => r.path === '/v2/')).toHaveLength(1);
  });

  it('a blob already present is not uploaded again, and a known blob in another repository is mounted', async () => {
    const { registry, client } = setup();
    const l = makeImage([10]).layers[0]!;
    expect(await client.pushBlob(`${HOST}/a/one`, l.desc, opener(l.bytes))).toBe('uploaded');
    expect(await client.pushBlob(`${HOST}/a/one`, l.desc, opener(l.bytes))).toBe('exists');
    expect(
      await client.pushBlob(`${HOST}/a/two`, l.desc, opener(l.bytes), {
        mountFrom: ['other.test/a/one', `${HOST}/a/one`],
      }),
    ).toBe('mounted');
    const mount = registry.requests.find((r) => r.path.includes('mount='));
    expect(mount?.path).toBe(
      `/v2/a/two/blobs/uploads/?mount=${encodeURIComponent(l.desc.digest)}&from=a%2Fone`,
    );
    expect(registry.requests.filter((r) => r.path.includes('mount=')).length).toBe(1); // other.test is another registry: skipped
  });
});

describe('retries', () => {
  it('5xx and 429 are retried with backoff; Retry-After is honoured', async () => {
    const { registry, client } = setup();
    const repo = uniqueRepo();
    await seed(client, repo);
    let n = 0;
    registry.intercept((r) =>
      r.url.pathname.endsWith('/manifests/v1') && n++ < 3
        ? {
            status: [503, 429, 502][n - 1]!,
            headers: (n === 2 ? { 'retry-after': '0' } : {}) as Record<string, string>,
          }
        : undefined,
    );
    const m = await client.getManifest(`${HOST}/${repo}:v1`);
    expect(m.kind).toBe('image');
    expect(n).toBe(4);
  });

  it('other 4xx are not retried and carry the registry codes', async () => {
    const { registry, client } = setup();
    registry.intercept(() => ({
      status: 403,
      headers: { 'content-type': 'application/json' },
      body: Buffer.from('{"errors":[{"code":"DENIED","message":"no"}]}'),
    }));
    const err = await client.getManifest(`${HOST}/a/b:c`).catch((e) => e);
    expect(err).toMatchObject({ status: 403, codes: ['DENIED'], code: 'KILN_REGISTRY_DENIED' });
    expect(registry.requests.filter((r) => r.path.includes('/manifests/'))).toHaveLength(1);
  });

  it('network errors are retried, then reported with status 0', async () => {
    let calls = 0;
    const client = new RegistryClient({
      fetch: async () => {
        calls++;
        throw Object.assign(new TypeError('fetch failed'), {
          cause: Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }),
        });
      },
      dockerConfig: false,
      retry: { retries: 2, minDelayMs: 1, maxDelayMs: 2 },
    });
    const err = await client.getManifest(`${HOST}/a:b`).catch((e) => e);
    expect(err).toMatchObject({ status: 0, code: 'KILN_REGISTRY_NETWORK' });
    expect(err.message).toContain('ECONNRESET');
    expect(calls).toBe(3);
  });

  it('an aborted signal stops the call with the abort reason', async () => {
    const { client } = setup();
    const ctrl = new AbortController();
    ctrl.abort(new Error('user cancelled'));
    await expect(client.getManifest(`${HOST}/a:b`, { signal: ctrl.signal })).rejects.toThrow(
      'user cancelled',
    );
  });
});

describe('pulling blobs', () => {
  it('a body cut short is resumed with Range from the byte reached', async () => {
    const { registry, client } = setup();
    const repo = uniqueRepo();
    const img = await seed(client, repo, [100_000]);
    const l = img.layers[0]!;
    let cut = true;
    registry.intercept((r) => {
      if (cut && r.method === 'GET' && r.url.pathname.endsWith(l.desc.digest)) {
        cut = false;
        return {
          status: 200,
          headers: { 'content-type': 'application/octet-stream' },
          body: l.bytes.subarray(0, 30_000),
        };
      }
      return undefined;
    });
    expect((await readStream(await client.openBlob(`${HOST}/${repo}`, l.desc))).equals(l.bytes)).toBe(true);
    expect(registry.requests.filter((r) => r.range).map((r) => r.range)).toEqual(['bytes=30000-']);
  });

  it('a server that ignores Range on the resume is handled by skipping the bytes already received', async () => {
    const { registry, client } = setup();
    const repo = uniqueRepo();
    const img = await seed(client, repo, [50_000]);
    const l = img.layers[0]!;
    let calls = 0;
    registry.intercept((r) => {
      if (r.method !== 'GET' || !r.url.pathname.endsWith(l.desc.digest)) return undefined;
      calls++;
      // First answer is cut short; the second ignores the Range header and sends everything.
      return { status: 200, headers: {}, body: calls === 1 ? l.bytes.subarray(0, 20_000) : l.bytes };
    });
    expect((await client.fetchBlob(`${HOST}/${repo}`, l.desc)).equals(l.bytes)).toBe(true);
    expect(calls).toBe(2);
  });

  it('aborting while a blob streams ends the stream with the abort reason', async () => {
    const registry = new MemoryRegistry();
    const server = await listenMemoryRegistry(registry);
    try {
      const client = new RegistryClient({ insecure: [server.host], dockerConfig: false });
      const repo = uniqueRepo();
      const l = makeImage([3_000_000]).layers[0]!;
      await client.pushBlob(`${server.host}/${repo}`, l.desc, opener(l.bytes));
      const ctrl = new AbortController();
      const s = await client.openBlob(`${server.host}/${repo}`, l.desc, { signal: ctrl.signal });
      let chunks = 0;
      const err = await (async () => {
        for await (const _ of s) if (++chunks === 1) ctrl.abort(new Error('stop now'));
      })().catch((e) => e);
      expect(err?.message).toBe('stop now');
      await client.close();
    } finally {
      await server.close();
    }
  });

  it('a blob whose bytes do not match its digest errors and never ends cleanly', async () => {
    const { registry, client } = setup();
    const repo = uniqueRepo();
    const img = await seed(client, repo, [5000]);
    const l = img.layers[0]!;
    registry.intercept((r) =>
      r.method === 'GET' && r.url.pathname.endsWith(l.desc.digest)
        ? { status: 200, headers: {}, body: Buffer.alloc(5000, 7) }
        : undefined,
    );
    const stream = await client.openBlob(`${HOST}/${repo}`, l.desc);
    let received = 0;
    const err = await (async () => {
      for await (const c of stream) received += (c as Buffer).length;
    })().catch((e) => e);
    expect(err).toBeInstanceOf(DigestMismatchError);
    expect(err.code).toBe('KILN_DIGEST_MISMATCH');
    expect(received).toBeLessThan(5000); // the last chunk is held back until verified
  });

  it('a redirect to blob storage is followed without the Authorization header', async () => {
    const users = { bob: 'b0b-pw' };
    const { registry, client } = setup(
      { auth: { mode: 'token', users }, redirectBlobsTo: 'http://blobs.storage.test' },
      { credentials: { [HOST]: { username: 'bob', password: users.bob } } },
    );
    const repo = uniqueRepo();
    const img = await seed(client, repo, [2000]);
    const got = await client.fetchBlob(`${HOST}/${repo}`, img.layers[0]!.desc);
    expect(got.equals(img.layers[0]!.bytes)).toBe(true);
    const storage = registry.requests.filter((r) => r.host === 'blobs.storage.test');
    expect(storage).toHaveLength(1);
    expect(storage[0]!.authorized).toBe(false);
    expect(registry.requests.find((r) => r.status === 307)?.authorized).toBe(true);
  });

  it('Docker schema 1 manifests are refused with a clear message', async () => {
    const { registry, client } = setup();
    registry.intercept(() => ({
      status: 200,
      headers: { 'content-type': MediaType.DockerSchema1Signed },
      body: Buffer.from(JSON.stringify({ schemaVersion: 1, name: 'x', tag: 'y', fsLayers: [] })),
    }));
    const err = await client.getManifest(`${HOST}/x:y`).catch((e) => e);
    expect(err.code).toBe('KILN_MANIFEST_UNSUPPORTED');
    expect(err.message).toMatch(/schema 1/);
  });

  it('a manifest fetched by digest is verified against it', async () => {
    const { registry, client } = setup();
    const repo = uniqueRepo();
    const img = await seed(client, repo);
    const other = makeImage([3]).manifest;
    registry.intercept((r) =>
      r.url.pathname.includes('/manifests/sha256:')
        ? { status: 200, headers: { 'content-type': MediaType.OciManifest }, body: other }
        : undefined,
    );
    const err = await client.getManifest(`${HOST}/${repo}@${img.manifestDesc.digest}`).catch((e) => e);
    expect(err.code).toBe('KILN_DIGEST_MISMATCH');
  });
});

describe('mirrors and registry maps', () => {
  function routed(map: Record<string, MemoryRegistry>) {
    const fetches = Object.fromEntries(Object.entries(map).map(([h, r]) => [h, memoryFetch(r)]));
    return (url: string, init: Parameters<ReturnType<typeof memoryFetch>>[1]) => {
      const f = fetches[new URL(url).host];
      if (!f)
        throw Object.assign(new TypeError('fetch failed'), {
          cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }),
        });
      return f(url, init);
    };
  }

  it('Docker Hub pulls try the mirror first and fall back to the origin', async () => {
    const hub = new MemoryRegistry();
    const mirror = new MemoryRegistry();
    const c = new RegistryClient({
      fetch: routed({ 'registry-1.docker.io': hub, 'mirror.test': mirror }),
      mirrors: ['mirror.test'],
      dockerConfig: false,
      ...fast,
    });
    const seeder = new RegistryClient({ fetch: memoryFetch(hub), dockerConfig: false });
    const img = makeImage([100]);
    for (const b of [img.config, ...img.layers])
      await seeder.pushBlob('docker.io/library/only-on-hub', b.desc, opener(b.bytes));
    await seeder.putManifest('docker.io/library/only-on-hub:1', img.manifest, img.mediaType);
    const r = await c.resolveImage('only-on-hub:1');
    expect(r.servedBy).toBe('registry-1.docker.io');
    expect(mirror.requests.some((q) => q.path.includes('only-on-hub'))).toBe(true);
    const mseeder = new RegistryClient({ fetch: memoryFetch(mirror), dockerConfig: false });
    for (const b of [img.config, ...img.layers])
      await mseeder.pushBlob('mirror.test/library/cached', b.desc, opener(b.bytes));
    await mseeder.putManifest('mirror.test/library/cached:1', img.manifest, img.mediaType);
    const before = hub.requests.length;
    const m = await c.resolveImage('cached:1');
    expect(m.servedBy).toBe('mirror.test');
    expect(hub.requests.length).toBe(before);
  });

  it('a registry map rewrites pulls; skipDefaultRegistryFallback keeps them off the origin', async () => {
    const mapped = new MemoryRegistry();
    const c = new RegistryClient({
      fetch: routed({ 'mapped.test': mapped }),
      registryMap: 'orig.test=mapped.test',
      skipDefaultRegistryFallback: true,
      dockerConfig: false,
      ...fast,
      retry: { retries: 0 },
    });
    const err = await c.getManifest('orig.test/a/b:c').catch((e) => e);
    expect(err.status).toBe(404);
    expect(mapped.requests.some((r) => r.path === '/v2/a/b/manifests/c')).toBe(true);
  });
});

describe('concurrency', () => {
  it('at most `concurrency` blob uploads are in flight', async () => {
    const { registry, client } = setup({}, { concurrency: 2 });
    let inFlight = 0;
    let peak = 0;
    registry.intercept(async (r) => {
      if (r.method === 'PUT' && r.url.pathname.includes('/blobs/uploads/')) {
        peak = Math.max(peak, ++inFlight);
        await new Promise((res) => setTimeout(res, 20));
        inFlight--;
      }
      return undefined;
    });
    const img = makeImage([10, 11, 12, 13, 14, 15]);
    const repo = `${HOST}/${uniqueRepo()}`;
    await Promise.all(img.layers.map((l) => client.pushBlob(repo, l.desc, opener(l.bytes))));
    expect(peak).toBe(2);
  });
});

describe('options', () => {
  it('contradictory options are rejected up front', () => {
    expect(() => new RegistryClient({ fetch: memoryFetch(new MemoryRegistry()), ca: 'x' })).toThrow(
      /TLS options/,
    );
    expect(
      () => new RegistryClient({ fetch: memoryFetch(new MemoryRegistry()), dispatcher: {} as never }),
    ).toThrow(/either/);
  });
});
