// Benchmarks of @kiln/snapshot against the tools it replaces, side by side in one run.
// Uses the built package (run `pnpm tsc -b packages/snapshot` first). As root, section 3 mounts
// a real overlayfs; otherwise it simulates the upper directory.
//
//   node bench/snapshot-bench.mjs [--tree DIR] [--runs N]
//
// (1) layer writing: kiln createLayer (tar + gzip -6 + digest + diffID) vs `tar -c | gzip -6`
// (2) extraction: kiln extractLayer vs `tar -xzf` of the same .tar.gz
// (3) directory diff of 100,000 files with 10 changed, and overlay upper-dir conversion
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  createLayer,
  diffDirectories,
  entriesFromDirectory,
  extractLayer,
  layerFromOverlayUpper,
  recordTree,
} from '@kiln/snapshot';

const here = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
};
// Default tree: the repository's own node_modules/.pnpm (packages: JS, native binaries,
// symlinks) plus /usr/include (thousands of small text files) when present. Real files, on
// every machine this bench runs on.
const sources = args.includes('--tree')
  ? args.flatMap((a, i) => (args[i - 1] === '--tree' ? [path.resolve(a)] : []))
  : [path.join(here, '..', 'node_modules', '.pnpm'), '/usr/include'].filter((d) => fs.existsSync(d));
const runs = Number(opt('--runs', '2'));
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'kiln-bench-snapshot-'));
const sh = (cmd) => execFileSync('bash', ['-c', cmd], { stdio: ['ignore', 'pipe', 'inherit'] }).toString();

async function time(fn) {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}
const hasTime = spawnSync('/usr/bin/time', ['-f', '%U', 'true'], { stdio: 'ignore' }).status === 0;
/** Runs a shell pipeline; returns { wall, cpu } in ms (cpu: user+sys of all its processes, via GNU time). */
async function measureShell(cmd) {
  const out = path.join(work, 'time.txt');
  const wall = await time(async () =>
    hasTime ? execFileSync('/usr/bin/time', ['-f', '%U %S', '-o', out, 'bash', '-c', cmd]) : sh(cmd),
  );
  const cpu = hasTime
    ? fs
        .readFileSync(out, 'utf8')
        .trim()
        .split(/\s+/)
        .map(Number)
        .reduce((a, b) => a + b, 0) * 1000
    : NaN;
  return { wall, cpu };
}
/** Runs kiln code in this process; returns { wall, cpu } in ms (cpu includes the thread pool). */
async function measureKiln(fn) {
  const c0 = process.cpuUsage();
  const wall = await time(fn);
  const c = process.cpuUsage(c0);
  return { wall, cpu: (c.user + c.system) / 1000 };
}
/**
 * Baseline and kiln alternately, `runs` times; keeps the best wall time and the best CPU time of
 * each (the machine is shared: the minimum is the least disturbed run).
 */
async function sideBySide(baseline, kiln, before) {
  const b = { wall: Infinity, cpu: Infinity };
  const k = { wall: Infinity, cpu: Infinity };
  for (let i = 0; i < runs; i++) {
    for (const [fn, acc] of [
      [baseline, b],
      [kiln, k],
    ]) {
      if (before) await before();
      const m = await fn();
      acc.wall = Math.min(acc.wall, m.wall);
      acc.cpu = Math.min(acc.cpu, m.cpu);
    }
  }
  return { b, k };
}
const fmt = (ms) => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(1)} ms`);
const rows = [];
const row = (what, k, b, target) =>
  rows.push({
    what,
    kiln: fmt(k.wall),
    baseline: fmt(b.wall),
    ratio: `${(b.wall / k.wall).toFixed(2)}×`,
    'cpu kiln/baseline': Number.isNaN(b.cpu)
      ? ''
      : `${fmt(k.cpu)} / ${fmt(b.cpu)} (${(b.cpu / k.cpu).toFixed(2)}×)`,
    target,
  });

try {
  // ---- (1) layer writing ----
  const tree = path.join(work, 'tree');
  fs.mkdirSync(tree);
  for (const [i, source] of sources.entries())
    sh(`cp -a ${JSON.stringify(source)} ${JSON.stringify(path.join(tree, `t${i}`))}`);
  const du = sh(`du -sb ${JSON.stringify(tree)} | cut -f1`).trim();
  const files = sh(`find ${JSON.stringify(tree)} | wc -l`).trim();
  console.log(
    `tree: ${sources.join(' + ')}: ${(Number(du) / 2 ** 20).toFixed(0)} MiB, ${files} paths; best of ${runs} runs`,
  );
  console.log(
    `load average at start: ${os
      .loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')} on ${os.cpus().length} CPUs`,
  );
  const gnuLayer = path.join(work, 'gnu.tar.gz');
  const kilnLayer = path.join(work, 'kiln.tar.gz');
  let desc;
  const write = await sideBySide(
    () => measureShell(`tar -C ${tree} -cf - . | gzip -6 > ${gnuLayer}`),
    () =>
      measureKiln(async () => {
        desc = await createLayer(entriesFromDirectory(tree), {
          out: fs.createWriteStream(kilnLayer),
          level: 6,
        });
      }),
  );
  row('write layer (tar+gzip -6)', write.k, write.b, '≥ 1.0×');
  console.log(
    `  kiln layer ${(desc.size / 2 ** 20).toFixed(1)} MiB (tar ${(desc.uncompressedSize / 2 ** 20).toFixed(1)} MiB), GNU ${(fs.statSync(gnuLayer).size / 2 ** 20).toFixed(1)} MiB`,
  );

  // ---- (2) extraction of the same GNU-written layer ----
  const dest = path.join(work, 'dest');
  const fresh = async () => {
    fs.rmSync(dest, { recursive: true, force: true });
    fs.mkdirSync(dest);
  };
  const extract = await sideBySide(
    () => measureShell(`tar -xzf ${gnuLayer} -C ${dest}`),
    () =>
      measureKiln(async () => {
        await extractLayer(fs.createReadStream(gnuLayer), dest);
      }),
    fresh,
  );
  row('extract layer (gunzip+untar)', extract.k, extract.b, '≥ 0.9×');
  fs.rmSync(dest, { recursive: true, force: true });
  fs.rmSync(tree, { recursive: true, force: true });

  // ---- (3) directory diff and overlay conversion, 100,000 files, 10 changed ----
  const lower = path.join(work, 'lower');
  fs.mkdirSync(lower);
  for (let d = 0; d < 1000; d++) {
    const dir = path.join(lower, `d${String(d).padStart(3, '0')}`);
    fs.mkdirSync(dir);
    for (let f = 0; f < 100; f++) fs.writeFileSync(path.join(dir, `f${f}`), `file ${d}/${f}\n`);
  }
  // An extracted base image has old mtimes; so does this tree (no file is "racy").
  sh(`find ${lower} -exec touch -h -d 2024-01-01 {} +`);
  const change = (root) => {
    for (let i = 0; i < 10; i++)
      fs.writeFileSync(path.join(root, `d${String(i * 97).padStart(3, '0')}`, 'f5'), `changed ${i}\n`);
  };
  let record;
  const recordMs = await time(async () => {
    record = await recordTree(lower);
  });
  change(lower);
  let diff;
  const diffMs = await time(async () => {
    diff = await diffDirectories(record);
  });
  if (diff.changed.length !== 10 || diff.added.length + diff.deleted.length !== 0)
    throw new Error(`unexpected diff ${JSON.stringify(diff.changed)}`);
  rows.push({
    what: 'record tree (100,000 files)',
    kiln: fmt(recordMs),
    baseline: '',
    ratio: `${Math.round(100_000 / (recordMs / 1000)).toLocaleString('en')} files/s`,
    target: '',
  });
  rows.push({
    what: 'diff tree, 10 changed',
    kiln: fmt(diffMs),
    baseline: '',
    ratio: `${Math.round(100_000 / (diffMs / 1000)).toLocaleString('en')} files/s`,
    target: '< 1 s',
  });

  const upper = path.join(work, 'upper');
  const ow = path.join(work, 'ovl-work');
  const merged = path.join(work, 'merged');
  for (const d of [upper, ow, merged]) fs.mkdirSync(d);
  const mount = spawnSync(
    'mount',
    ['-t', 'overlay', 'overlay', '-o', `lowerdir=${lower},upperdir=${upper},workdir=${ow}`, merged],
    { stdio: 'ignore' },
  );
  let how;
  if (mount.status === 0) {
    change(merged);
    execFileSync('umount', [merged]);
    how = 'real overlayfs';
  } else {
    // Simulated upper: what overlayfs would hold after the same writes (copied-up dirs and files).
    for (let i = 0; i < 10; i++) fs.mkdirSync(path.join(upper, `d${String(i * 97).padStart(3, '0')}`));
    change(upper);
    how = 'simulated upper dir';
  }
  let changes;
  const ovlMs = await time(async () => {
    changes = await layerFromOverlayUpper(upper);
  });
  if (changes.changed.length !== 20) throw new Error(`unexpected overlay changes ${changes.changed.length}`);
  rows.push({
    what: `overlay upper → entries (${how})`,
    kiln: fmt(ovlMs),
    baseline: '',
    ratio: '',
    target: '< 50 ms',
  });
  const ovlLayerMs = await time(async () => {
    await createLayer(changes.entries, { out: fs.createWriteStream(path.join(work, 'ovl.tar.gz')) });
  });
  rows.push({
    what: '  … plus writing its layer',
    kiln: fmt(ovlMs + ovlLayerMs),
    baseline: '',
    ratio: '',
    target: '',
  });
} finally {
  spawnSync('umount', [path.join(work, 'merged')], { stdio: 'ignore' });
  fs.rmSync(work, { recursive: true, force: true });
}
console.log('');
console.table(rows);
console.log(
  'ratio = baseline time / kiln time (higher is better for kiln); cpu = user+sys of all threads/processes',
);
console.log(
  `load average at end: ${os
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')}`,
);
