import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { type BuildEvent, build } from '@kiln/core';
import { describe, expect, test } from 'vitest';
import { formatLayerEntry, listLayers } from '../lib/layer-listing.js';
import { rootlessRun } from '../lib/rootless.js';
import { testEnv } from '../lib/test-env.js';
import { uniqueRepo, useTmpContext } from './helpers.js';

type SnapshotEvent = Extract<BuildEvent, { type: 'snapshot' }>;

/** Every layer's entries in archive order, and the image digest, of the one image in an OCI layout. */
async function readLayout(layout: string) {
  const index = JSON.parse(await readFile(path.join(layout, 'index.json'), 'utf8'));
  const digest: string = index.manifests[0].digest;
  const manifest = JSON.parse(await readFile(path.join(layout, 'blobs', ...digest.split(':')), 'utf8'));
  return { digest, layers: (await listLayers(layout, manifest)).map((l) => l.map(formatLayerEntry)) };
}

/**
 * Builds `context` into an OCI layout, with overlay (the default as root) or with `KILN_OVERLAY=0` (rootfs
 * unpacked into a plain directory, RUN changes found by directory diff); returns the image digest, every
 * layer's entries in archive order, and the snapshot events.
 */
async function buildWith(mode: 'overlay' | 'dir-diff', context: string, cacheDir: string) {
  const env = testEnv();
  const layout = path.join(env.stateDir, uniqueRepo(`snapshots-${mode}`));
  const snapshots: SnapshotEvent[] = [];
  if (mode === 'dir-diff') process.env.KILN_OVERLAY = '0';
  try {
    const result = await build({
      context,
      destinations: [`oci:${layout}:x`],
      registry: { insecureRegistries: [env.registry] },
      cacheDir,
      reproducible: true,
      onEvent: (e) => {
        if (e.type === 'snapshot') snapshots.push(e);
      },
    });
    const read = await readLayout(layout);
    expect(read.digest).toBe(result.digest);
    return { ...read, snapshots };
  } finally {
    delete process.env.KILN_OVERLAY;
  }
}

/** Builds both ways and checks they agree entry for entry; returns the overlay build's layers. */
async function bothWays(files: Record<string, string>, runs: number) {
  const env = testEnv();
  const context = await useTmpContext(files);
  const cacheDir = path.join(env.stateDir, uniqueRepo('snapshots-cache'));
  const overlay = await buildWith('overlay', context, cacheDir);
  const plain = await buildWith('dir-diff', context, cacheDir);
  expect(overlay.snapshots.map((s) => s.method)).toEqual(Array(runs).fill('overlay'));
  expect(plain.snapshots.map((s) => s.method)).toEqual(Array(runs).fill('dir-diff'));
  for (const s of [...overlay.snapshots, ...plain.snapshots]) expect(s.durationMs).toBeGreaterThan(0);
  expect(overlay.layers).toEqual(plain.layers);
  // Same entries in the same order with reproducible times: the same bytes, so the same image.
  expect(overlay.digest).toBe(plain.digest);
  return overlay.layers;
}

/** The busybox case: COPY and RUN steps that exercise every rule of the overlay conversion. */
const busyboxCase = (base: string): Record<string, string> => ({
  Dockerfile: [
    `FROM ${base}`,
    'COPY app/ /srv/app/',
    'RUN rm /bin/vi && rm -rf /home /root && mkdir /data && echo one > /data/one && echo two > /data/two',
    'COPY conf.txt /data/conf.txt',
    [
      'RUN rm -rf /data && mkdir /data && echo three > /data/three',
      'rm -rf /srv/app/lib && ln -s /usr/lib /srv/app/lib',
      'echo shared > /srv/shared && ln /srv/shared /srv/app/shared-link && ln /bin/busybox /srv/bb',
      'chown -R 1234:5678 /srv/app/bin && chmod 0750 /srv/app && chown 99:99 /etc/passwd',
    ].join(' && '),
    'COPY conf.txt /srv/app/conf.txt',
    'RUN rm /data/three /srv/app/conf.txt && mkdir -p /data/sub && touch /data/sub/x && rm -rf /tmp && mkdir -m 1777 /tmp && echo more >> /etc/group',
    'RUN true',
    '',
  ].join('\n'),
  'app/bin/run': '#!/bin/sh\necho run\n',
  'app/lib/util.sh': 'util() { :; }\n',
  'app/lib/deep/x.sh': 'x\n',
  'conf.txt': 'conf\n',
});

const entry = (layer: string[], name: string) =>
  layer.find((l) => l.split('\t')[4]?.split(' -> ')[0] === name);

describe('RUN snapshots: overlay upper dir and directory diff give the same layers', () => {
  test('deletions, a directory replaced, a symlink over a directory, hardlinks, owners, COPY between RUNs', async () => {
    const env = testEnv();
    const layers = await bothWays(busyboxCase(env.images.busybox), 4);
    // busybox's one layer, then COPY, RUN, COPY, RUN, COPY, RUN (RUN true adds none).
    expect(layers).toHaveLength(7);
    const [, , run1, , run2, , run3] = layers as [
      string[],
      string[],
      string[],
      string[],
      string[],
      string[],
      string[],
    ];
    expect(entry(run1, 'bin/.wh.vi')).toBeDefined();
    expect(entry(run1, '.wh.home')).toBeDefined();
    expect(entry(run1, 'home/.wh.x')).toBeUndefined();
    // /data re-created: each name it had (from the RUN and the COPY below) is whited out one by one.
    for (const n of ['one', 'two', 'conf.txt']) expect(entry(run2, `data/.wh.${n}`)).toBeDefined();
    expect(entry(run2, 'srv/app/lib')).toMatch(/^symlink\t/);
    expect(entry(run2, 'srv/app/lib/util.sh')).toBeUndefined();
    expect(entry(run2, 'srv/shared')).toMatch(/^link\t.*-> srv\/app\/shared-link$/);
    expect(entry(run2, 'srv/bb')).toMatch(/^link\t.*-> bin\/busybox$/);
    expect(entry(run2, 'srv/app/bin/run')).toMatch(/\t1234:5678\t/);
    expect(entry(run2, 'etc/passwd')).toMatch(/\t99:99\t/);
    expect(entry(run2, 'srv/app')).toMatch(/^directory\t0750\t/);
    // Parents copied up by overlay but unchanged are not in the layer.
    expect(entry(run2, 'bin')).toBeUndefined();
    expect(entry(run3, 'tmp')).toMatch(/^directory\t1777\t/);
    expect(entry(run3, 'srv/app/.wh.conf.txt')).toBeDefined();
    expect(entry(run3, 'data/.wh.three')).toBeDefined();
  });

  test.skipIf(!testEnv().debian)(
    'on Debian: a package tree removed, a user added, a dir replaced',
    async () => {
      const env = testEnv();
      const layers = await bothWays(
        {
          Dockerfile: [
            `FROM ${env.images.debian}`,
            'COPY conf.txt /etc/kiln/conf.txt',
            'RUN rm -rf /usr/share/doc /usr/share/man /var/lib/apt/lists && ln -s /tmp /var/lib/apt/lists && useradd -m -u 1500 app && chown -R app:app /etc/kiln',
            'COPY conf.txt /home/app/conf.txt',
            'RUN rm -rf /etc/kiln && mkdir /etc/kiln && ln /usr/bin/dpkg /usr/local/bin/dpkg-link && chmod 4755 /usr/local/bin/dpkg-link && sed -i s/^root:/root:/ /etc/shadow',
            '',
          ].join('\n'),
          'conf.txt': 'conf\n',
        },
        2,
      );
      const run1 = layers[2]!;
      expect(entry(run1, 'usr/share/.wh.doc')).toBeDefined();
      expect(entry(run1, 'var/lib/apt/lists')).toMatch(/^symlink\t/);
      expect(entry(run1, 'home/app')).toMatch(/\t1500:1500\t/);
    },
  );
});

describe.runIf(process.getuid?.() === 0)('RUN snapshots as root of a user namespace', () => {
  test('an ordinary user’s CLI build: overlay with userxattr, the same layers as its directory diff', async () => {
    const env = testEnv();
    const user = env.rootless?.subordinate;
    if (!user) return console.warn('skipped: the setup made no ordinary user with subordinate ids');
    const run = await rootlessRun(user);
    try {
      const ctx = path.join(run.home, 'ctx');
      for (const [name, text] of Object.entries(busyboxCase(`${env.registry}/busybox:latest`))) {
        await mkdir(path.dirname(path.join(ctx, name)), { recursive: true });
        await writeFile(path.join(ctx, name), text);
      }
      const both = [];
      for (const mode of ['overlay', 'dir-diff'] as const) {
        const out = path.join(run.home, mode);
        const r = await run.kiln(
          [
            'build',
            '--context',
            ctx,
            '--destination',
            `oci:${out}`,
            '--insecure-pull',
            '--reproducible',
            '--log-format',
            'json',
          ],
          mode === 'dir-diff' ? { env: { KILN_OVERLAY: '0' } } : {},
        );
        expect(r.code, r.stderr.split('\n').slice(-3).join('\n')).toBe(0);
        const events = r.stderr
          .split('\n')
          .filter((l) => l.startsWith('{'))
          .map((l) => JSON.parse(l) as BuildEvent);
        const methods = events.flatMap((e) => (e.type === 'snapshot' ? [e.method] : []));
        expect(methods).toEqual(Array(4).fill(mode));
        both.push(await readLayout(out));
      }
      const [overlay, plain] = both as [
        Awaited<ReturnType<typeof readLayout>>,
        Awaited<ReturnType<typeof readLayout>>,
      ];
      expect(overlay.layers).toEqual(plain.layers);
      expect(overlay.digest).toBe(plain.digest);
      // Ids beyond root went through the user namespace's subordinate range, as with root.
      expect(entry(overlay.layers[4]!, 'srv/app/bin/run')).toMatch(/\t1234:5678\t/);
    } finally {
      await run.dispose();
    }
  });
});
