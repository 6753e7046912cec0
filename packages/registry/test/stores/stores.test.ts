import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  copyImage,
  DockerArchive,
  type ImageStore,
  MediaType,
  OciLayout,
  openImageStore,
  parseImageStoreSpec,
  RegistryClient,
  RegistryImage,
  validateImage,
  verifiedStream,
} from '../../src/index.js';
import { MemoryRegistry, memoryFetch } from '../../src/testing/index.js';
import { assembleImage, makeImage, makeIndex, opener, readStream } from '../helpers/images.js';
import { realImage } from '../helpers/layer-tar.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kiln-stores-'));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

async function writeImage(store: ImageStore, img: ReturnType<typeof makeImage>, tag?: string) {
  for (const b of [img.config, ...img.layers]) await store.putBlob(b.desc, opener(b.bytes));
  return store.putManifest(tag, img.manifest, img.mediaType);
}

const stores: [string, (d: string) => ImageStore][] = [
  ['OciLayout', (d) => new OciLayout(join(d, 'layout'), 'latest')],
  ['DockerArchive', (d) => new DockerArchive(join(d, 'image.tar'), 'example/app:latest')],
];

describe.each(stores)('%s as destination then source', (_name, make) => {
  it('round-trips config and layers with their digests and verified blob streams', async () => {
    const img = realImage([3000, 70_000]);
    const w = make(dir);
    await writeImage(w, img);
    await w.close?.();
    const r = make(dir);
    const resolved = await r.resolve();
    expect(resolved.configDigest).toBe(img.config.desc.digest);
    expect(resolved.layers.map((l) => l.digest)).toEqual(img.layers.map((l) => l.desc.digest));
    expect(resolved.layers.map((l) => l.mediaType)).toEqual([MediaType.OciLayerGzip, MediaType.OciLayerGzip]);
    for (const [i, l] of resolved.layers.entries())
      expect((await readStream(await r.openBlob(l))).equals(img.layers[i]!.bytes)).toBe(true);
    await r.close?.();
  });

  it('refuses a manifest before its blobs, and leaves no image behind', async () => {
    const img = makeImage([10]);
    const w = make(dir);
    await w.putBlob(img.config.desc, opener(img.config.bytes));
    await expect(w.putManifest(undefined, img.manifest, img.mediaType)).rejects.toMatchObject({
      code: 'KILN_STORE_INVALID',
    });
  });

  it('a blob with the wrong content is rejected and not kept', async () => {
    const img = makeImage([100]);
    const w = make(dir);
    const l = img.layers[0]!;
    await expect(w.putBlob(l.desc, opener(Buffer.alloc(100)))).rejects.toMatchObject({
      code: 'KILN_DIGEST_MISMATCH',
    });
    expect(await w.hasBlob(l.desc)).toBe(false);
    await writeImage(w, img); // the store is still usable and consistent afterwards
    await w.close?.();
    expect((await make(dir).resolve()).manifest.layers[0]!.digest).toBe(l.desc.digest);
  });
});

describe('OciLayout', () => {
  it('writes oci-layout, index.json last, tags as ref.name annotations, and no temp files', async () => {
    const layout = new OciLayout(dir);
    const a = makeImage([10]);
    const b = makeImage([20]);
    await writeImage(layout, a, 'a');
    await writeImage(layout, b, 'b');
    await writeImage(layout, b, 'a'); // moves tag a
    expect(JSON.parse(await readFile(join(dir, 'oci-layout'), 'utf8'))).toEqual({
      imageLayoutVersion: '1.0.0',
    });
    const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8'));
    expect(
      index.manifests.map(
        (m: { annotations: Record<string, string> }) => m.annotations['org.opencontainers.image.ref.name'],
      ),
    ).toEqual(['b', 'a']);
    expect(new Set(index.manifests.map((m: { digest: string }) => m.digest))).toEqual(
      new Set([b.manifestDesc.digest]),
    );
    expect((await readdir(join(dir, 'blobs', 'sha256'))).filter((f) => f.startsWith('.tmp'))).toEqual([]);
    expect(await layout.tags()).toEqual(['b', 'a']);
  });

  it('resolves a platform from an index stored in the layout and explains a missing tag', async () => {
    const layout = new OciLayout(dir);
    const amd = makeImage([5], { platform: { os: 'linux', architecture: 'amd64' } });
    const arm = makeImage([6], { platform: { os: 'linux', architecture: 'arm', variant: 'v7' } });
    await writeImage(layout, amd, amd.manifestDesc.digest);
    await writeImage(layout, arm, arm.manifestDesc.digest);
    const index = makeIndex([
      { image: amd, platform: { os: 'linux', architecture: 'amd64' } },
      { image: arm, platform: { os: 'linux', architecture: 'arm', variant: 'v7' } },
    ]);
    await layout.putManifest('multi', index.bytes, MediaType.OciIndex);
    const r = await layout.resolve({
      reference: 'multi',
      platform: { os: 'linux', architecture: 'arm', variant: 'v7' },
    });
    expect(r.manifestDigest).toBe(arm.manifestDesc.digest);
    expect(r.index?.digest).toBe(index.desc.digest);
    await expect(layout.resolve({ reference: 'nope' })).rejects.toThrow(
      /no image tagged "nope" \(has: multi\)/,
    );
  });
});

describe('verified sources are not hashed twice, and still cannot slip through', () => {
  it('a verifying stream with wrong content leaves nothing in the layout', async () => {
    const layout = new OciLayout(join(dir, 'vv'), 't');
    const l = makeImage([70_000]).layers[0]!;
    const wrong = () =>
      verifiedStream(l.desc, async () => ({ body: opener(Buffer.alloc(70_000, 3))(), skip: 0 }), 'test', 0);
    await expect(layout.putBlob(l.desc, wrong)).rejects.toMatchObject({ code: 'KILN_DIGEST_MISMATCH' });
    expect(await layout.hasBlob(l.desc)).toBe(false);
    expect((await readdir(join(dir, 'vv', 'blobs', 'sha256'))).length).toBe(0);
    const right = () => verifiedStream(l.desc, async () => ({ body: opener(l.bytes)(), skip: 0 }), 'test', 0);
    expect(await layout.putBlob(l.desc, right)).toBe('uploaded');
  });
});

describe('DockerArchive', () => {
  it('writes several tags for one image into one manifest.json entry and reads each back', async () => {
    const file = join(dir, 'x.tar');
    const w = new DockerArchive(file, 'reg.test:5000/team/app:1');
    const img = makeImage([10]);
    await writeImage(w, img);
    await w.putManifest('2', img.manifest, img.mediaType);
    await w.close();
    const r = new DockerArchive(file);
    expect(await r.archiveManifest()).toEqual([
      {
        Config: `${img.config.desc.digest.slice(7)}.json`,
        RepoTags: ['reg.test:5000/team/app:1', 'reg.test:5000/team/app:2'],
        Layers: [`${img.layers[0]!.desc.digest.slice(7)}.tar`],
      },
    ]);
    expect((await r.resolve({ reference: 'reg.test:5000/team/app:2' })).configDigest).toBe(
      img.config.desc.digest,
    );
    await r.close();
  });

  it.each([
    ['me/app', '2', 'me/app:2'],
    ['me/app:1', '2', 'me/app:2'],
    ['busybox', undefined, 'busybox:latest'],
    ['docker.io/library/busybox:1.36', undefined, 'busybox:1.36'],
    [undefined, 'other/name:tag', 'other/name:tag'],
    ['reg.test:5000/x', 'v1', 'reg.test:5000/x:v1'],
  ])('RepoTags for reference %s and put %s is %s', async (reference, tag, expected) => {
    const file = join(dir, 'rt.tar');
    const w = new DockerArchive(file, reference);
    await writeImage(w, makeImage([1]), tag);
    await w.close();
    expect((await new DockerArchive(file).archiveManifest())[0]!.RepoTags).toEqual([expected]);
  });

  it('close() without a manifest fails and leaves no file', async () => {
    const file = join(dir, 'empty.tar');
    const w = new DockerArchive(file, 'a:b');
    const img = makeImage([10]);
    await w.putBlob(img.layers[0]!.desc, opener(img.layers[0]!.bytes));
    await expect(w.close()).rejects.toThrow(/no manifest was written/);
    expect(await readdir(dir)).toEqual([]);
  });

  it('refuses an index (an archive holds single-platform images)', async () => {
    const w = new DockerArchive(join(dir, 'i.tar'), 'a:b');
    const img = makeImage([1]);
    await expect(
      w.putManifest(
        undefined,
        makeIndex([{ image: img, platform: { os: 'linux', architecture: 'amd64' } }]).bytes,
        MediaType.OciIndex,
      ),
    ).rejects.toThrow(/single-platform/);
  });
});

describe('validateImage', () => {
  it('passes a consistent image and names the layer whose diff_id does not match the config', async () => {
    const good = realImage([100, 200]);
    const layout = new OciLayout(join(dir, 'v'), 'good');
    await writeImage(layout, good);
    expect((await validateImage(layout)).unchecked).toEqual([]);
    const bad = realImage([100, 200]);
    const lying = assembleImage(bad.layers, [bad.diffIds[0]!, good.diffIds[1]!], false);
    await writeImage(new OciLayout(join(dir, 'v'), 'bad'), lying);
    await expect(validateImage(new OciLayout(join(dir, 'v'), 'bad'))).rejects.toThrow(
      new RegExp(
        `layer 1 \\(${bad.layers[1]!.desc.digest}\\) unpacks to ${bad.diffIds[1]}, but the config says ${good.diffIds[1]}`,
      ),
    );
  });
});

describe('copyImage and openImageStore', () => {
  it('copies registry → OCI layout → docker archive → registry, keeping the config and layer digests', async () => {
    const registry = new MemoryRegistry();
    const client = new RegistryClient({ fetch: memoryFetch(registry), dockerConfig: false });
    const img = realImage([500, 800]);
    const src = new RegistryImage(client, 'reg.test/src/app:1');
    await writeImage(src, img);
    const layout = openImageStore(`oci:${join(dir, 'l')}:one`, { client });
    expect((await copyImage(src, layout)).digest).toBe(img.manifestDesc.digest);
    const archive = openImageStore(`docker-archive:${join(dir, 'a.tar')}:src/app:1`, { client });
    await copyImage(layout, archive);
    await archive.close?.();
    const back = openImageStore('reg.test/dst/app:2', { client });
    const { image } = await copyImage(openImageStore(`docker-archive:${join(dir, 'a.tar')}`), back);
    expect(image.layers.map((l) => l.digest)).toEqual(img.layers.map((l) => l.desc.digest));
    expect(registry.tagDigest('dst/app', '2')).toBe(image.manifestDigest);
  });

  it('the first failed blob stops the copy: later blobs are not sent, the root cause is reported', async () => {
    const registry = new MemoryRegistry();
    const client = new RegistryClient({ fetch: memoryFetch(registry), dockerConfig: false });
    const img = makeImage([10, 20, 30]);
    const layout = new OciLayout(join(dir, 'src'), 'x');
    await writeImage(layout, img);
    registry.intercept((r) =>
      r.method === 'PUT' && r.url.searchParams.get('digest') === img.config.desc.digest
        ? {
            status: 400,
            headers: { 'content-type': 'application/json' },
            body: Buffer.from('{"errors":[{"code":"BLOB_UPLOAD_INVALID"}]}'),
          }
        : undefined,
    );
    const err = await copyImage(layout, new RegistryImage(client, 'reg.test/dst:1'), {
      concurrency: 1,
    }).catch((e) => e);
    expect(err).toMatchObject({ status: 400, codes: ['BLOB_UPLOAD_INVALID'] });
    for (const l of img.layers) expect(registry.hasBlob('dst', l.desc.digest)).toBe(false);
    expect(registry.tagDigest('dst', '1')).toBeUndefined();
  });

  it.each([
    ['oci:/tmp/x', { kind: 'oci-layout', dir: '/tmp/x' }],
    ['oci:/tmp/x:v1', { kind: 'oci-layout', dir: '/tmp/x', tag: 'v1' }],
    ['docker-archive:/tmp/a.tar', { kind: 'docker-archive', file: '/tmp/a.tar' }],
    [
      'docker-archive:/tmp/a.tar:name:tag',
      { kind: 'docker-archive', file: '/tmp/a.tar', reference: 'name:tag' },
    ],
    ['busybox', { kind: 'registry', reference: 'busybox' }],
    ['docker://127.0.0.1:5000/a:b', { kind: 'registry', reference: '127.0.0.1:5000/a:b' }],
  ])('parseImageStoreSpec(%s)', (spec, expected) => {
    expect(parseImageStoreSpec(spec)).toEqual(expected);
  });
});

describe('RegistryImage', () => {
  it('takes a tag, a digest or a full reference to the same repository; refuses another repository', async () => {
    const registry = new MemoryRegistry();
    const client = new RegistryClient({ fetch: memoryFetch(registry), dockerConfig: false });
    const store = new RegistryImage(client, 'reg.test/team/app');
    const img = makeImage([10]);
    await writeImage(store, img, 'v1');
    expect((await store.resolve({ reference: 'v1' })).manifestDigest).toBe(img.manifestDesc.digest);
    expect((await store.resolve({ reference: img.manifestDesc.digest })).manifestDigest).toBe(
      img.manifestDesc.digest,
    );
    expect((await store.resolve({ reference: 'reg.test/team/app:v1' })).manifestDigest).toBe(
      img.manifestDesc.digest,
    );
    await expect(store.resolve({ reference: 'reg.test/other/app:v1' })).rejects.toThrow(
      /names another repository \(reg.test\/other\/app\)/,
    );
  });
});
