import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryClient, RegistryError } from '../../src/index.js';
import { listenMemoryRegistry, MemoryRegistry, type MemoryRegistryServer } from '../../src/testing/index.js';
import { type Issued, issueCert, makeCa } from '../helpers/certs.js';

let dir: string;
let ca: Issued;
let clientCert: Issued;
let server: MemoryRegistryServer;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kiln-mtls-'));
  ca = await makeCa(dir, 'mtls-ca');
  const serverCert = await issueCert(dir, ca, 'server', [
    'subjectAltName=IP:127.0.0.1',
    'extendedKeyUsage=serverAuth',
  ]);
  clientCert = await issueCert(dir, ca, 'client', ['extendedKeyUsage=clientAuth']);
  server = await listenMemoryRegistry(new MemoryRegistry(), {
    tls: {
      cert: serverCert.certPem,
      key: serverCert.keyPem,
      ca: ca.certPem,
      requestCert: true,
      rejectUnauthorized: true,
    },
  });
}, 30_000);
afterAll(async () => {
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('TLS: custom CA and client certificates', () => {
  it('with the CA and a client certificate for that registry, requests succeed', async () => {
    const c = new RegistryClient({
      dockerConfig: false,
      registries: { [server.host]: { ca: ca.certPem, cert: clientCert.certPem, key: clientCert.keyPem } },
    });
    const err = await c.getManifest(`${server.host}/a/b:c`).catch((e) => e);
    expect(err).toBeInstanceOf(RegistryError);
    expect(err.status).toBe(404); // reached the registry through mutual TLS
    await c.close();
  });

  it('without a client certificate the handshake is refused (status 0, not retried forever)', async () => {
    const c = new RegistryClient({
      dockerConfig: false,
      ca: ca.certPem,
      retry: { retries: 1, minDelayMs: 1 },
    });
    const err = await c.getManifest(`${server.host}/a/b:c`).catch((e) => e);
    expect(err).toBeInstanceOf(RegistryError);
    expect(err.status).toBe(0);
    await c.close();
  });

  it('without the CA the server certificate is rejected; skipTlsVerify accepts it', async () => {
    const strict = new RegistryClient({
      dockerConfig: false,
      cert: clientCert.certPem,
      key: clientCert.keyPem,
      retry: { retries: 0 },
    });
    const err = await strict.getManifest(`${server.host}/a/b:c`).catch((e) => e);
    expect(err.status).toBe(0);
    expect(err.message).toMatch(/certificate/i);
    const lax = new RegistryClient({
      dockerConfig: false,
      cert: clientCert.certPem,
      key: clientCert.keyPem,
      skipTlsVerify: [server.host],
    });
    expect((await lax.getManifest(`${server.host}/a/b:c`).catch((e) => e)).status).toBe(404);
    await strict.close();
    await lax.close();
  });
});
