import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import {
  type ContextEntry,
  type ContextSource,
  contextDigests,
  dockerignore,
  loadDockerignore,
  type MemoryFile,
  matchSources,
  memoryContext,
} from '../src/index.js';

const base: Record<string, string | MemoryFile> = {
  'a.txt': 'alpha',
  'dir/b.txt': 'beta',
  'dir/run.sh': { content: '#!/bin/sh', mode: 0o755 },
  'dir/link': { linkname: 'b.txt' },
  'dir/sub/c.txt': 'gamma',
  'notes.log': 'noise',
};
const tree = async (files: Record<string, string | MemoryFile>, path = '.') =>
  contextDigests(memoryContext(files)).treeDigest(path);

describe('contextDigests: what a digest covers', () => {
  it('is stable and ignores mtime, uid and gid of the context files', async () => {
    const other = Object.fromEntries(
      Object.entries(base).map(([k, v]) => [
        k,
        typeof v === 'string' ? { content: v, mtime: 1e12, uid: 501, gid: 20 } : { ...v, uid: 7 },
      ]),
    );
    expect(await tree(other)).toBe(await tree(base));
    expect(await tree(base)).toMatch(/^sha256:[0-9a-f]{64}$/);
  });

  it.each<[string, Record<string, string | MemoryFile>]>([
    ['content', { ...base, 'dir/sub/c.txt': 'GAMMA' }],
    ['mode', { ...base, 'a.txt': { content: 'alpha', mode: 0o600 } }],
    ['setuid bit', { ...base, 'dir/run.sh': { content: '#!/bin/sh', mode: 0o4755 } }],
    ['symlink target', { ...base, 'dir/link': { linkname: 'run.sh' } }],
    [
      'a rename',
      { ...Object.fromEntries(Object.entries(base).filter(([k]) => k !== 'a.txt')), 'A.txt': 'alpha' },
    ],
    ['an added empty directory', { ...base, 'empty/': { type: 'dir' } }],
    ['a file becoming a symlink', { ...base, 'a.txt': { linkname: 'alpha' } }],
    ['a sub-directory mode', { ...base, 'dir/sub/': { type: 'dir', mode: 0o700 } }],
  ])('changes with %s', async (_what, files) => {
    expect(await tree(files)).not.toBe(await tree(base));
  });

  it('treeDigest of a directory is about its contents, not where it sits or its own mode', async () => {
    const moved = {
      'x/b.txt': 'beta',
      'x/run.sh': { content: '#!/bin/sh', mode: 0o755 },
      'x/link': { linkname: 'b.txt' },
      'x/sub/c.txt': 'gamma',
      'x/': { type: 'dir' as const, mode: 0o700 },
    };
    expect(await tree(moved, 'x')).toBe(await tree(base, 'dir'));
  });

  it('fileDigest includes the path; contentDigest is the plain sha256 of the bytes', async () => {
    const d = contextDigests(memoryContext({ 'a.txt': 'same', 'b.txt': 'same' }));
    expect(await d.contentDigest('a.txt')).toBe(
      `sha256:${createHash('sha256').update('same').digest('hex')}`,
    );
    expect(await d.contentDigest('a.txt')).toBe(await d.contentDigest('b.txt'));
    expect(await d.fileDigest('a.txt')).not.toBe(await d.fileDigest('b.txt'));
  });

  it('excluded files take no part', async () => {
    const ignore = dockerignore().add(['*.log']);
    const a = await contextDigests(memoryContext(base), { ignore }).treeDigest('.');
    const b = await contextDigests(memoryContext({ ...base, 'notes.log': 'changed', 'new.log': 'x' }), {
      ignore,
    }).treeDigest('.');
    expect(a).toBe(b);
  });

  it('names missing paths and wrong types', async () => {
    const d = contextDigests(memoryContext(base));
    await expect(d.fileDigest('nope')).rejects.toMatchObject({ code: 'KILN_CONTEXT_NOT_FOUND' });
    await expect(d.treeDigest('a.txt')).rejects.toMatchObject({ code: 'KILN_CONTEXT_NOT_A_DIRECTORY' });
    await expect(d.contentDigest('dir')).rejects.toMatchObject({ code: 'KILN_CONTEXT_NOT_A_FILE' });
  });
});

/** counting wraps a source, recording each read (open or readFile) and the peak number of files read at once. */
function counting(inner: ContextSource, delayMs = 5) {
  const opened: string[] = [];
  let reading = 0;
  let peak = 0;
  const source: ContextSource = {
    kind: 'counting',
    list: (o) => inner.list(o),
    stat: (p) => inner.stat(p),
    async readFile(p) {
      opened.push(p);
      peak = Math.max(peak, ++reading);
      await new Promise((r) => setTimeout(r, delayMs));
      try {
        return await inner.readFile(p);
      } finally {
        reading--;
      }
    },
    async open(p): Promise<Readable> {
      opened.push(p);
      peak = Math.max(peak, ++reading);
      await new Promise((r) => setTimeout(r, delayMs));
      const s = await inner.open(p);
      s.once('end', () => reading--);
      return s;
    },
  };
  return { source, opened, peak: () => peak };
}

describe('contextDigests: cost', () => {
  it('reads each file once however often it is asked, and at most `concurrency` at a time', async () => {
    const files = Object.fromEntries(
      Array.from({ length: 40 }, (_, i) => [`d${i % 4}/f${i}.txt`, `content ${i}`]),
    );
    const c = counting(memoryContext(files));
    const d = contextDigests(c.source, { concurrency: 3 });
    const first = await d.treeDigest('.');
    await Promise.all([
      d.treeDigest('.'),
      d.treeDigest('d1'),
      d.fileDigest('d2/f2.txt'),
      d.contentDigest('d3/f3.txt'),
    ]);
    expect(await d.treeDigest('.')).toBe(first);
    expect(c.opened.length).toBe(40);
    expect(new Set(c.opened).size).toBe(40);
    expect(c.peak()).toBeLessThanOrEqual(3);
    expect(c.peak()).toBeGreaterThan(1);
  });
});

describe('contextDigests: one per build', () => {
  it('returns the same instance for the same source and filter, and shares file reads across filters', async () => {
    const c = counting(memoryContext({ 'a.txt': 'a', 'b.log': 'b', 'd/c.txt': 'c' }), 0);
    const ignore = dockerignore().add(['*.log']);
    expect(contextDigests(c.source, { ignore })).toBe(contextDigests(c.source, { ignore }));
    expect(contextDigests(c.source)).not.toBe(contextDigests(c.source, { ignore }));
    await contextDigests(c.source, { ignore }).treeDigest('.');
    await contextDigests(c.source).treeDigest('.');
    expect(c.opened.sort()).toEqual(['a.txt', 'b.log', 'd/c.txt']);
  });
});

describe("the caller's own ContextSource", () => {
  /** A bare implementation: unsorted listing, no `close`, ignores every list hint. */
  function bare(files: Record<string, string>): ContextSource {
    const entries: ContextEntry[] = [];
    const dirs = new Set<string>();
    for (const p of Object.keys(files)) {
      const parts = p.split('/');
      for (let i = 1; i < parts.length; i++) dirs.add(parts.slice(0, i).join('/'));
    }
    for (const d of dirs)
      entries.push({ path: d, type: 'dir', mode: 0o755, size: 0, mtime: 0, uid: 0, gid: 0 });
    for (const [p, c] of Object.entries(files))
      entries.push({
        path: p,
        type: 'file',
        mode: 0o644,
        size: Buffer.byteLength(c),
        mtime: 0,
        uid: 0,
        gid: 0,
      });
    entries.sort((a, b) => (a.path < b.path ? -1 : 1));
    const find = (p: string) => entries.find((e) => e.path === p.replace(/^\.?\/+/, ''));
    return {
      kind: 'bare',
      async *list() {
        yield* entries;
      },
      async stat(p) {
        return p === '.'
          ? { path: '.', type: 'dir', mode: 0o755, size: 0, mtime: 0, uid: 0, gid: 0 }
          : find(p);
      },
      async readFile(p) {
        return Buffer.from(files[p]!);
      },
      async open(p) {
        const { Readable } = await import('node:stream');
        return Readable.from([Buffer.from(files[p]!)]);
      },
    };
  }

  it('works with loadDockerignore, matchSources and contextDigests like a shipped source', async () => {
    const files = { '.dockerignore': 'secret\n', 'app/main.js': 'm', 'secret/key': 'k', 'README.md': 'r' };
    const mine = bare(files);
    const ignore = await loadDockerignore(mine);
    expect(ignore.file).toBe('.dockerignore');
    expect((await matchSources(mine, '*', { ignore })).map((e) => e.path)).toEqual([
      '.dockerignore',
      'README.md',
      'app',
    ]);
    await expect(matchSources(mine, 'secret/key', { ignore })).rejects.toMatchObject({
      code: 'KILN_CONTEXT_NOT_FOUND',
    });
    expect(await contextDigests(mine, { ignore }).treeDigest('.')).toBe(
      await contextDigests(memoryContext(files), { ignore }).treeDigest('.'),
    );
  });
});
