import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { type ContextEntry, type ContextSource, tarContext } from '../src/index.js';
import { craftTar } from './helpers/craft-tar.js';
import { removeAll, writeTree } from './helpers/fixture-tree.js';

async function listing(source: ContextSource): Promise<ContextEntry[]> {
  const out: ContextEntry[] = [];
  for await (const e of source.list()) out.push(e);
  return out;
}

describe('tarContext: hostile and unusual archives', () => {
  it.each(['../evil', 'a/../../evil', './../evil', '/../../evil'])(
    'resolves member %s inside the root, as chroot would (and as Docker does)',
    async (name) => {
      const ctx = await tarContext(
        await craftTar([
          { name: 'ok', content: 'x' },
          { name, content: 'boom' },
        ]),
      );
      expect((await listing(ctx)).map((e) => e.path)).toEqual(['evil', 'ok']);
      expect((await ctx.readFile('evil')).toString()).toBe('boom');
    },
  );

  it('a hard link climbing out of the root resolves inside it too', async () => {
    const ctx = await tarContext(
      await craftTar([
        { name: 'etc/passwd', content: 'ctx' },
        { name: 'x', type: 'link', linkname: '../../etc/passwd' },
      ]),
    );
    expect((await ctx.readFile('x')).toString()).toBe('ctx');
  });

  it('cleans absolute and ./ member names into the root', async () => {
    const ctx = await tarContext(
      await craftTar([
        { name: '/abs/file', content: 'a' },
        { name: './rel/../x', content: 'b' },
      ]),
    );
    expect((await listing(ctx)).map((e) => e.path)).toEqual(['abs', 'abs/file', 'x']);
    expect((await ctx.readFile('abs/file')).toString()).toBe('a');
  });

  it('implies missing parent directories as 0755 root-owned', async () => {
    const ctx = await tarContext(await craftTar([{ name: 'a/b/c.txt', content: 'c', uid: 1000, gid: 1000 }]));
    const entries = await listing(ctx);
    expect(entries.map((e) => [e.path, e.type, e.mode.toString(8), e.uid])).toEqual([
      ['a', 'dir', '755', 0],
      ['a/b', 'dir', '755', 0],
      ['a/b/c.txt', 'file', '644', 1000],
    ]);
  });

  it('keeps setuid, setgid and sticky bits, owners and mtimes from headers', async () => {
    const mtime = new Date('2020-01-02T03:04:05Z');
    const ctx = await tarContext(
      await craftTar([
        { name: 'suid', content: '#!', mode: 0o4755, uid: 12, gid: 34, mtime },
        { name: 'tmp', type: 'directory', mode: 0o1777 },
        { name: 'sgid', content: '', mode: 0o2750 },
      ]),
    );
    expect(await ctx.stat('suid')).toEqual({
      path: 'suid',
      type: 'file',
      mode: 0o4755,
      size: 2,
      mtime: mtime.getTime(),
      uid: 12,
      gid: 34,
    });
    expect((await ctx.stat('tmp'))?.mode).toBe(0o1777);
    expect((await ctx.stat('sgid'))?.mode).toBe(0o2750);
  });

  it('turns hard links into files sharing the target content; a dangling one is an error', async () => {
    const ctx = await tarContext(
      await craftTar([
        { name: 'orig', content: 'shared' },
        { name: 'dup', type: 'link', linkname: 'orig' },
      ]),
    );
    expect(await ctx.stat('dup')).toMatchObject({ type: 'file', size: 6 });
    expect((await ctx.readFile('dup')).toString()).toBe('shared');
    // one inode: the link's mode applies to every name (observed: Docker extracts it so)
    const modes = await tarContext(
      await craftTar([
        { name: 'suid', content: 'x', mode: 0o4755 },
        { name: 'dup', type: 'link', linkname: 'suid', mode: 0o644 },
        { name: 'dup2', type: 'link', linkname: 'dup', mode: 0o600 },
      ]),
    );
    expect([
      (await modes.stat('suid'))?.mode,
      (await modes.stat('dup'))?.mode,
      (await modes.stat('dup2'))?.mode,
    ]).toEqual([0o600, 0o600, 0o600]);
    await expect(
      tarContext(await craftTar([{ name: 'dup', type: 'link', linkname: 'nowhere' }])),
    ).rejects.toMatchObject({
      code: 'KILN_CONTEXT_TAR_INVALID',
    });
  });

  it('lets a later member replace an earlier one, and a directory replace a file', async () => {
    const ctx = await tarContext(
      await craftTar([
        { name: 'f', content: 'first' },
        { name: 'f', content: 'second' },
        { name: 'd', content: 'file' },
        { name: 'd/x', content: 'inside' },
      ]),
    );
    expect((await ctx.readFile('f')).toString()).toBe('second');
    expect((await listing(ctx)).map((e) => `${e.path}:${e.type}`)).toEqual(['d:dir', 'd/x:file', 'f:file']);
  });

  it('skips devices and FIFOs, keeps symlink targets verbatim, with the 0777 mode Linux gives links', async () => {
    const ctx = await tarContext(
      await craftTar([
        { name: 'fifo', type: 'fifo' },
        { name: 'link', type: 'symlink', linkname: '/etc/shadow' },
      ]),
    );
    expect(await listing(ctx)).toEqual([
      {
        path: 'link',
        type: 'symlink',
        mode: 0o777,
        size: 0,
        mtime: 0,
        uid: 0,
        gid: 0,
        linkname: '/etc/shadow',
      },
    ]);
  });

  it.each(['gnu', 'pax', 'ustar'])('reads long names written by GNU tar --format=%s', async (format) => {
    const dir = await writeTree({ [`${'d'.repeat(90)}/${'f'.repeat(60)}.txt`]: { content: 'deep' } });
    try {
      const tar = execFileSync('tar', ['-C', dir, `--format=${format}`, '-cf', '-', '.']);
      const ctx = await tarContext(tar);
      expect((await ctx.readFile(`${'d'.repeat(90)}/${'f'.repeat(60)}.txt`)).toString()).toBe('deep');
    } finally {
      await removeAll([dir]);
    }
  });

  it('reads long (PAX) names', async () => {
    const long = `${'d'.repeat(120)}/${'f'.repeat(150)}.txt`;
    const ctx = await tarContext(await craftTar([{ name: long, content: 'long' }]));
    expect((await ctx.readFile(long)).toString()).toBe('long');
  });

  it('reports a truncated archive, garbage and a corrupt bzip2 stream with a stable code', async () => {
    const tar = await craftTar([{ name: 'a', content: 'x'.repeat(5000) }]);
    await expect(tarContext(tar.subarray(0, 1024), { label: 'cut.tar' })).rejects.toMatchObject({
      code: 'KILN_CONTEXT_TAR_INVALID',
      message: expect.stringContaining('cut.tar'),
    });
    await expect(
      tarContext(Buffer.from('this is not a tar archive at all'.repeat(40))),
    ).rejects.toMatchObject({
      code: 'KILN_CONTEXT_TAR_INVALID',
    });
    const bz = execFileSync('bzip2', ['-c'], { input: tar });
    bz.fill(0x41, 20, 60);
    await expect(tarContext(bz, { label: 'bad.tar.bz2' })).rejects.toMatchObject({
      code: 'KILN_CONTEXT_TAR_INVALID',
      message: expect.stringMatching(/bzip2 -dc failed on bad\.tar\.bz2/),
    });
  });

  it('names a missing archive file', async () => {
    await expect(tarContext('/nonexistent/ctx.tar')).rejects.toMatchObject({
      code: 'KILN_CONTEXT_NOT_FOUND',
      message: expect.stringContaining('/nonexistent/ctx.tar'),
    });
  });

  it('refuses use after close', async () => {
    const ctx = await tarContext(await craftTar([{ name: 'a', content: 'x' }]));
    await ctx.close?.();
    await expect(ctx.readFile('a')).rejects.toMatchObject({ code: 'KILN_CONTEXT_CLOSED' });
  });
});
