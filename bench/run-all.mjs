// Runs every benchmark in this folder, one after another, so their figures land in one log.
// Plain scripts first (they need only the built packages), then the *.measure.ts files (whole builds, RUN
// snapshots), which start registries and the oracle builders through the test setup.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';

const here = path.dirname(new URL(import.meta.url).pathname);
const only = process.argv[2];
let failed = 0;
for (const f of readdirSync(here)
  .filter((f) => f.endsWith('.mjs') && f !== 'run-all.mjs')
  .sort()) {
  if (only && !f.includes(only)) continue;
  console.log(`\n=== ${f}`);
  const r = spawnSync(process.execPath, [path.join(here, f)], { stdio: 'inherit' });
  if (r.status !== 0) failed++;
}
// The *.measure.ts files: whole builds against peers, and RUN snapshots (overlay vs directory diff).
const measures = readdirSync(here).filter((f) => f.endsWith('.measure.ts') && (!only || f.includes(only)));
if (measures.length > 0) {
  console.log(`\n=== ${measures.join(', ')}`);
  const config = ['--config', path.join(here, 'vitest.config.ts')];
  const r = spawnSync('pnpm', ['exec', 'vitest', 'run', ...config, ...measures.map((f) => `bench/${f}`)], {
    stdio: 'inherit',
    cwd: path.join(here, '..'),
  });
  if (r.status !== 0) failed++;
}
process.exitCode = failed ? 1 : 0;
