import { execFileSync, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ContextEntry,
  type ContextSource,
  contextDigests,
  dirContext,
  gitContext,
  httpContext,
  loadDockerignore,
  matchSources,
  memoryContext,
  openContext,
  subContext,
  tarContext,
} from '../src/index.js';
import { fixtureFiles, gitRepoOf, removeAll, tarOf, writeTree } from './helpers/fixture-tree.js';
import { gitDaemon, gitHttp, serveFiles } from './helpers/serve.js';

/**
 * One contract, every source: the same fixture tree served as a directory, tar archives
 * (plain, gzip, bzip2, xz, zstd; from a file, a stream and bytes), a git repository (file://
 * and git daemon), an http tarball and memory must give the same listing, content and digests.
 */

type Opened = { name: string; kind: string; open: () => Promise<ContextSource> };

const temps: string[] = [];
let fixtureDir = '';
let tarDir = '';
let repoBase = '';
let http: Awaited<ReturnType<typeof serveFiles>>;
let daemon: Awaited<ReturnType<typeof gitDaemon>>;
let smartHttp: Awaited<ReturnType<typeof gitHttp>>;

beforeAll(async () => {
  fixtureDir = await writeTree(fixtureFiles());
  tarDir = await mkdtemp(join(tmpdir(), 'kiln-ctx-tars-'));
  repoBase = await mkdtemp(join(tmpdir(), 'kiln-ctx-repos-'));
  temps.push(fixtureDir, tarDir, repoBase);
  tarOf(fixtureDir, join(tarDir, 'ctx.tar'));
  tarOf(fixtureDir, join(tarDir, 'ctx.tar.gz'), 'gzip');
  tarOf(fixtureDir, join(tarDir, 'ctx.tar.bz2'), 'bzip2');
  tarOf(fixtureDir, join(tarDir, 'ctx.tar.xz'), 'xz');
  tarOf(fixtureDir, join(tarDir, 'ctx.tar.zst'), 'zstd');
  await mkdir(join(repoBase, 'repo.git'));
  gitRepoOf(fixtureDir, join(repoBase, 'repo.git'));
  http = await serveFiles({
    '/ctx.tar.gz': join(tarDir, 'ctx.tar.gz'),
    '/moved': { status: 302, location: '/ctx.tar.gz' },
  });
  daemon = await gitDaemon(repoBase);
  smartHttp = await gitHttp(repoBase);
}, 60_000);

afterAll(async () => {
  await http?.close();
  await daemon?.stop();
  await smartHttp?.close();
  await removeAll(temps);
});

const sources: Opened[] = [
  { name: 'memory', kind: 'memory', open: async () => memoryContext(fixtureFiles()) },
  { name: 'dir', kind: 'dir', open: async () => dirContext(fixtureDir) },
  { name: 'tar file', kind: 'tar', open: () => tarContext(join(tarDir, 'ctx.tar')) },
  {
    name: 'tar.gz stream',
    kind: 'tar',
    open: () => tarContext(execStream('cat', join(tarDir, 'ctx.tar.gz'))),
  },
  { name: 'tar.bz2 file', kind: 'tar', open: () => tarContext(join(tarDir, 'ctx.tar.bz2')) },
  {
    name: 'tar.xz bytes',
    kind: 'tar',
    open: async () => tarContext(await readFile(join(tarDir, 'ctx.tar.xz'))),
  },
  { name: 'tar.zst file', kind: 'tar', open: () => tarContext(join(tarDir, 'ctx.tar.zst')) },
  {
    name: 'tar spooled to disk',
    kind: 'tar',
    open: () => tarContext(join(tarDir, 'ctx.tar.gz'), { memoryBytes: 0 }),
  },
  { name: 'git file://', kind: 'git', open: () => gitContext(`file://${repoBase}/repo.git#main`) },
  {
    name: 'git daemon (kaniko git://)',
    kind: 'git',
    open: () => gitContext(`git://127.0.0.1:${daemon.port}/repo.git#refs/heads/main`, { pullMethod: 'git' }),
  },
  { name: 'git smart http', kind: 'git', open: () => gitContext(`${smartHttp.url}/repo.git#v1`) },
  { name: 'http tarball', kind: 'http', open: () => httpContext(`${http.url}/moved`) },
  {
    name: 'subContext of a larger memory context',
    kind: 'memory',
    open: () =>
      subContext(
        memoryContext({
          ...Object.fromEntries(Object.entries(fixtureFiles()).map(([p, f]) => [`outer/ctx/${p}`, f])),
          'outer/sibling.txt': 'not in the sub-context',
          'outer/ctx/../../top.txt': 'x',
        }),
        'outer/ctx',
      ),
  },
  { name: 'openContext dir://', kind: 'dir', open: () => openContext(`dir://${fixtureDir}`) },
];

function execStream(cmd: string, arg: string) {
  return spawn(cmd, [arg], { stdio: ['ignore', 'pipe', 'inherit'] }).stdout;
}

/** What every source must agree on (mtime, uid and gid legitimately differ: git checkouts, tar headers). */
const shape = (e: ContextEntry) => ({
  path: e.path,
  type: e.type,
  mode: e.mode,
  size: e.size,
  linkname: e.linkname,
});

async function collect(source: ContextSource, opts?: Parameters<ContextSource['list']>[0]) {
  const out: ContextEntry[] = [];
  for await (const e of source.list(opts)) out.push(e);
  return out;
}

async function observe(source: ContextSource) {
  const listing = await collect(source);
  const ignore = await loadDockerignore(source);
  const visible = (await collect(source, { ignore })).map((e) => e.path);
  const under = (await collect(source, { under: 'src' })).map((e) => e.path);
  const contents: Record<string, string> = {};
  for (const e of listing)
    if (e.type === 'file')
      contents[e.path] = (await source.readFile(e.path)).toString('base64').slice(0, 4000);
  const digests = contextDigests(source, { ignore });
  return {
    listing: listing.map(shape),
    visible,
    under,
    contents,
    tree: await digests.treeDigest('.'),
    srcTree: await digests.treeDigest('src'),
    file: await digests.fileDigest('bin/run.sh'),
    big: await digests.contentDigest('big.bin'),
    matched: (await matchSources(source, '*.md', { ignore })).map((e) => e.path),
  };
}

describe('ContextSource contract', () => {
  let reference: Awaited<ReturnType<typeof observe>>;

  beforeAll(async () => {
    const memory = memoryContext(fixtureFiles());
    reference = await observe(memory);
  });

  it('the reference listing is the fixture: sorted, parents first, dockerignore applied', () => {
    expect(reference.listing.map((e) => e.path)).toEqual([
      '.dockerignore',
      'Dockerfile',
      'README.md',
      'abs-link',
      'app.log',
      'big.bin',
      'bin',
      'bin/run.sh',
      'docs',
      'docs/drop.md',
      'docs/keep.md',
      'docs/sub',
      'docs/sub/deep.md',
      'empty.txt',
      'link-outside',
      'link-to-readme',
      'nested',
      'nested/deep',
      'nested/deep/dir',
      'nested/deep/dir/file.txt',
      'src',
      'src/index.js',
      'src/lib',
      'src/lib/util.js',
      'src/link-up',
      'with space.txt',
    ]);
    expect(reference.visible).not.toContain('app.log');
    expect(reference.visible).not.toContain('docs/drop.md');
    expect(reference.visible).not.toContain('docs/sub');
    expect(reference.visible).toContain('docs');
    expect(reference.visible).toContain('docs/keep.md');
    expect(reference.under).toEqual(['src/index.js', 'src/lib', 'src/lib/util.js', 'src/link-up']);
    expect(reference.matched).toEqual(['README.md']);
  });

  describe.each(sources)('$name', ({ open, kind }) => {
    let source: ContextSource;
    let seen: Awaited<ReturnType<typeof observe>>;
    beforeAll(async () => {
      source = await open();
      seen = await observe(source);
    }, 60_000);
    afterAll(async () => {
      await source?.close?.();
    });

    it('reports its kind', () => {
      expect(source.kind).toBe(kind);
    });
    it('lists the same entries with the same metadata', () => {
      expect(seen.listing).toEqual(reference.listing);
    });
    it('applies .dockerignore and `under` the same way', () => {
      expect(seen.visible).toEqual(reference.visible);
      expect(seen.under).toEqual(reference.under);
    });
    it('serves the same content', () => {
      expect(seen.contents).toEqual(reference.contents);
    });
    it('gives the same digests', () => {
      expect({ tree: seen.tree, srcTree: seen.srcTree, file: seen.file, big: seen.big }).toEqual({
        tree: reference.tree,
        srcTree: reference.srcTree,
        file: reference.file,
        big: reference.big,
      });
    });
    it('matches COPY globs the same way', () => {
      expect(seen.matched).toEqual(reference.matched);
    });
    it('stats without following symlinks and refuses to open them', async () => {
      expect(await source.stat('link-outside')).toMatchObject({
        type: 'symlink',
        linkname: '../../etc/passwd',
      });
      await expect(source.open('link-outside')).rejects.toMatchObject({ code: 'KILN_CONTEXT_NOT_A_FILE' });
      await expect(source.open('abs-link')).rejects.toMatchObject({ code: 'KILN_CONTEXT_NOT_A_FILE' });
      await expect(source.open('no/such/file')).rejects.toMatchObject({ code: 'KILN_CONTEXT_NOT_FOUND' });
      await expect(source.open('src')).rejects.toMatchObject({ code: 'KILN_CONTEXT_NOT_A_FILE' });
      expect(await source.stat('missing')).toBeUndefined();
    });
    it('cleans paths inside the root: ../ and / lead back to the root', async () => {
      expect((await source.readFile('../../README.md')).toString()).toBe('# fixture\n');
      expect((await source.readFile('/src/../README.md')).toString()).toBe('# fixture\n');
      expect(await source.stat('.')).toMatchObject({ path: '.', type: 'dir' });
      expect(await source.stat('./src/lib/')).toMatchObject({ path: 'src/lib', type: 'dir' });
    });
    it('streams files through fresh streams each time', async () => {
      const read = async () => {
        const chunks: Buffer[] = [];
        for await (const c of await source.open('big.bin')) chunks.push(c as Buffer);
        return Buffer.concat(chunks).length;
      };
      expect(await Promise.all([read(), read()])).toEqual([300 * 1024, 300 * 1024]);
    });
  });
});

describe('ContextSource contract: tools agree with kiln', () => {
  it('GNU tar lists the same paths as the tar context', async () => {
    const names = execFileSync('tar', ['-tf', join(tarDir, 'ctx.tar')])
      .toString()
      .split('\n')
      .filter((n) => n !== '' && n !== './')
      .map((n) => n.replace(/^\.\//, '').replace(/\/$/, ''))
      .sort();
    const ctx = await tarContext(join(tarDir, 'ctx.tar'));
    expect((await collect(ctx)).map((e) => e.path).sort()).toEqual(names);
    await ctx.close?.();
  });
});

describe('ContextSource contract: byte streams', () => {
  it.each(sources)('$name: open() gives a byte stream, not an object stream', async ({ open }) => {
    const source = await open();
    try {
      for (const p of ['README.md', 'empty.txt', 'big.bin'])
        expect((await source.open(p)).readableObjectMode).toBe(false);
    } finally {
      await source.close?.();
    }
  });
});
