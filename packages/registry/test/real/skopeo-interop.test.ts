import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  copyImage,
  DockerArchive,
  OciLayout,
  RegistryClient,
  RegistryImage,
  sha256Digest,
  validateImage,
} from '../../src/index.js';
import { listenMemoryRegistry, MemoryRegistry, memoryFetch } from '../../src/testing/index.js';
import { opener, uniqueRepo } from '../helpers/images.js';
import { realImage } from '../helpers/layer-tar.js';
import { type RunningRegistry, startRegistry } from '../helpers/real-registry.js';

const run = promisify(execFile);
const skopeo = async (...args: string[]) =>
  (await run('skopeo', args, { maxBuffer: 64 * 1024 * 1024 })).stdout;

let registry: RunningRegistry;
let work: string;
const client = () => new RegistryClient({ insecure: [registry.host], dockerConfig: false });

beforeAll(async () => {
  registry = await startRegistry();
  work = await mkdtemp(join(tmpdir(), 'kiln-interop-'));
}, 60_000);
afterAll(async () => {
  await registry?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

async function pushWithKiln(docker: boolean) {
  const img = realImage([4000, 9000], { docker });
  const ref = `${registry.host}/${uniqueRepo('interop')}:kiln`;
  const c = client();
  for (const b of [img.config, ...img.layers]) await c.pushBlob(ref, b.desc, opener(b.bytes));
  const digest = await c.putManifest(ref, img.manifest, img.mediaType);
  return { img, ref, digest };
}

describe('interoperability with skopeo', () => {
  for (const docker of [false, true]) {
    it(`skopeo inspects and copies what kiln pushed (${docker ? 'Docker schema 2' : 'OCI'})`, async () => {
      const { img, ref, digest } = await pushWithKiln(docker);
      const raw = await skopeo('inspect', '--tls-verify=false', '--raw', `docker://${ref}`);
      expect(sha256Digest(raw)).toBe(digest);
      const inspected = JSON.parse(await skopeo('inspect', '--tls-verify=false', `docker://${ref}`));
      expect(inspected.Digest).toBe(digest);
      expect(inspected.Layers).toEqual(img.layers.map((l) => l.desc.digest));
      const config = JSON.parse(await skopeo('inspect', '--tls-verify=false', '--config', `docker://${ref}`));
      expect(config.rootfs.diff_ids).toEqual(img.diffIds);
      const dir = join(work, `copied-${docker}`);
      await skopeo('copy', '--src-tls-verify=false', `docker://${ref}`, `oci:${dir}:t`);
      const layout = await new OciLayout(dir, 't').resolve();
      expect(layout.layers.map((l) => l.digest)).toEqual(img.layers.map((l) => l.desc.digest));
      expect(layout.configDigest).toBe(img.config.desc.digest);
    });
  }

  it('kiln pulls what skopeo pushed, with equal digests', async () => {
    const { ref } = await pushWithKiln(false);
    const dst = `${registry.host}/${uniqueRepo('interop')}:by-skopeo`;
    await skopeo(
      'copy',
      '--src-tls-verify=false',
      '--dest-tls-verify=false',
      '--format',
      'v2s2',
      `docker://${ref}`,
      `docker://${dst}`,
    );
    const skopeoDigest = JSON.parse(await skopeo('inspect', '--tls-verify=false', `docker://${dst}`)).Digest;
    const resolved = await client().resolveImage(dst);
    expect(resolved.manifestDigest).toBe(skopeoDigest);
    expect(resolved.mediaType).toBe('application/vnd.docker.distribution.manifest.v2+json');
    const into = new OciLayout(join(work, 'kiln-pulled'), 'p');
    const { digest } = await copyImage(new RegistryImage(client(), dst), into);
    expect(digest).toBe(skopeoDigest);
    await validateImage(into);
  });

  it('an OCI layout written by kiln is read by skopeo and pushed back with the same digest', async () => {
    const { ref, digest } = await pushWithKiln(false);
    const dir = join(work, 'kiln-layout');
    await copyImage(new RegistryImage(client(), ref), new OciLayout(dir, 'v1'));
    const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8'));
    expect(index.manifests[0].annotations['org.opencontainers.image.ref.name']).toBe('v1');
    expect((await readdir(dir)).filter((f) => f.startsWith('.tmp'))).toEqual([]);
    const back = `${registry.host}/${uniqueRepo('interop')}:from-layout`;
    await skopeo('copy', '--dest-tls-verify=false', `oci:${dir}:v1`, `docker://${back}`);
    expect((await client().headManifest(back))?.digest).toBe(digest);
  });

  it('a docker-archive written by kiln is read by skopeo (inspect and copy), diff_ids intact', async () => {
    const { img, ref } = await pushWithKiln(true);
    const file = join(work, 'kiln.tar');
    const archive = new DockerArchive(file, 'kiln/app:1.0');
    await copyImage(new RegistryImage(client(), ref), archive);
    await archive.close();
    const inspected = JSON.parse(await skopeo('inspect', `docker-archive:${file}`));
    expect(inspected.Layers).toHaveLength(2);
    const listing = (await run('tar', ['-tf', file])).stdout.trim().split('\n');
    expect(listing.slice(-2)).toEqual(['manifest.json', 'repositories']);
    const manifest = JSON.parse((await run('tar', ['-xOf', file, 'manifest.json'])).stdout);
    expect(manifest).toEqual([
      {
        Config: `${img.config.desc.digest.slice(7)}.json`,
        RepoTags: ['kiln/app:1.0'],
        Layers: img.layers.map((l) => `${l.desc.digest.slice(7)}.tar`),
      },
    ]);
    const dir = join(work, 'from-archive');
    await skopeo('copy', `docker-archive:${file}`, `oci:${dir}:x`);
    const { image: layout } = await validateImage(new OciLayout(dir, 'x'));
    expect(layout.config.rootfs.diff_ids).toEqual(img.diffIds);
    expect(layout.configBytes.equals(img.config.bytes)).toBe(true);
  });

  it('kiln reads a docker-archive written by skopeo (uncompressed layers named by diff_id)', async () => {
    const { img, ref } = await pushWithKiln(false);
    const file = join(work, 'skopeo.tar');
    await skopeo('copy', '--src-tls-verify=false', `docker://${ref}`, `docker-archive:${file}:some/name:tag`);
    const archive = new DockerArchive(file, 'some/name:tag');
    const { image: resolved } = await validateImage(archive);
    expect(resolved.config.rootfs.diff_ids).toEqual(img.diffIds);
    expect(resolved.layers.map((l) => l.digest)).toEqual(img.diffIds);
    // Pushing it to a registry through kiln verifies every layer against its digest on the way.
    const dst = `${registry.host}/${uniqueRepo('interop')}:from-archive`;
    const { digest } = await copyImage(archive, new RegistryImage(client(), dst));
    await archive.close();
    const pulled = await client().resolveImage(dst);
    expect(pulled.manifestDigest).toBe(digest);
    expect(pulled.config.rootfs.diff_ids).toEqual(img.diffIds);
  });

  it('skopeo talks to the in-memory registry over loopback, and kiln sees the same state without a socket', async () => {
    const memory = new MemoryRegistry();
    const server = await listenMemoryRegistry(memory);
    try {
      const { ref, digest } = await pushWithKiln(true);
      const dst = `${server.host}/mem/app:1`;
      await skopeo(
        'copy',
        '--src-tls-verify=false',
        '--dest-tls-verify=false',
        `docker://${ref}`,
        `docker://${dst}`,
      );
      const viaFetch = new RegistryClient({ fetch: memoryFetch(memory), dockerConfig: false });
      const resolved = await viaFetch.resolveImage(dst);
      expect(resolved.manifestDigest).toBe(digest);
      const inspected = JSON.parse(await skopeo('inspect', '--tls-verify=false', `docker://${dst}`));
      expect(inspected.Digest).toBe(digest);
      expect(inspected.Layers).toEqual(resolved.layers.map((l) => l.digest));
    } finally {
      await server.close();
    }
  });
});
