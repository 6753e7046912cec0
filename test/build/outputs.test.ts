import path from 'node:path';
import { build } from '@kiln/core';
import { describe, expect, test } from 'vitest';
import { inspectImage, umociUnpack } from '../lib/compare.js';
import { testEnv } from '../lib/test-env.js';
import { listRootfs } from '../lib/unpack.js';
import { uniqueRepo, useTmpContext } from './helpers.js';

describe('outputs', () => {
  test('one build writes a registry, an OCI layout and a docker-archive with the same image', async () => {
    const env = testEnv();
    const ctx = await useTmpContext({
      Dockerfile: `FROM ${env.images.busybox}\nCOPY hello.txt /hello.txt\nCMD ["cat", "/hello.txt"]\n`,
      'hello.txt': 'hello\n',
    });
    const reg = `${env.registry}/${uniqueRepo('outputs')}:v1`;
    const layout = path.join(ctx, 'layout');
    const archive = path.join(ctx, 'image.tar');
    const r = await build({
      context: ctx,
      destinations: [reg, `oci:${layout}:v1`, `docker-archive:${archive}:example/app:v1`],
      registry: { insecureRegistries: [env.registry] },
      cacheDir: path.join(env.stateDir, 'kiln-cache'),
    });
    expect(r.destinations.map((d) => d.digest)).toEqual([r.digest, r.digest, r.digest]);
    expect((await inspectImage(`docker://${reg}`)).digest).toBe(r.digest);
    expect((await inspectImage(`oci:${layout}:v1`)).digest).toBe(r.digest);
    // docker-archive stores the config and layers; skopeo reads it back as the same image config.
    const fromArchive = await inspectImage(`docker-archive:${archive}`);
    expect(fromArchive.config.config?.Cmd).toEqual(['cat', '/hello.txt']);
    const unpacked = await umociUnpack(`oci:${layout}:v1`);
    try {
      const tree = await listRootfs(unpacked.rootfs);
      expect(tree.find((e) => e.path === 'hello.txt')).toMatchObject({ type: 'f', uid: 0, gid: 0, size: 6 });
    } finally {
      await unpacked.cleanup();
    }
  });

  test('reproducible mode: two checkouts with different file times give the same digest', async () => {
    const env = testEnv();
    const files = {
      Dockerfile: `FROM ${env.images.busybox}\nCOPY . /app/\nENV X=1\n`,
      'a.txt': 'a\n',
      'dir/b.txt': 'b\n',
    };
    const one = await useTmpContext(files, { mtime: new Date('2020-01-01T00:00:00Z') });
    const two = await useTmpContext(files, { mtime: new Date('2023-06-15T12:34:56Z') });
    const run = (ctx: string) =>
      build({
        context: ctx,
        destinations: [`oci:${path.join(ctx, 'out')}:x`],
        reproducible: true,
        sourceDateEpoch: 1_700_000_000,
        registry: { insecureRegistries: [env.registry] },
        cacheDir: path.join(env.stateDir, 'kiln-cache'),
      });
    const [a, b] = [await run(one), await run(two)];
    expect(a.digest).toBe(b.digest);
    // And without reproducible mode the file times do reach the image.
    const c = await build({
      context: two,
      noPush: true,
      registry: { insecureRegistries: [env.registry] },
      cacheDir: path.join(env.stateDir, 'kiln-cache'),
    });
    expect(c.digest).not.toBe(a.digest);
  });

  test('--no-push builds and computes the digest but writes nothing', async () => {
    const env = testEnv();
    const ctx = await useTmpContext({ Dockerfile: `FROM ${env.images.busybox}\nLABEL a=b\n` });
    const r = await build({
      context: ctx,
      destinations: [`${env.registry}/never-pushed:x`],
      noPush: true,
      registry: { insecureRegistries: [env.registry] },
    });
    expect(r.digest).toMatch(/^sha256:/);
    expect(r.destinations).toEqual([]);
    const res = await fetch(`http://${env.registry}/v2/never-pushed/tags/list`);
    expect(res.status).toBe(404);
  });
});
