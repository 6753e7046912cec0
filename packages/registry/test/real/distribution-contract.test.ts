import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, fetch as undiciFetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryClient, RegistryError } from '../../src/index.js';
import { registryContract } from '../contract/registry-contract.js';
import { makeImage, opener, uniqueRepo } from '../helpers/images.js';
import {
  HTPASSWD,
  type RunningRegistry,
  startRegistry,
  startTokenRegistry,
  TOKEN_USER,
} from '../helpers/real-registry.js';

let plain: RunningRegistry;
let tls: RunningRegistry;
let token: Awaited<ReturnType<typeof startTokenRegistry>>;

beforeAll(async () => {
  [plain, tls, token] = await Promise.all([
    startRegistry(),
    startRegistry({ tls: true, htpasswd: HTPASSWD }),
    startTokenRegistry(),
  ]);
}, 60_000);
afterAll(async () => {
  await Promise.all([plain?.stop(), tls?.stop(), token?.stop()]);
});

registryContract('distribution registry, plain HTTP', () => ({
  host: plain.host,
  client: (extra) => new RegistryClient({ insecure: [plain.host], dockerConfig: false, ...extra }),
}));

// The two injection seams over real HTTP: undici's fetch (redirect: 'manual', streamed bodies with
// duplex: 'half') and a caller-owned undici Agent.
registryContract('distribution registry, plain HTTP, injected fetch', () => ({
  host: plain.host,
  client: (extra) =>
    new RegistryClient({
      fetch: undiciFetch,
      insecure: [plain.host],
      dockerConfig: false,
      ...extra,
    }),
}));

const agent = new Agent({ keepAliveTimeout: 1000 });
afterAll(() => agent.close());
registryContract('distribution registry, plain HTTP, injected Dispatcher', () => ({
  host: plain.host,
  client: (extra) =>
    new RegistryClient({ dispatcher: agent, insecure: [plain.host], dockerConfig: false, ...extra }),
}));

registryContract('distribution registry, HTTPS + htpasswd', () => ({
  host: tls.host,
  client: (extra) =>
    new RegistryClient({
      ca: tls.caPem,
      credentials: { [tls.host]: { username: HTPASSWD.user, password: HTPASSWD.password } },
      dockerConfig: false,
      ...extra,
    }),
}));

registryContract('distribution registry, token auth', () => ({
  host: token.registry.host,
  client: (extra) =>
    new RegistryClient({
      insecure: [token.registry.host],
      credentials: { [token.registry.host]: { username: TOKEN_USER.user, password: TOKEN_USER.password } },
      dockerConfig: false,
      ...extra,
    }),
}));

describe('auth and TLS against the real registry', () => {
  it('a wrong password is a 401 RegistryError that does not leak the credentials', async () => {
    const secret = 'wrong-S3cret-value';
    const c = new RegistryClient({
      ca: tls.caPem,
      credentials: { [tls.host]: { username: 'kiln', password: secret } },
      dockerConfig: false,
    });
    const err = await c.getManifest(`${tls.host}/x/y:z`).catch((e) => e);
    expect(err).toBeInstanceOf(RegistryError);
    expect(err.status).toBe(401);
    expect(err.code).toBe('KILN_REGISTRY_UNAUTHORIZED');
    const text = `${err.message} ${JSON.stringify(err)} ${err.url}`;
    expect(text).not.toContain(secret);
    expect(text).not.toContain(Buffer.from(`kiln:${secret}`).toString('base64'));
  });

  it('an HTTPS registry with an unknown CA fails with a network error naming the certificate problem', async () => {
    const c = new RegistryClient({ dockerConfig: false, retry: { retries: 0 } });
    const err = await c.getManifest(`${tls.host}/x/y:z`).catch((e) => e);
    expect(err).toBeInstanceOf(RegistryError);
    expect(err.status).toBe(0);
    expect(err.code).toBe('KILN_REGISTRY_NETWORK');
    expect(err.message).toMatch(/certificate/i);
  });

  it('skipTlsVerify for that registry accepts its certificate', async () => {
    const c = new RegistryClient({
      skipTlsVerify: [tls.host],
      credentials: { [tls.host]: { username: HTPASSWD.user, password: HTPASSWD.password } },
      dockerConfig: false,
    });
    const err = await c.getManifest(`${tls.host}/x/y:z`).catch((e) => e);
    expect(err.status).toBe(404);
  });

  it('credentials come from $DOCKER_CONFIG/config.json when none are given', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kiln-dockercfg-'));
    try {
      const auth = Buffer.from(`${HTPASSWD.user}:${HTPASSWD.password}`).toString('base64');
      await writeFile(
        join(dir, 'config.json'),
        JSON.stringify({ auths: { [`https://${tls.host}`]: { auth } } }),
      );
      const c = new RegistryClient({ ca: tls.caPem, dockerConfig: { env: { DOCKER_CONFIG: dir } } });
      const l = makeImage([10]).layers[0]!;
      expect(await c.pushBlob(`${tls.host}/${uniqueRepo()}`, l.desc, opener(l.bytes))).toBe('uploaded');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('token auth: one token per scope set is fetched and reused across requests', async () => {
    const before = token.tokens.requests.length;
    const c = new RegistryClient({
      insecure: [token.registry.host],
      credentials: { [token.registry.host]: { username: TOKEN_USER.user, password: TOKEN_USER.password } },
      dockerConfig: false,
    });
    const repo = `${token.registry.host}/${uniqueRepo()}`;
    const img = makeImage([10, 20, 30]);
    for (const b of [img.config, ...img.layers]) await c.pushBlob(repo, b.desc, opener(b.bytes));
    await c.putManifest(`${repo}:t`, img.manifest, img.mediaType);
    const asked = token.tokens.requests.slice(before);
    expect(asked.length).toBeLessThanOrEqual(2);
    expect(asked.every((r) => r.user === TOKEN_USER.user)).toBe(true);
  });

  it('token auth: a credential helper (through the injected exec) supplies the login', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kiln-dockercfg-'));
    try {
      await writeFile(
        join(dir, 'config.json'),
        JSON.stringify({ credHelpers: { [token.registry.host]: 'kilntest' } }),
      );
      const calls: string[] = [];
      const c = new RegistryClient({
        insecure: [token.registry.host],
        dockerConfig: {
          env: { DOCKER_CONFIG: dir },
          exec: async (cmd, args, stdin) => {
            calls.push(`${cmd} ${args.join(' ')} <${stdin}`);
            return {
              exitCode: 0,
              stderr: '',
              stdout: JSON.stringify({
                ServerURL: stdin,
                Username: TOKEN_USER.user,
                Secret: TOKEN_USER.password,
              }),
            };
          },
        },
      });
      const l = makeImage([10]).layers[0]!;
      expect(await c.pushBlob(`${token.registry.host}/${uniqueRepo()}`, l.desc, opener(l.bytes))).toBe(
        'uploaded',
      );
      expect(calls[0]).toBe(`docker-credential-kilntest get <${token.registry.host}`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('token auth: anonymous access without pull rights is a clear 401', async () => {
    const c = new RegistryClient({ insecure: [token.registry.host], dockerConfig: false });
    const err = await c.getManifest(`${token.registry.host}/some/repo:tag`).catch((e) => e);
    expect(err).toBeInstanceOf(RegistryError);
    expect(err.status).toBe(401);
    expect(err.codes).toContain('UNAUTHORIZED');
    expect(err.message).toContain(`${token.registry.host}/v2/some/repo/manifests/tag`);
  });
});
