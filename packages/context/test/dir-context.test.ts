import { execFileSync } from 'node:child_process';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ContextEntry, dirContext, dockerignore, type PathFilter } from '../src/index.js';
import { removeAll, writeTree } from './helpers/fixture-tree.js';

let root = '';
let outside = '';

beforeAll(async () => {
  outside = await writeTree({ 'secret.txt': { content: 'host secret' } });
  root = await writeTree({
    'a.txt': { content: 'a' },
    'node_modules/pkg/index.js': { content: 'x' },
    'node_modules/pkg/deep/more.js': { content: 'y' },
    'src/main.ts': { content: 'm' },
  });
  await symlink(outside, join(root, 'escape-dir'));
  await symlink(join(outside, 'secret.txt'), join(root, 'escape-file'));
  await mkdir(join(root, 'empty'));
  execFileSync('mkfifo', [join(root, 'pipe')]);
});

afterAll(() => removeAll([root, outside]));

async function paths(opts?: Parameters<ReturnType<typeof dirContext>['list']>[0]): Promise<string[]> {
  const out: string[] = [];
  for await (const e of dirContext(root).list(opts)) out.push(e.path);
  return out;
}

describe('dirContext: nothing outside the root is read', () => {
  it('reports symlinks out of the context as symlinks and never follows them', async () => {
    const ctx = dirContext(root);
    expect(await ctx.stat('escape-dir')).toMatchObject({ type: 'symlink', linkname: outside });
    await expect(ctx.open('escape-file')).rejects.toMatchObject({ code: 'KILN_CONTEXT_NOT_A_FILE' });
    expect(await ctx.stat('escape-dir/secret.txt')).toBeUndefined();
    await expect(ctx.open('escape-dir/secret.txt')).rejects.toMatchObject({ code: 'KILN_CONTEXT_NOT_FOUND' });
    await expect(ctx.readFile(`../${outside.split('/').pop()}/secret.txt`)).rejects.toMatchObject({
      code: 'KILN_CONTEXT_NOT_FOUND',
    });
  });

  it('does not descend into symlinked directories while listing', async () => {
    const all = await paths();
    expect(all).toContain('escape-dir');
    expect(all.some((p) => p.startsWith('escape-dir/'))).toBe(false);
  });

  it('skips FIFOs (and never opens them), lists empty directories', async () => {
    const all = await paths();
    expect(all).not.toContain('pipe');
    expect(all).toContain('empty');
    await expect(dirContext(root).open('pipe')).rejects.toMatchObject({ code: 'KILN_CONTEXT_NOT_A_FILE' });
  });

  it('names a missing root and a root that is a file', async () => {
    await expect(dirContext('/nonexistent/ctx').stat('.')).rejects.toMatchObject({
      code: 'KILN_CONTEXT_NOT_FOUND',
      message: expect.stringContaining('/nonexistent/ctx'),
    });
    await writeFile(join(outside, 'plain'), 'x');
    await expect(dirContext(join(outside, 'plain')).stat('.')).rejects.toMatchObject({
      code: 'KILN_CONTEXT_NOT_A_DIRECTORY',
    });
  });
});

describe('dirContext: .dockerignore during the walk', () => {
  it('skips an excluded directory without walking it when no exception can reach inside', async () => {
    const m = dockerignore().add(['node_modules']);
    const asked: string[] = [];
    const spy: PathFilter = {
      ignores: (p) => {
        asked.push(p);
        return m.ignores(p);
      },
      mayIncludeUnder: (d) => m.mayIncludeUnder(d),
    };
    const listed = await paths({ ignore: spy });
    expect(listed).not.toContain('node_modules');
    expect(asked.some((p) => p.startsWith('node_modules/'))).toBe(false);
  });

  it('walks an excluded directory an exception reaches, emitting only the needed parents', async () => {
    const listed = await paths({
      ignore: dockerignore().add(['node_modules', '!node_modules/pkg/deep/more.js']),
    });
    expect(listed.filter((p) => p.startsWith('node_modules'))).toEqual([
      'node_modules',
      'node_modules/pkg',
      'node_modules/pkg/deep',
      'node_modules/pkg/deep/more.js',
    ]);
  });

  it('honours `under` and ignores together', async () => {
    expect(
      await paths({ under: 'node_modules/pkg', ignore: dockerignore().add(['node_modules/pkg/deep']) }),
    ).toEqual(['node_modules/pkg/index.js']);
    expect(await paths({ under: 'a.txt' })).toEqual([]);
  });

  it('stops listing when its signal is aborted', async () => {
    const ac = new AbortController();
    const seen: string[] = [];
    const listing = (async () => {
      for await (const e of dirContext(root).list({ signal: ac.signal })) {
        seen.push(e.path);
        ac.abort();
      }
    })();
    await expect(listing).rejects.toMatchObject({ name: 'AbortError' });
    expect(seen).toHaveLength(1);
  });

  it('reports real metadata: mode bits, owner, mtime in ms, size', async () => {
    execFileSync('chmod', ['4755', join(root, 'a.txt')]);
    const e = (await dirContext(root).stat('a.txt')) as ContextEntry;
    expect(e).toMatchObject({ type: 'file', mode: 0o4755, size: 1, uid: process.getuid?.() });
    expect(Number.isInteger(e.mtime) && e.mtime > Date.parse('2020-01-01')).toBe(true);
  });
});
