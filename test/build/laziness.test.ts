import path from 'node:path';
import { build } from '@kiln/core';
import { describe, expect, test } from 'vitest';
import { inspectImage } from '../lib/compare.js';
import { testEnv } from '../lib/test-env.js';
import { countRequests, uniqueRepo, useTmpContext } from './helpers.js';

const blobGets = (rs: { method: string; url: string }[]) =>
  rs.filter((r) => r.method === 'GET' && /\/blobs\/sha256:/.test(r.url));

describe('laziness: a build without RUN never downloads what it does not need', () => {
  test('metadata-only instructions fetch the manifest and config, never a layer, and the push mounts the base layer', async () => {
    const env = testEnv();
    const ctx = await useTmpContext({
      Dockerfile: `FROM ${env.images.busybox}\nENV A=1\nLABEL x=y\nCMD ["sh"]\nUSER 1000\n`,
    });
    const dest = `${env.registry}/${uniqueRepo('lazy-meta')}:1`;
    const { result, requests } = await countRequests(() =>
      build({
        context: ctx,
        destinations: [dest],
        registry: { insecureRegistries: [env.registry] },
        cacheDir: path.join(ctx, '.cache'),
      }),
    );
    // The only blob GET is the config (needed to write the new config); no layer is downloaded.
    const configGets = blobGets(requests);
    expect(configGets).toHaveLength(1);
    const layerDigests = result.layers.map((l) => l.digest);
    expect(configGets.some((r) => layerDigests.some((d) => r.url.includes(d)))).toBe(false);
    // The base layer went into the new repository by a cross-repository mount, not an upload.
    expect(
      requests.some(
        (r) => r.method === 'POST' && decodeURIComponent(r.url).includes(`mount=${layerDigests[0]}`),
      ),
    ).toBe(true);
    expect(
      requests.filter(
        (r) => r.method === 'PATCH' || (r.method === 'PUT' && r.url.includes(layerDigests[0]!)),
      ),
    ).toHaveLength(0);
    expect((await inspectImage(`docker://${dest}`)).digest).toBe(result.digest);
  });

  test('COPY reads the base file index once; a rebuild to a new repository downloads no layer at all', async () => {
    const env = testEnv();
    const ctx = await useTmpContext({
      Dockerfile: `FROM ${env.images.busybox}\nCOPY app/ /srv/app/\nCOPY --chown=nobody run.sh /usr/local/bin/\nWORKDIR /srv/app\n`,
      'app/index.js': 'console.log(1)\n',
      'app/lib/util.js': 'export {}\n',
      'run.sh': '#!/bin/sh\n',
    });
    const cacheDir = path.join(ctx, '.cache');
    const opts = { context: ctx, registry: { insecureRegistries: [env.registry] }, cacheDir };
    const first = await countRequests(() =>
      build({ ...opts, destinations: [`${env.registry}/${uniqueRepo('lazy-copy')}:1`] }),
    );
    const base = first.result.layers.filter((l) => l.fromBase).map((l) => l.digest);
    expect(blobGets(first.requests).filter((r) => base.some((d) => r.url.includes(d))).length).toBe(
      base.length,
    );
    const second = await countRequests(() =>
      build({ ...opts, destinations: [`${env.registry}/${uniqueRepo('lazy-copy')}:1`] }),
    );
    expect(blobGets(second.requests).filter((r) => base.some((d) => r.url.includes(d)))).toEqual([]);
    expect(second.result.layers.map((l) => l.digest).slice(0, base.length)).toEqual(base);
  });
});

describe('pushing to several repositories of one registry', () => {
  test('uploads each new blob once and mounts it into the other repositories', async () => {
    const env = testEnv();
    const ctx = await useTmpContext({
      Dockerfile: `FROM ${env.images.busybox}\nCOPY big.bin /big.bin\n`,
      'big.bin': 'x'.repeat(200_000),
    });
    const dests = [1, 2, 3].map((i) => `${env.registry}/${uniqueRepo(`multi-${i}`)}:1`);
    const { result, requests } = await countRequests(() =>
      build({
        context: ctx,
        destinations: dests,
        registry: { insecureRegistries: [env.registry] },
        cacheDir: path.join(env.stateDir, 'kiln-cache'),
      }),
    );
    const newLayer = result.layers.at(-1)!.digest;
    const uploads = requests.filter(
      (r) => r.method === 'PUT' && decodeURIComponent(r.url).includes(`digest=${newLayer}`),
    );
    expect(uploads).toHaveLength(1);
    const mounts = requests.filter(
      (r) =>
        r.method === 'POST' && decodeURIComponent(r.url).includes(`mount=${newLayer}`) && r.status === 201,
    );
    expect(mounts).toHaveLength(2);
    for (const d of dests) expect((await inspectImage(`docker://${d}`)).digest).toBe(result.digest);
  });
});
