// Bench: listing + digesting a build context of ~50 MB in 5,000 files (kiln's @kiln/context,
// built dist) against the shell baseline `find -type f | xargs sha256sum`, side by side.
// Run: pnpm tsc -b packages/context && node bench/context-digest.mjs [files] [totalMB]   (RUNS=5 by default)
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { contextDigests, dirContext, dockerignore, matchSources, tarContext } from '@kiln/context';

const files = Number(process.argv[2] ?? 5000);
const totalMB = Number(process.argv[3] ?? 50);
const root = mkdtempSync(join(tmpdir(), 'kiln-bench-ctx-'));
const work = mkdtempSync(join(tmpdir(), 'kiln-bench-ctx-out-'));

// deterministic pseudo-random content, 100 directories, sizes spread around the mean
const mean = Math.floor((totalMB * 1024 * 1024) / files);
let seed = 42;
const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
const pool = Buffer.alloc(mean * 4);
for (let i = 0; i < pool.length; i++) pool[i] = (rnd() * 256) | 0;
let bytes = 0;
for (let i = 0; i < files; i++) {
  const dir = join(root, `d${i % 100}`, `s${i % 7}`);
  mkdirSync(dir, { recursive: true });
  const size = Math.floor(mean * (0.5 + rnd()));
  const start = Math.floor(rnd() * (pool.length - size));
  writeFileSync(join(dir, `f${i}.bin`), pool.subarray(start, start + size));
  bytes += size;
}
execFileSync('sync');

// each contender runs RUNS times on a warm page cache; the median is reported
const RUNS = Number(process.env.RUNS ?? 5);
async function time(label, fn) {
  const times = [];
  let out;
  for (let i = 0; i < RUNS; i++) {
    const t0 = process.hrtime.bigint();
    out = await fn();
    times.push(Number(process.hrtime.bigint() - t0) / 1e9);
  }
  times.sort((a, b) => a - b);
  return { label, s: times[Math.floor(times.length / 2)], out };
}

const results = [];
// warm the page cache once so every contender reads from memory
execFileSync('sh', ['-c', `find "${root}" -type f -print0 | xargs -0 cat > /dev/null`]);

results.push(
  await time('shell: find | xargs sha256sum', () =>
    execFileSync('sh', ['-c', `find "${root}" -type f -print0 | xargs -0 sha256sum | wc -l`])
      .toString()
      .trim(),
  ),
);
results.push(
  await time('kiln dirContext: list only', async () => {
    let n = 0;
    for await (const _ of dirContext(root).list()) n++;
    return n;
  }),
);
results.push(
  await time('kiln dirContext: list + treeDigest', async () =>
    contextDigests(dirContext(root)).treeDigest('.'),
  ),
);
results.push(
  await time('kiln dirContext: + .dockerignore (**/s3)', async () =>
    contextDigests(dirContext(root), { ignore: dockerignore().add(['**/s3']) }).treeDigest('.'),
  ),
);
results.push(
  await time('kiln matchSources: index + 20 COPY globs', async () => {
    const ctx = dirContext(root);
    let n = 0;
    for (let i = 0; i < 20; i++) n += (await matchSources(ctx, `d${i}*/s?/*.bin`)).length;
    return n;
  }),
);
const tgz = join(work, 'ctx.tar.gz');
execFileSync('sh', ['-c', `tar -C "${root}" -cf - . | gzip -1 > "${tgz}"`]);
results.push(
  await time('kiln tarContext(.tar.gz): index + treeDigest', async () => {
    const ctx = await tarContext(tgz, { tmpDir: work });
    const d = await contextDigests(ctx).treeDigest('.');
    await ctx.close();
    return d;
  }),
);
results.push(
  await time('shell: gzip -dc | sha256sum (decompress only)', () =>
    execFileSync('sh', ['-c', `gzip -dc "${tgz}" | sha256sum`])
      .toString()
      .slice(0, 12),
  ),
);

const base = results[0].s;
console.log(
  `context: ${files} files, ${(bytes / 1048576).toFixed(1)} MiB, node ${process.version}, median of ${RUNS}`,
);
for (const r of results)
  console.log(
    `${r.label.padEnd(46)} ${r.s.toFixed(3).padStart(7)} s  ${Math.round(files / r.s)
      .toString()
      .padStart(
        7,
      )} files/s  ${(bytes / 1048576 / r.s).toFixed(0).padStart(5)} MiB/s  ${(base / r.s).toFixed(2)}× vs sha256sum`,
  );
rmSync(root, { recursive: true, force: true });
rmSync(work, { recursive: true, force: true });
