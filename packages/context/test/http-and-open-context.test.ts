import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, readFile, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MockAgent } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ContextSource, httpContext, openContext } from '../src/index.js';
import { gitRepoOf, removeAll, tarOf, writeTree } from './helpers/fixture-tree.js';
import { gitDaemon, serveFiles } from './helpers/serve.js';

const temps: string[] = [];
let tree = '';
let tars = '';
let server: Awaited<ReturnType<typeof serveFiles>>;

beforeAll(async () => {
  tree = await writeTree({
    Dockerfile: { content: 'FROM scratch\n' },
    'sub/inner.txt': { content: 'inner\n' },
    'sub/deeper/x.txt': { content: 'x\n' },
  });
  await symlink('sub', join(tree, 'sub-link'));
  tars = await mkdtemp(join(tmpdir(), 'kiln-open-ctx-'));
  temps.push(tree, tars);
  tarOf(tree, join(tars, 'ctx.tar.gz'), 'gzip');
  server = await serveFiles({
    '/ctx.tar.gz': join(tars, 'ctx.tar.gz'),
    '/gone': { status: 404 },
    '/boom': { status: 500 },
    '/loop': { status: 302, location: '/loop' },
  });
});

afterAll(async () => {
  await server?.close();
  await removeAll(temps);
});

async function names(ctx: ContextSource): Promise<string[]> {
  const out: string[] = [];
  for await (const e of ctx.list()) out.push(e.path);
  await ctx.close?.();
  return out;
}

describe('httpContext', () => {
  it('downloads and reads a gzip tarball', async () => {
    expect(await names(await httpContext(`${server.url}/ctx.tar.gz`))).toContain('sub/deeper/x.txt');
  });

  it.each([
    ['/gone', 404],
    ['/boom', 500],
  ])('names the URL and status of a %s answer', async (path, status) => {
    await expect(httpContext(`${server.url}${path}`)).rejects.toMatchObject({
      code: 'KILN_CONTEXT_HTTP_STATUS',
      message: expect.stringContaining(`GET ${server.url}${path} answered HTTP ${status}`),
    });
  });

  it('gives up on a redirect loop with the last status', async () => {
    await expect(httpContext(`${server.url}/loop`, { maxRedirects: 3 })).rejects.toMatchObject({
      code: 'KILN_CONTEXT_HTTP_STATUS',
      message: expect.stringContaining('HTTP 302'),
    });
  });

  it('drops credentials when a redirect leaves the origin', async () => {
    const agent = new MockAgent();
    agent.disableNetConnect();
    const seen: (string | undefined)[] = [];
    const tarball = await readFile(join(tars, 'ctx.tar.gz'));
    const route = (origin: string, path: string, location: string) => {
      const pool = agent.get(origin);
      pool.intercept({ path }).reply(302, '', { headers: { location } });
      pool.intercept({ path: '/ctx.tar.gz' }).reply((req) => {
        const h = req.headers as Record<string, string>;
        seen.push(h.authorization ?? h.Authorization);
        return { statusCode: 200, data: tarball };
      });
    };
    route('https://a.example', '/ctx', 'https://b.example/ctx.tar.gz');
    agent
      .get('https://b.example')
      .intercept({ path: '/ctx.tar.gz' })
      .reply((req) => {
        seen.push((req.headers as Record<string, string>).authorization);
        return { statusCode: 200, data: tarball };
      });
    route('https://a.example', '/same', '/ctx.tar.gz');
    const headers = { authorization: 'Bearer x' };
    await (await httpContext('https://a.example/ctx', { dispatcher: agent, headers })).close?.();
    await (await httpContext('https://a.example/same', { dispatcher: agent, headers })).close?.();
    expect(seen).toEqual([undefined, 'Bearer x']);
    await agent.close();
  });

  it('reads a text/plain answer as a lone Dockerfile, like Docker', async () => {
    const agent = new MockAgent();
    agent.disableNetConnect();
    agent
      .get('https://files.example')
      .intercept({ path: '/Dockerfile' })
      .reply(200, 'FROM scratch\nLABEL a=b\n', { headers: { 'content-type': 'text/plain; charset=utf-8' } });
    const ctx = await httpContext('https://files.example/Dockerfile', { dispatcher: agent });
    expect(ctx.kind).toBe('http');
    expect(await names(ctx)).toEqual(['Dockerfile']);
    await agent.close();
  });

  it('goes through the injected dispatcher and keeps credentials out of messages', async () => {
    const agent = new MockAgent();
    agent.disableNetConnect();
    const pool = agent.get('https://contexts.example');
    pool.intercept({ path: '/ctx.tar.gz' }).reply(200, await readFile(join(tars, 'ctx.tar.gz')));
    pool.intercept({ path: '/private.tar' }).reply(403, 'denied');
    expect(
      await names(await httpContext('https://contexts.example/ctx.tar.gz', { dispatcher: agent })),
    ).toContain('Dockerfile');
    const err = await httpContext('https://me:t0ken@contexts.example/private.tar', {
      dispatcher: agent,
    }).catch((e: Error) => e);
    expect(err).toMatchObject({
      code: 'KILN_CONTEXT_HTTP_STATUS',
      message: expect.stringContaining('HTTP 403'),
    });
    expect((err as Error).message).not.toContain('t0ken');
    await agent.close();
  });
});

describe('openContext: kaniko-style specs', () => {
  it('opens a plain directory path, dir:// and a plain tar file path', async () => {
    expect((await openContext(tree)).kind).toBe('dir');
    expect((await openContext(`dir://${tree}`)).kind).toBe('dir');
    const fromFile = await openContext(join(tars, 'ctx.tar.gz'));
    expect(fromFile.kind).toBe('tar');
    await fromFile.close?.();
  });

  it('opens tar://path and tar://stdin from the given stream', async () => {
    expect(await names(await openContext(`tar://${join(tars, 'ctx.tar.gz')}`))).toContain('sub/inner.txt');
    const stdin = createReadStream(join(tars, 'ctx.tar.gz'));
    const ctx = await openContext('tar://stdin', { stdin });
    expect(ctx.kind).toBe('tar');
    expect(await names(ctx)).toContain('sub/inner.txt');
    const dash = await openContext('-', { stdin: createReadStream(join(tars, 'ctx.tar.gz')) });
    expect(await names(dash)).toContain('sub/inner.txt');
  });

  it('opens an http tarball and tells git URLs from tarball URLs', async () => {
    const ctx = await openContext(`${server.url}/ctx.tar.gz`);
    expect(ctx.kind).toBe('http');
    await ctx.close?.();
    await expect(openContext(`${server.url}/repo.git#main`)).rejects.toMatchObject({
      code: 'KILN_CONTEXT_GIT_FAILED',
    });
  });

  it('opens kaniko git:// specs (with contextSubPath) and reports unreachable remotes', async () => {
    const repo = join(tars, 'r.git');
    await mkdir(repo);
    gitRepoOf(tree, repo);
    const daemon = await gitDaemon(tars);
    try {
      const spec = `git://127.0.0.1:${daemon.port}/r.git#refs/heads/main`;
      const ctx = await openContext(spec, { git: { pullMethod: 'git' }, contextSubPath: 'sub' });
      expect(ctx.kind).toBe('git');
      expect(await names(ctx)).toEqual(['deeper', 'deeper/x.txt', 'inner.txt']);
    } finally {
      await daemon.stop();
    }
    const err = await openContext('git://127.0.0.1:1/none.git', { git: { pullMethod: 'http' } }).catch(
      (e) => e,
    );
    expect(err).toMatchObject({
      code: 'KILN_CONTEXT_GIT_FAILED',
      message: expect.stringContaining('127.0.0.1:1'),
    });
  });

  it("treats Docker's github.com/org/repo shorthand as a git repository over https", async () => {
    const err = await openContext('github.com/kiln-nonexistent/none', {
      git: { env: { GIT_ALLOW_PROTOCOL: 'file' } },
    }).catch((e: Error) => e);
    expect(err).toMatchObject({
      code: 'KILN_CONTEXT_GIT_FAILED',
      message: expect.stringContaining('https://github.com/'),
    });
  });

  it.each(['s3://bucket/ctx.tar.gz', 'gs://bucket/ctx.tar.gz', 'az://x/y'])('refuses %s', async (spec) => {
    await expect(openContext(spec)).rejects.toMatchObject({ code: 'KILN_CONTEXT_BAD_SPEC' });
  });

  it('applies contextSubPath to every kind', async () => {
    for (const spec of [tree, `tar://${join(tars, 'ctx.tar.gz')}`, `${server.url}/ctx.tar.gz`]) {
      const ctx = await openContext(spec, { contextSubPath: 'sub' });
      expect(await names(ctx)).toEqual(['deeper', 'deeper/x.txt', 'inner.txt']);
    }
  });

  it('keeps ../ inside the sub-path and refuses a sub-path that is a file, missing or a symlink', async () => {
    const ctx = await openContext(tree, { contextSubPath: 'sub' });
    expect((await ctx.readFile('../../inner.txt')).toString()).toBe('inner\n');
    expect(await ctx.stat('../Dockerfile')).toBeUndefined();
    await expect(openContext(tree, { contextSubPath: 'Dockerfile' })).rejects.toMatchObject({
      code: 'KILN_CONTEXT_NOT_A_DIRECTORY',
    });
    await expect(openContext(tree, { contextSubPath: 'nope' })).rejects.toMatchObject({
      code: 'KILN_CONTEXT_NOT_FOUND',
    });
    await expect(openContext(tree, { contextSubPath: 'sub-link' })).rejects.toMatchObject({
      code: 'KILN_CONTEXT_NOT_A_DIRECTORY',
    });
  });
});
