// Runs every benchmark in this folder, one after another, so their figures land in one log.
// Plain scripts first (they need only the built packages), then the whole-build comparisons, which
// start registries and the oracle builders through the test setup.
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
if (!only || 'build.measure'.includes(only)) {
  console.log('\n=== build.measure.ts');
  const r = spawnSync('pnpm', ['exec', 'vitest', 'run', '--config', path.join(here, 'vitest.config.ts')], {
    stdio: 'inherit',
    cwd: path.join(here, '..'),
  });
  if (r.status !== 0) failed++;
}
process.exitCode = failed ? 1 : 0;
