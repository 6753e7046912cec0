import { execFileSync } from 'node:child_process';
import { chmod, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { MemoryFile } from '../../src/index.js';

/**
 * The tree every context source is checked against. Modes are ones git can carry (0644/0755
 * files, 0755 directories) so a git checkout reproduces it; no empty directories for the same reason.
 */
export function fixtureFiles(): Record<string, MemoryFile> {
  let seed = 7;
  const big = Buffer.alloc(300 * 1024);
  for (let i = 0; i < big.length; i++) big[i] = (seed = (seed * 1103515245 + 12345) & 0x7fffffff) >> 16;
  return {
    Dockerfile: { content: 'FROM scratch\nCOPY . /\n' },
    '.dockerignore': { content: 'docs\n!docs/keep.md\n*.log\n' },
    'README.md': { content: '# fixture\n' },
    'app.log': { content: 'noise\n' },
    'empty.txt': { content: '' },
    'with space.txt': { content: 'spaced\n' },
    'bin/run.sh': { content: '#!/bin/sh\necho hi\n', mode: 0o755 },
    'src/index.js': { content: 'export {};\n' },
    'src/lib/util.js': { content: 'export const x = 1;\n' },
    'docs/keep.md': { content: 'kept\n' },
    'docs/drop.md': { content: 'dropped\n' },
    'docs/sub/deep.md': { content: 'deep\n' },
    'nested/deep/dir/file.txt': { content: 'deep file\n' },
    'big.bin': { content: big },
    'link-to-readme': { linkname: 'README.md' },
    'link-outside': { linkname: '../../etc/passwd' },
    'abs-link': { linkname: '/etc/passwd' },
    'src/link-up': { linkname: '../bin' },
  };
}

/** An entry of a random tree in the property tests: path segments, a symlink target or file content and mode. */
export interface RandomEntry {
  path: string[];
  link?: string | undefined;
  mode: number;
  content: string;
}

/** randomTreeFiles: random entries as a consistent tree (a path is never both a leaf and a directory). */
export function randomTreeFiles(entries: RandomEntry[]): Record<string, MemoryFile> {
  const files: Record<string, MemoryFile> = {};
  const taken = new Set<string>();
  for (const e of entries) {
    const p = e.path.join('/');
    const parents = e.path.slice(0, -1).map((_, i) => e.path.slice(0, i + 1).join('/'));
    if (taken.has(p) || parents.some((d) => files[d]) || [...taken].some((t) => t.startsWith(`${p}/`)))
      continue;
    for (const d of parents) taken.add(d);
    taken.add(p);
    files[p] = e.link !== undefined ? { linkname: e.link } : { content: e.content, mode: e.mode };
  }
  return files;
}

/** writeTree materialises `files` under a new temporary directory (modes set explicitly, umask aside). */
export async function writeTree(files: Record<string, MemoryFile>, parent = tmpdir()): Promise<string> {
  const root = await mkdtemp(join(parent, 'kiln-ctx-fixture-'));
  await chmod(root, 0o755);
  for (const [p, f] of Object.entries(files)) {
    const abs = join(root, p);
    await mkdir(dirname(abs), { recursive: true });
    if (f.linkname !== undefined) await symlink(f.linkname, abs);
    else if (f.type === 'dir') await mkdir(abs, { recursive: true });
    else {
      await writeFile(abs, f.content ?? '');
      await chmod(abs, f.mode ?? 0o644);
    }
  }
  execFileSync('find', [root, '-type', 'd', '-exec', 'chmod', '0755', '{}', '+']);
  return root;
}

/** tarOf writes `dir` as a tar archive (GNU tar), optionally compressed by `compressor`. */
export function tarOf(dir: string, out: string, compressor?: 'gzip' | 'bzip2' | 'xz' | 'zstd'): string {
  const tar = execFileSync('tar', ['-C', dir, '--numeric-owner', '-cf', '-', '.'], { maxBuffer: 1 << 28 });
  const bytes = compressor ? execFileSync(compressor, ['-c'], { input: tar, maxBuffer: 1 << 28 }) : tar;
  execFileSync('sh', ['-c', 'cat > "$1"', 'sh', out], { input: bytes });
  return out;
}

/** gitRepoOf commits `dir` into a new repository (branch `main`, tag `v1`) and returns its path. */
export function gitRepoOf(dir: string, repo: string): string {
  const git = (...args: string[]) =>
    execFileSync('git', ['-c', 'user.name=kiln', '-c', 'user.email=kiln@example.invalid', ...args], {
      cwd: repo,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
      .toString()
      .trim();
  execFileSync('cp', ['-a', `${dir}/.`, repo]);
  git('init', '-q', '-b', 'main');
  git('add', '-A');
  git('commit', '-q', '-m', 'fixture');
  git('tag', 'v1');
  return repo;
}

/** removeAll deletes temporary paths, ignoring those already gone. */
export async function removeAll(paths: string[]): Promise<void> {
  await Promise.all(paths.map((p) => rm(p, { recursive: true, force: true })));
}
