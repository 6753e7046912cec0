import { mkdtemp, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { loadDockerignore, memoryContext, subContext, tarContext } from '../src/index.js';
import { craftTar } from './helpers/craft-tar.js';
import { removeAll } from './helpers/fixture-tree.js';

const temps: string[] = [];
afterAll(() => removeAll(temps));
const tempDir = async () => {
  const d = await mkdtemp(join(tmpdir(), 'kiln-ctx-life-'));
  temps.push(d);
  return d;
};

describe('temporary files', () => {
  it('a tar context spools big content under tmpDir and removes it on close', async () => {
    const tmp = await tempDir();
    const ctx = await tarContext(await craftTar([{ name: 'big', content: 'x'.repeat(400_000) }]), {
      tmpDir: tmp,
    });
    expect(await readdir(tmp)).toHaveLength(1);
    expect((await ctx.readFile('big')).length).toBe(400_000);
    await ctx.close?.();
    await ctx.close?.(); // idempotent
    expect(await readdir(tmp)).toEqual([]);
  });

  it('a tar context that fails while reading leaves nothing behind', async () => {
    const tmp = await tempDir();
    const tar = await craftTar([
      { name: 'big', content: 'y'.repeat(400_000) },
      { name: 'dup', type: 'link', linkname: 'nowhere' },
    ]);
    await expect(tarContext(tar, { tmpDir: tmp })).rejects.toMatchObject({
      code: 'KILN_CONTEXT_TAR_INVALID',
    });
    expect(await readdir(tmp)).toEqual([]);
  });

  it('aborting stops reading a tar stream that never ends', async () => {
    const input = new PassThrough();
    const ac = new AbortController();
    const pending = tarContext(input, { signal: ac.signal });
    input.write(
      (
        await craftTar([
          { name: 'a', content: 'a' },
          { name: 'b', content: 'b' },
        ])
      ).subarray(0, 1536),
    );
    await new Promise((r) => setTimeout(r, 50));
    ac.abort();
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
    expect(input.destroyed).toBe(true);
  });

  it('closing a sub-context closes the source it narrows', async () => {
    const tmp = await tempDir();
    const tar = await tarContext(await craftTar([{ name: 'sub/big', content: 'x'.repeat(400_000) }]), {
      tmpDir: tmp,
    });
    const sub = await subContext(tar, 'sub');
    expect((await sub.readFile('big')).length).toBe(400_000);
    await sub.close?.();
    expect(await readdir(tmp)).toEqual([]);
  });
});

describe('memoryContext input checks', () => {
  it('refuses a key that climbs out of the root', () => {
    expect(() => memoryContext({ '../x': 'x' })).toThrowError(
      expect.objectContaining({ code: 'KILN_CONTEXT_UNSAFE_PATH' }),
    );
  });
  it('takes Date mtimes, directory keys and defaults', async () => {
    const ctx = memoryContext({ 'd/': {}, f: { content: 'x', mtime: new Date(5000) } });
    expect(await ctx.stat('d')).toEqual({
      path: 'd',
      type: 'dir',
      mode: 0o755,
      size: 0,
      mtime: 0,
      uid: 0,
      gid: 0,
    });
    expect(await ctx.stat('f')).toMatchObject({ mtime: 5000, mode: 0o644, size: 1 });
  });
});

describe('loadDockerignore with a Dockerfile outside the context', () => {
  it('reads <Dockerfile>.dockerignore next to an absolute Dockerfile path on the host', async () => {
    const host = await tempDir();
    await writeFile(join(host, 'Dockerfile'), 'FROM scratch\n');
    await writeFile(join(host, 'Dockerfile.dockerignore'), 'secret\n');
    const ctx = memoryContext({ '.dockerignore': 'other\n', secret: 's' });
    const m = await loadDockerignore(ctx, join(host, 'Dockerfile'));
    expect([m.file, m.patterns]).toEqual([join(host, 'Dockerfile.dockerignore'), ['secret']]);
    const fallback = await loadDockerignore(ctx, join(host, 'Other.Dockerfile'));
    expect(fallback.patterns).toEqual(['other']);
  });
});

describe('content isolation', () => {
  it('a caller writing into a readFile buffer does not change the context', async () => {
    const mem = memoryContext({ f: 'abc' });
    const tar = await tarContext(await craftTar([{ name: 'f', content: 'abc' }]));
    for (const ctx of [mem, tar]) {
      (await ctx.readFile('f')).fill(0x7a);
      expect((await ctx.readFile('f')).toString()).toBe('abc');
    }
    await tar.close?.();
  });
});
