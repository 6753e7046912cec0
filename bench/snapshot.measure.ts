import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { type BuildEvent, build } from '@kiln/core';
import { expect, test } from 'vitest';
import { testEnv } from '../test/lib/test-env.js';

/**
 * Bench (b): the snapshot of a RUN that changes 10 files in a 100,000-file rootfs, measured inside real builds
 * and reported by kiln itself (the `snapshot` event's `durationMs`: finding the changes, the command and the
 * layer writing excluded), side by side: the RUN's own overlay upper dir (the default as root) and the
 * directory diff over the whole rootfs (`KILN_OVERLAY=0`, what a build without overlay does).
 */

const FILES = 100_000;
const PER_DIR = 1000;
const ROUNDS = 3;

async function makeTree(dir: string): Promise<void> {
  for (let d = 0; d < FILES / PER_DIR; d++) {
    const sub = path.join(dir, 'data', `d${d}`);
    await mkdir(sub, { recursive: true });
    await Promise.all(
      Array.from({ length: PER_DIR }, (_, f) => writeFile(path.join(sub, `f${f}`), `${d}/${f}\n`)),
    );
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

test('RUN snapshot: 10 files changed in a 100,000-file rootfs, overlay vs directory diff', async () => {
  const env = testEnv();
  const root = path.join(env.stateDir, 'bench-snapshot');
  const cacheDir = path.join(root, 'kiln-cache');
  // The base: busybox plus 100,000 small files in 100 directories, pushed once.
  const baseCtx = path.join(root, 'base');
  await makeTree(baseCtx);
  await writeFile(path.join(baseCtx, 'Dockerfile'), `FROM ${env.images.busybox}\nCOPY data/ /data/\n`);
  const baseRef = `${env.registry}/bench/snapshot-base:1`;
  await build({
    context: baseCtx,
    destinations: [baseRef],
    registry: { insecureRegistries: [env.registry] },
  });

  const runCtx = path.join(root, 'run');
  await mkdir(runCtx, { recursive: true });
  // Two RUNs: the second one's figure includes moving the first one's upper dir under the stack (a remount).
  const touch = (k: number) =>
    Array.from({ length: 10 }, (_, i) => `echo changed >> /data/d${i * 10 + k}/f${i}`).join(' && ');
  await writeFile(path.join(runCtx, 'Dockerfile'), `FROM ${baseRef}\nRUN ${touch(0)}\nRUN ${touch(1)}\n`);

  const measure = async (mode: 'overlay' | 'dir-diff') => {
    const snapshots: Extract<BuildEvent, { type: 'snapshot' }>[] = [];
    const builds: number[] = [];
    if (mode === 'dir-diff') process.env.KILN_OVERLAY = '0';
    try {
      // One build first: it unpacks the base into the cache (overlay) and warms the page cache.
      for (let i = 0; i <= ROUNDS; i++) {
        const t = performance.now();
        const seen: typeof snapshots = [];
        await build({
          context: runCtx,
          noPush: true,
          registry: { insecureRegistries: [env.registry] },
          cacheDir,
          onEvent: (e) => {
            if (e.type === 'snapshot') seen.push(e);
          },
        });
        if (i === 0) continue;
        builds.push(performance.now() - t);
        snapshots.push(...seen);
      }
    } finally {
      delete process.env.KILN_OVERLAY;
    }
    expect(snapshots.map((s) => s.method)).toEqual(Array(2 * ROUNDS).fill(mode));
    // Each layer: the 10 files (the directories holding them kept their mtime: not listed).
    for (const s of snapshots) expect(s.entries).toBe(10);
    const of = (index: number) => median(snapshots.filter((s) => s.index === index).map((s) => s.durationMs));
    return { first: of(0), second: of(1), build: median(builds) };
  };
  const overlay = await measure('overlay');
  const diff = await measure('dir-diff');
  const ms = (x: number) => `${x.toFixed(1).padStart(7)} ms`;
  console.log(
    [
      `[bench] RUN snapshot: 10 files changed in a ${FILES.toLocaleString('en')}-file rootfs (median of ${ROUNDS} builds; kiln's snapshot event)`,
      '                      1st RUN      2nd RUN      whole build (2 RUNs)',
      `  overlay upper dir  ${ms(overlay.first)}  ${ms(overlay.second)}  ${ms(overlay.build)}   target < 50 ms`,
      `  directory diff     ${ms(diff.first)}  ${ms(diff.second)}  ${ms(diff.build)}   target < 1 s`,
      `  directory diff / overlay = ${(diff.second / overlay.second).toFixed(0)}× (2nd RUN, remount included)`,
    ].join('\n'),
  );
});
