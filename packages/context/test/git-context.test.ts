import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ContextSource, gitContext, parseGitContextUrl } from '../src/index.js';
import { gitRepoOf, removeAll, writeTree } from './helpers/fixture-tree.js';
import { gitDaemon, gitHttp } from './helpers/serve.js';

const temps: string[] = [];
let base = '';
let firstCommit = '';
let secondCommit = '';
let daemon: Awaited<ReturnType<typeof gitDaemon>>;

const git = (repo: string, ...args: string[]) =>
  execFileSync('git', ['-c', 'user.name=kiln', '-c', 'user.email=kiln@example.invalid', ...args], {
    cwd: repo,
  })
    .toString()
    .trim();

beforeAll(async () => {
  base = await mkdtemp(join(tmpdir(), 'kiln-git-ctx-'));
  const tree = await writeTree({
    'README.md': { content: 'v1\n' },
    'app/main.txt': { content: 'main v1\n' },
  });
  temps.push(base, tree);
  const repo = join(base, 'repo.git');
  await mkdir(repo);
  gitRepoOf(tree, repo);
  firstCommit = git(repo, 'rev-parse', 'HEAD');
  await writeFile(join(repo, 'README.md'), 'v2\n');
  git(repo, 'commit', '-qam', 'second');
  secondCommit = git(repo, 'rev-parse', 'HEAD');
  git(repo, 'checkout', '-qb', 'feature');
  await writeFile(join(repo, 'README.md'), 'feature\n');
  git(repo, 'commit', '-qam', 'feature');
  git(repo, 'checkout', '-q', 'main');
  daemon = await gitDaemon(base);
}, 30_000);

afterAll(async () => {
  await daemon?.stop();
  await removeAll(temps);
});

async function readme(ctx: ContextSource): Promise<string> {
  try {
    return (await ctx.readFile('README.md')).toString();
  } finally {
    await ctx.close?.();
  }
}

describe('gitContext', () => {
  it('checks out the default branch, a branch, a tag and a commit id', async () => {
    const url = `file://${base}/repo.git`;
    expect(await readme(await gitContext(url))).toBe('v2\n');
    expect(await readme(await gitContext(`${url}#feature`))).toBe('feature\n');
    expect(await readme(await gitContext(`${url}#v1`))).toBe('v1\n');
    expect(await readme(await gitContext(`${url}#${firstCommit}`))).toBe('v1\n');
    // an abbreviated id cannot be fetched by name: kiln falls back to a full fetch
    expect(await readme(await gitContext(`${url}#${firstCommit.slice(0, 9)}`))).toBe('v1\n');
  });

  it("serves a sub-directory with Docker's #ref:dir form", async () => {
    const ctx = await gitContext(`file://${base}/repo.git#main:app`);
    const names: string[] = [];
    for await (const e of ctx.list()) names.push(e.path);
    expect(names).toEqual(['main.txt']);
    await ctx.close?.();
  });

  it("reads kaniko's git://host/repo.git#ref#commit over the git protocol", async () => {
    const url = `git://127.0.0.1:${daemon.port}/repo.git#refs/heads/main#${firstCommit}`;
    expect(await readme(await gitContext(url, { pullMethod: 'git' }))).toBe('v1\n');
    const head = `git://127.0.0.1:${daemon.port}/repo.git#refs/heads/main`;
    expect(await readme(await gitContext(head, { pullMethod: 'git' }))).toBe('v2\n');
  });

  it('removes .git and deletes the checkout on close', async () => {
    const tmp = await mkdtemp(join(tmpdir(), 'kiln-git-tmp-'));
    temps.push(tmp);
    const ctx = await gitContext(`file://${base}/repo.git#${secondCommit}`, { tmpDir: tmp });
    expect(await ctx.stat('.git')).toBeUndefined();
    expect(await readdir(tmp)).toHaveLength(1);
    await ctx.close?.();
    expect(await readdir(tmp)).toEqual([]);
  });

  it('fetches shallow (depth 1) and keeps .git only when asked', async () => {
    const ctx = await gitContext(`file://${base}/repo.git#main`, { keepGitDir: true });
    expect(await ctx.stat('.git/shallow')).toMatchObject({ type: 'file' });
    const shallowTips = (await ctx.readFile('.git/shallow')).toString().trim().split('\n');
    expect(shallowTips).toEqual([secondCommit]);
    await ctx.close?.();
  });

  it('fails clearly on a missing ref, a missing sub-directory and an unreachable remote', async () => {
    await expect(gitContext(`file://${base}/repo.git#no-such-branch`)).rejects.toMatchObject({
      code: 'KILN_CONTEXT_GIT_FAILED',
      message: expect.stringContaining('no-such-branch'),
    });
    await expect(gitContext(`file://${base}/repo.git#main:nope`)).rejects.toMatchObject({
      code: 'KILN_CONTEXT_NOT_A_DIRECTORY',
    });
    await expect(gitContext(`file://${base}/missing.git`)).rejects.toMatchObject({
      code: 'KILN_CONTEXT_GIT_FAILED',
    });
  });

  it('keeps credentials out of error messages', async () => {
    const err = await gitContext('https://user:s3cret@127.0.0.1:1/repo.git').catch((e: Error) => e);
    expect(err).toMatchObject({ code: 'KILN_CONTEXT_GIT_FAILED' });
    expect((err as Error).message).not.toContain('s3cret');
  });
});

describe('parseGitContextUrl', () => {
  it.each([
    ['https://github.com/org/repo.git', { remote: 'https://github.com/org/repo.git', subdir: '.' }],
    [
      'https://github.com/org/repo.git#v1.2:docs/site',
      { remote: 'https://github.com/org/repo.git', ref: 'v1.2', subdir: 'docs/site' },
    ],
    ['https://github.com/org/repo.git#:sub', { remote: 'https://github.com/org/repo.git', subdir: 'sub' }],
    ['git@github.com:org/repo.git#main', { remote: 'git@github.com:org/repo.git', ref: 'main', subdir: '.' }],
    ['ssh://git@host/org/repo.git', { remote: 'ssh://git@host/org/repo.git', subdir: '.' }],
    [
      'git://github.com/acme/proj.git#refs/heads/dev#0123abcd',
      { remote: 'https://github.com/acme/proj.git', ref: 'refs/heads/dev', commit: '0123abcd', subdir: '.' },
    ],
    ['git://github.com/acme/proj.git', { remote: 'https://github.com/acme/proj.git', subdir: '.' }],
    ['https://h/r.git#main:../../etc', { remote: 'https://h/r.git', ref: 'main', subdir: 'etc' }],
  ])('%s', (spec, expected) => {
    expect(parseGitContextUrl(spec)).toEqual(expected);
  });

  it('uses http or git:// for kaniko specs when asked (GIT_PULL_METHOD)', () => {
    expect(parseGitContextUrl('git://h/r.git', 'http').remote).toBe('http://h/r.git');
    expect(parseGitContextUrl('git://h/r.git', 'git').remote).toBe('git://h/r.git');
  });

  it.each([
    'https://h/r.git#--upload-pack=evil',
    'git://h/r.git#main#not-a-sha',
    '/local/path',
    '-oProxyCommand=x',
  ])('refuses %s', (spec) => {
    expect(() => parseGitContextUrl(spec)).toThrowError(
      expect.objectContaining({ code: 'KILN_CONTEXT_BAD_SPEC' }),
    );
  });
});

describe('gitContext with submodules', () => {
  it('checks submodules out (shallow), unless told not to', async () => {
    const subTree = await writeTree({ 'lib.txt': { content: 'from submodule\n' } });
    const topTree = await writeTree({ 'main.txt': { content: 'top\n' } });
    temps.push(subTree, topTree);
    const sub = join(base, 'sub.git');
    const top = join(base, 'top.git');
    await mkdir(sub);
    await mkdir(top);
    gitRepoOf(subTree, sub);
    gitRepoOf(topTree, top);
    // file:// submodules need protocol.file.allow since git 2.38.1; real ones are https or ssh
    const allowFile = {
      GIT_CONFIG_COUNT: '1',
      GIT_CONFIG_KEY_0: 'protocol.file.allow',
      GIT_CONFIG_VALUE_0: 'always',
    };
    execFileSync(
      'git',
      ['-c', 'protocol.file.allow=always', 'submodule', 'add', '-q', '../sub.git', 'vendor/sub'],
      { cwd: top },
    );
    git(top, 'commit', '-qm', 'add submodule');
    const ctx = await gitContext(`file://${top}#main`, { env: allowFile });
    expect((await ctx.readFile('vendor/sub/lib.txt')).toString()).toBe('from submodule\n');
    expect(await ctx.stat('vendor/sub/.git')).toBeUndefined();
    await ctx.close?.();
    const without = await gitContext(`file://${top}#main`, { env: allowFile, submodules: false });
    expect(await without.stat('vendor/sub/lib.txt')).toBeUndefined();
    await without.close?.();
  });
});

describe('gitContext over smart HTTP (git http-backend)', () => {
  it('clones shallow over http, and sends credentials only through the scoped header', async () => {
    const auth = { username: 'kiln', password: 'tok3n' };
    const server = await gitHttp(base, auth);
    try {
      const url = `${server.url}/repo.git#main`;
      const denied = await gitContext(url).catch((e: Error) => e);
      expect(denied).toMatchObject({ code: 'KILN_CONTEXT_GIT_FAILED' });
      const ctx = await gitContext(url, { auth, keepGitDir: true });
      expect((await ctx.readFile('README.md')).toString()).toBe('v2\n');
      expect(await ctx.stat('.git/shallow')).toMatchObject({ type: 'file' });
      expect((await ctx.readFile('.git/config')).toString()).not.toContain('tok3n');
      await ctx.close?.();
      expect(server.authorizations).toContain(`Basic ${Buffer.from('kiln:tok3n').toString('base64')}`);
    } finally {
      await server.close();
    }
  });

  it('refuses to send credentials to a non-http remote', async () => {
    await expect(
      gitContext(`file://${base}/repo.git`, { auth: { username: 'u', password: 'p' } }),
    ).rejects.toMatchObject({ code: 'KILN_CONTEXT_BAD_SPEC' });
  });
});
