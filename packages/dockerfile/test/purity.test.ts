import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';

const srcDir = fileURLToPath(new URL('../src/', import.meta.url));
const files = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );

test('sources import no Node module, no other kiln package and no third-party code (pure, no I/O)', () => {
  const offenders: string[] = [];
  for (const file of files(srcDir)) {
    for (const m of readFileSync(file, 'utf8').matchAll(/from '([^']+)'/g)) {
      if (!m[1]!.startsWith('.')) offenders.push(`${file}: ${m[1]}`);
    }
  }
  expect(files(srcDir).length).toBeGreaterThan(20);
  expect(offenders).toEqual([]);
});

test('src/index.ts only re-exports', () => {
  const lines = readFileSync(join(srcDir, 'index.ts'), 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '');
  for (const line of lines)
    expect(line).toMatch(/^(export\b|\s+[\w ,]+,?$|\s*\w[\w ]*,$|} from '\.\/[\w/-]+\.js';$)/);
});
