import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { build } from '@kiln/core';
import { describe, expect, test } from 'vitest';
import { inspectImage } from '../lib/compare.js';
import { testEnv } from '../lib/test-env.js';
import { uniqueRepo, useTmpContext } from './helpers.js';

/** Overlay mounts over this test's cached base (other test files may be building at the same time). */
const overlayMounts = async (cacheDir: string) =>
  (await readFile('/proc/self/mounts', 'utf8'))
    .split('\n')
    .filter((l) => l.startsWith('overlay ') && l.includes(cacheDir));

describe('RUN on a cached unpacked base', () => {
  test('a RUN that deletes and changes base files never alters the cached base, and no mount outlives the build', async () => {
    const env = testEnv();
    const cacheDir = path.join(env.stateDir, uniqueRepo('run-cache'));
    const ctx = await useTmpContext({
      Dockerfile: `FROM ${env.images.busybox}\nRUN rm /bin/vi && echo changed > /etc/motd-kiln && chmod 600 /etc/passwd\n`,
    });
    const first = await build({
      context: ctx,
      destinations: [`${env.registry}/${uniqueRepo('run-cache')}:1`],
      registry: { insecureRegistries: [env.registry] },
      cacheDir,
    });
    const trees = await readdir(path.join(cacheDir, 'rootfs'));
    expect(trees.filter((t) => !t.startsWith('.'))).toHaveLength(1);
    const base = path.join(cacheDir, 'rootfs', trees.find((t) => !t.startsWith('.'))!);
    // The lower layer is untouched: vi is still there, no new file, passwd mode unchanged.
    expect((await readdir(path.join(base, 'bin'))).includes('vi')).toBe(true);
    expect((await readdir(path.join(base, 'etc'))).includes('motd-kiln')).toBe(false);
    expect(await overlayMounts(cacheDir)).toEqual([]);
    // A second build from the same cache gives the same image.
    const dest = `${env.registry}/${uniqueRepo('run-cache')}:2`;
    const second = await build({
      context: ctx,
      destinations: [dest],
      registry: { insecureRegistries: [env.registry] },
      cacheDir,
      reproducible: true,
    });
    const third = await build({
      context: ctx,
      noPush: true,
      registry: { insecureRegistries: [env.registry] },
      cacheDir,
      reproducible: true,
    });
    expect(third.digest).toBe(second.digest);
    expect(first.layers).toHaveLength(second.layers.length);
    expect((await inspectImage(`docker://${dest}`)).digest).toBe(second.digest);
    expect(await overlayMounts(cacheDir)).toEqual([]);
  });
});
