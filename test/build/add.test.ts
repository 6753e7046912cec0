import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { build } from '@kiln/core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { umociUnpack } from '../lib/compare.js';
import { testEnv } from '../lib/test-env.js';
import { listRootfs } from '../lib/unpack.js';
import { freePort } from '../setup/distribution.js';
import { useTmpContext } from './helpers.js';

async function rootfsOf(layout: string) {
  const u = await umociUnpack(`oci:${layout}:t`);
  try {
    return await listRootfs(u.rootfs);
  } finally {
    await u.cleanup();
  }
}

describe('ADD', () => {
  let daemon: ChildProcess | undefined;
  let gitUrl = '';
  beforeAll(async () => {
    // A repository served by `git daemon` on loopback: ADD git://… clones it like BuildKit does.
    const env = testEnv();
    const base = path.join(env.stateDir, 'git-serve');
    const work = path.join(base, 'work');
    await mkdir(path.join(work, 'src'), { recursive: true });
    await writeFile(path.join(work, 'README'), 'readme\n');
    await writeFile(path.join(work, 'src', 'main.c'), 'int main(){}\n');
    const git = (cwd: string, ...args: string[]) => execFileSync('git', args, { cwd, stdio: 'pipe' });
    git(work, 'init', '-q', '-b', 'main');
    git(work, '-c', 'user.email=t@t', '-c', 'user.name=t', 'add', '.');
    git(work, '-c', 'user.email=t@t', '-c', 'user.name=t', 'commit', '-q', '-m', 'one');
    git(work, 'tag', 'v1');
    git(base, 'clone', '-q', '--bare', work, 'repo.git');
    const port = await freePort();
    daemon = spawn(
      'git',
      [
        'daemon',
        '--reuseaddr',
        '--export-all',
        `--base-path=${base}`,
        '--listen=127.0.0.1',
        `--port=${port}`,
        base,
      ],
      { stdio: 'ignore' },
    );
    gitUrl = `git://127.0.0.1:${port}/repo.git`;
    for (let i = 0; i < 50; i++) {
      try {
        execFileSync('git', ['ls-remote', gitUrl], { stdio: 'pipe' });
        return;
      } catch {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    throw new Error('git daemon did not start');
  });
  afterAll(() => {
    daemon?.kill();
  });

  test('of a git repository copies its files at the ref, without .git unless --keep-git-dir', async () => {
    const ctx = await useTmpContext({
      Dockerfile: `FROM scratch\nADD ${gitUrl}#v1 /src/\nADD --keep-git-dir=true ${gitUrl}#main /with-git/\n`,
    });
    await build({ context: ctx, destinations: [`oci:${path.join(ctx, 'out')}:t`] });
    const tree = await rootfsOf(path.join(ctx, 'out'));
    const paths = tree.map((e) => e.path);
    expect(paths).toEqual(
      expect.arrayContaining(['src/README', 'src/src/main.c', 'with-git/README', 'with-git/.git']),
    );
    expect(paths.some((p) => p.startsWith('src/.git'))).toBe(false);
    expect(tree.find((e) => e.path === 'src/README')).toMatchObject({ uid: 0, gid: 0 });
  });

  test('of local archives (gzip, bzip2, xz, plain) unpacks them, keeping the archive owners', async () => {
    const env = testEnv();
    const ctx = await useTmpContext({ 'pkg/bin/tool': '#!/bin/sh\n', 'pkg/README': 'r\n' });
    const tar = (out: string, ...flags: string[]) =>
      execFileSync('tar', [
        '-C',
        ctx,
        '--owner=1000',
        '--group=1000',
        '--numeric-owner',
        ...flags,
        '-cf',
        path.join(ctx, out),
        'pkg',
      ]);
    tar('a.tar.gz', '-z');
    tar('a.tar.bz2', '-j');
    tar('a.tar.xz', '-J');
    tar('a.tar');
    await writeFile(
      path.join(ctx, 'Dockerfile'),
      `FROM scratch\nADD a.tar.gz /gz/\nADD a.tar.bz2 /bz2/\nADD a.tar.xz /xz/\nADD a.tar /plain/\nADD --chown=7:7 a.tar.gz /chowned/\n`,
    );
    await build({
      context: ctx,
      destinations: [`oci:${path.join(ctx, 'out')}:t`],
      cacheDir: path.join(env.stateDir, 'kiln-cache'),
    });
    const tree = await rootfsOf(path.join(ctx, 'out'));
    for (const d of ['gz', 'bz2', 'xz', 'plain'])
      expect(tree.find((e) => e.path === `${d}/pkg/bin/tool`)).toMatchObject({ uid: 1000, gid: 1000 });
    expect(tree.find((e) => e.path === 'chowned/pkg/README')).toMatchObject({ uid: 7, gid: 7 });
  });

  test('of a URL downloads the file (0600, root, Last-Modified as its time), checked against --checksum', async () => {
    const body = 'remote file body\n';
    const digest = `sha256:${createHash('sha256').update(body).digest('hex')}`;
    const server = http.createServer((req, res) => {
      if (req.url === '/moved') {
        res.writeHead(302, { location: '/files/data.txt' }).end();
        return;
      }
      if (req.url !== '/files/data.txt') {
        res.writeHead(404).end();
        return;
      }
      res
        .writeHead(200, {
          'last-modified': 'Wed, 01 Mar 2023 10:00:00 GMT',
          'content-type': 'application/octet-stream',
        })
        .end(body);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    try {
      const ctx = await useTmpContext({
        Dockerfile: `FROM scratch\nADD ${base}/files/data.txt /dl/\nADD --checksum=${digest} ${base}/moved /named.txt\n`,
      });
      await build({ context: ctx, destinations: [`oci:${path.join(ctx, 'out')}:t`] });
      const tree = await rootfsOf(path.join(ctx, 'out'));
      expect(tree.find((e) => e.path === 'dl/data.txt')).toMatchObject({
        type: 'f',
        mode: '0600',
        uid: 0,
        gid: 0,
        size: body.length,
      });
      expect(tree.find((e) => e.path === 'named.txt')).toMatchObject({
        type: 'f',
        mode: '0600',
        size: body.length,
      });
      const bad = await useTmpContext({
        Dockerfile: `FROM scratch\nADD --checksum=sha256:${'0'.repeat(64)} ${base}/files/data.txt /x\n`,
      });
      await expect(build({ context: bad, noPush: true })).rejects.toThrow(
        /Dockerfile:2: .*does not match --checksum/,
      );
      const missing = await useTmpContext({ Dockerfile: `FROM scratch\nADD ${base}/nope /x\n` });
      await expect(build({ context: missing, noPush: true })).rejects.toThrow(
        /Dockerfile:2: .*\/nope answered HTTP 404/,
      );
    } finally {
      server.close();
    }
  });
});
