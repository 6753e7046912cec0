import { describe, expect, it } from 'vitest';
import { dockerignore, followSource, matchSources, memoryContext, resolveInContext } from '../src/index.js';

const ctx = memoryContext({
  'a.txt': 'a',
  'b.txt': 'b',
  'c.md': 'c',
  '.hidden.txt': 'h',
  '[lit].txt': 'brackets',
  'star*.txt': 'star',
  'dir/x.txt': 'dx',
  'dir/y.go': 'dy',
  'dir/sub/z.txt': 'dz',
  'other/x.txt': 'ox',
  'ignored.txt': 'i',
  'ig/in.txt': 'i',
  linkdir: { linkname: 'dir' },
  'abs-linkdir': { linkname: '/dir/sub' },
  'out-link': { linkname: '../../etc' },
  'file-link': { linkname: 'a.txt' },
  'loop-a': { linkname: 'loop-b' },
  'loop-b': { linkname: 'loop-a' },
});
const ignore = dockerignore().add(['ignored.txt', 'ig']);
const match = async (pattern: string) => (await matchSources(ctx, pattern, { ignore })).map((e) => e.path);

describe('matchSources: COPY/ADD sources the way BuildKit resolves them', () => {
  it.each([
    ['*.txt', ['.hidden.txt', '[lit].txt', 'a.txt', 'b.txt', 'star*.txt']],
    ['a.txt', ['a.txt']],
    ['../a.txt', ['a.txt']],
    ['/a.txt', ['a.txt']],
    ['./dir/../a.txt', ['a.txt']],
    ['../../../dir/x.txt', ['dir/x.txt']],
    ['*/x.txt', ['dir/x.txt', 'other/x.txt']],
    ['dir/*', ['dir/sub', 'dir/x.txt', 'dir/y.go']],
    ['dir', ['dir']],
    ['dir/', ['dir']],
    ['.', ['.']],
    ['d?r/*.go', ['dir/y.go']],
    ['[ab].txt', ['a.txt', 'b.txt']],
    ['[^a].txt', ['b.txt']],
    ['[a-b].txt', ['a.txt', 'b.txt']],
    ['\\[lit\\].txt', ['[lit].txt']],
    ['star\\*.txt', ['star*.txt']],
    ['**/x.txt', ['dir/x.txt', 'other/x.txt']],
    ['*/sub/*.txt', ['dir/sub/z.txt']],
    ['linkdir/x.txt', ['dir/x.txt']],
    ['linkdir/*.go', ['dir/y.go']],
    ['abs-linkdir/z.txt', ['dir/sub/z.txt']],
    ['file-link', ['file-link']],
  ])('%s → %j', async (pattern, expected) => {
    expect(await match(pattern)).toEqual(expected);
  });

  it.each(['missing.txt', 'ignored.txt', 'ig/in.txt', 'ig', 'out-link/passwd', 'dir/x.txt/more'])(
    "%s is not found, with BuildKit's message",
    async (pattern) => {
      await expect(match(pattern)).rejects.toMatchObject({
        code: 'KILN_CONTEXT_NOT_FOUND',
        message: expect.stringMatching(/^"\/.*": not found$/),
      });
    },
  );

  it.each(['*.nope', 'ig/*', 'ignored*', 'missing/*.txt'])('%s matches nothing', async (pattern) => {
    await expect(match(pattern)).rejects.toMatchObject({
      code: 'KILN_CONTEXT_NO_SOURCES',
      message: expect.stringContaining('no source files were specified'),
    });
  });

  it.each(['[', 'a[', '[]a].txt'])('%s is a bad pattern', async (pattern) => {
    await expect(match(pattern)).rejects.toMatchObject({ code: 'KILN_CONTEXT_BAD_PATTERN' });
  });

  it('sees ignored files when no ignore is given', async () => {
    expect((await matchSources(ctx, 'ignored*')).map((e) => e.path)).toEqual(['ignored.txt']);
  });

  it('symlink loops are an error, not a hang', async () => {
    await expect(match('loop-a/x')).rejects.toMatchObject({ code: 'KILN_CONTEXT_NOT_FOUND' });
  });
});

describe('followSource', () => {
  it('gives the target of a symlinked source, and names where a dangling one led', async () => {
    const [fileLink] = await matchSources(ctx, 'file-link');
    expect(await followSource(ctx, fileLink!)).toMatchObject({ path: 'a.txt', type: 'file' });
    const [dir] = await matchSources(ctx, 'dir');
    expect(await followSource(ctx, dir!)).toBe(dir);
    const [out] = await matchSources(ctx, 'out-link');
    await expect(followSource(ctx, out!)).rejects.toMatchObject({
      code: 'KILN_CONTEXT_NOT_FOUND',
      message: '"/etc": not found',
    });
  });
});

describe('resolveInContext', () => {
  it('follows symlinks inside the context, chroot-style', async () => {
    expect(await resolveInContext(ctx, 'file-link')).toMatchObject({ path: 'a.txt', type: 'file' });
    expect(await resolveInContext(ctx, 'linkdir')).toMatchObject({ path: 'dir', type: 'dir' });
    expect(await resolveInContext(ctx, 'out-link')).toBeUndefined();
    expect(await resolveInContext(ctx, 'ignored.txt', { ignore })).toBeUndefined();
  });
});

describe('matchSources: BuildKit mode for empty wildcards', () => {
  it('returns nothing for a wildcard matching nothing, but still needs its literal directories', async () => {
    expect(await matchSources(ctx, '*.nope', { ignore, allowEmptyWildcard: true })).toEqual([]);
    expect(await matchSources(ctx, 'dir/*.nope', { ignore, allowEmptyWildcard: true })).toEqual([]);
    // an excluded directory is absent, like BuildKit's filtered context
    await expect(matchSources(ctx, 'ig/*', { ignore, allowEmptyWildcard: true })).rejects.toMatchObject({
      message: '"/ig": not found',
    });
    await expect(
      matchSources(ctx, 'missing/*.txt', { ignore, allowEmptyWildcard: true }),
    ).rejects.toMatchObject({
      code: 'KILN_CONTEXT_NOT_FOUND',
      message: '"/missing": not found',
    });
    await expect(
      matchSources(ctx, 'missing.txt', { ignore, allowEmptyWildcard: true }),
    ).rejects.toMatchObject({
      code: 'KILN_CONTEXT_NOT_FOUND',
    });
  });
});
