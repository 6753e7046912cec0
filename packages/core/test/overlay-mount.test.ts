import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { layerFromOverlayUpper, nodeFileSystem } from '@kiln/snapshot';
import ts from 'typescript';
import { afterEach, describe, expect, test } from 'vitest';
import { mountOverlay } from '../src/stage/overlay-mount.js';

const made: string[] = [];
afterEach(() => {
  for (const d of made.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tmp(): string {
  const d = mkdtempSync(path.join(tmpdir(), 'kiln-overlay-mount-'));
  chmodSync(d, 0o755);
  made.push(d);
  return d;
}

/** A lower tree: the unpacked base. */
function base(dir: string): string {
  const lower = path.join(dir, 'base');
  for (const d of ['etc', 'srv/conf', 'usr/share/doc/a']) mkdirSync(path.join(lower, d), { recursive: true });
  writeFileSync(path.join(lower, 'etc/motd'), 'hi\n');
  writeFileSync(path.join(lower, 'srv/conf/a'), 'a\n');
  writeFileSync(path.join(lower, 'srv/conf/b'), 'b\n');
  writeFileSync(path.join(lower, 'usr/share/doc/a/README'), 'r\n');
  return lower;
}

const canOverlay = (() => {
  if (process.getuid?.() !== 0) return false;
  const d = mkdtempSync(path.join(tmpdir(), 'kiln-ovl-probe-'));
  try {
    for (const s of ['l', 'u', 'w', 'm']) mkdirSync(path.join(d, s));
    execFileSync(
      'mount',
      ['-t', 'overlay', 'overlay', '-o', `lowerdir=${d}/l,upperdir=${d}/u,workdir=${d}/w`, `${d}/m`],
      {
        stdio: 'ignore',
      },
    );
    execFileSync('umount', [`${d}/m`]);
    return true;
  } catch {
    return false;
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
})();

const canUnshare = (() => {
  try {
    execFileSync('unshare', ['--user', '--map-root-user', '--mount', 'true'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

/**
 * What every variant does through the merged view (as source text, so that a Node started inside a user
 * namespace runs the same): one step, a rotation, a second step.
 */
const STEPS = `
const STEP1 = async (m) => {
  await writeFile(path.join(m, 'etc/step1'), '1\\n');
};
const STEP2 = async (m) => {
  await rm(path.join(m, 'srv/conf'), { recursive: true });
  mkdirSync(path.join(m, 'srv/conf'));
  await writeFile(path.join(m, 'srv/conf/c'), 'c\\n');
  await rm(path.join(m, 'etc/step1'));
  await writeFile(path.join(m, 'usr/share/doc/a/README'), 'changed\\n');
};`;
const { STEP1, STEP2 } = new Function(
  'writeFile',
  'rm',
  'mkdirSync',
  'path',
  `${STEPS}\nreturn { STEP1, STEP2 };`,
)(writeFile, rm, mkdirSync, path) as Record<'STEP1' | 'STEP2', (merged: string) => Promise<void>>;

/** The second step's layer: etc and srv lost or changed entries, so their mtimes moved. */
const STEP2_ENTRIES = [
  'etc',
  'srv',
  'srv/conf',
  'srv/conf/c',
  'usr/share/doc/a/README',
  'etc/.wh.step1',
  'srv/conf/.wh.a',
  'srv/conf/.wh.b',
];

describe('mountOverlay', () => {
  test.skipIf(!canOverlay)(
    'rotates: each step lands in its own upper dir, stacked topmost first',
    async () => {
      const dir = tmp();
      const lower = base(dir);
      const mount = await mountOverlay(lower, dir);
      expect(mount).toBeDefined();
      try {
        const m = mount!;
        expect(m.xattrNamespace).toBe('trusted');
        expect(m.lowers).toEqual([lower]);
        await STEP1(m.merged);
        const first = m.upper;
        expect(await m.rotate()).toBe(true);
        expect(m.lowers).toEqual([first, lower]);
        expect(await readdir(m.upper)).toEqual([]);
        expect(await readFile(path.join(m.merged, 'etc/step1'), 'utf8')).toBe('1\n');
        await STEP2(m.merged);
        const changes = await layerFromOverlayUpper(m.upper, {
          lowers: m.lowers.map((d) => ({ dir: d, opaque: [] })),
          xattrNamespace: m.xattrNamespace,
        });
        expect(changes.entries.map((e) => e.path)).toEqual(STEP2_ENTRIES);
        // The first upper dir holds step 1 only.
        expect(await readdir(path.join(first, 'etc'))).toEqual(['step1']);
        // Many rotations keep the option string short (relative names).
        for (let i = 0; i < 60; i++) {
          await writeFile(path.join(m.merged, `f${i}`), '');
          expect(await m.rotate()).toBe(true);
        }
        expect(m.lowers).toHaveLength(62);
        expect(await readdir(m.merged)).toContain('f59');
      } finally {
        await mount?.unmount();
      }
    },
  );

  test.skipIf(!canOverlay || !canUnshare)(
    'as root of a user namespace: mounts with userxattr and marks opaque directories user.overlay.opaque',
    async () => {
      const dir = tmp();
      const lower = base(dir);
      const out = path.join(dir, 'out.json');
      // overlay-mount.ts (and what it imports) as plain JS, for a Node started inside the namespace.
      const js = path.join(dir, 'js');
      const src = fileURLToPath(new URL('../src/', import.meta.url));
      const done = new Set<string>();
      const transpile = (rel: string) => {
        if (done.has(rel)) return;
        done.add(rel);
        const text = readFileSync(path.join(src, rel), 'utf8');
        mkdirSync(path.join(js, path.dirname(rel)), { recursive: true });
        const code = ts.transpileModule(text, {
          compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
        }).outputText;
        writeFileSync(path.join(js, rel.replace(/\.ts$/, '.js')), code);
        for (const m of text.matchAll(/from '(\.{1,2}\/[^']+)\.js'/g))
          transpile(path.join(path.dirname(rel), `${m[1]}.ts`));
      };
      transpile('stage/overlay-mount.ts');
      writeFileSync(path.join(js, 'package.json'), '{"type":"module"}');
      writeFileSync(
        path.join(js, 'driver.js'),
        `import { mkdirSync, writeFileSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { mountOverlay } from './stage/overlay-mount.js';
import { inUserNamespace } from './user-namespace.js';
${STEPS}
const m = await mountOverlay(${JSON.stringify(lower)}, ${JSON.stringify(dir)});
if (!m) throw new Error('no overlay');
await STEP1(m.merged);
const rotated = await m.rotate();
await STEP2(m.merged);
writeFileSync(${JSON.stringify(out)}, JSON.stringify({ userns: inUserNamespace(), ns: m.xattrNamespace, rotated, upper: m.upper, lowers: m.lowers }));
await m.unmount();
`,
      );
      execFileSync('unshare', [
        '--user',
        '--map-root-user',
        '--mount',
        process.execPath,
        path.join(js, 'driver.js'),
      ]);
      const r = JSON.parse(readFileSync(out, 'utf8'));
      expect(r).toMatchObject({ userns: true, ns: 'user', rotated: true });
      const x = await nodeFileSystem.readXattrs!([path.join(r.upper, 'srv/conf')]);
      expect(x.get(path.join(r.upper, 'srv/conf'))?.['user.overlay.opaque']?.toString()).toBe('y');
      const changes = await layerFromOverlayUpper(r.upper, {
        lowers: (r.lowers as string[]).map((d) => ({ dir: d, opaque: [] })),
        xattrNamespace: 'user',
      });
      expect(changes.opaque).toEqual(['srv/conf']);
      expect(changes.entries.map((e) => e.path)).toEqual(STEP2_ENTRIES);
    },
  );
});
