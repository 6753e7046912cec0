import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { uniqueRepo, useTmpContext } from '../build/helpers.js';
import { inspectImage } from '../lib/compare.js';
import { runKiln } from '../lib/kiln-cli.js';
import { testEnv } from '../lib/test-env.js';

/** Runs the built `kiln` CLI. */
const kiln = runKiln;

const errorLines = (stderr: string) => stderr.split('\n').filter((l) => l.startsWith('kiln: error:'));

describe('kiln build (the CLI)', () => {
  test('--help lists every kaniko flag kiln takes', async () => {
    const r = await kiln(['build', '--help']);
    expect(r.code).toBe(0);
    for (const flag of [
      '--dockerfile',
      '--context',
      '--destination',
      '--build-arg',
      '--target',
      '--label',
      '--no-push',
      '--tar-path',
      '--oci-layout-path',
      '--digest-file',
      '--image-name-with-digest-file',
      '--insecure',
      '--insecure-pull',
      '--insecure-registry',
      '--skip-tls-verify',
      '--registry-mirror',
      '--registry-map',
      '--registry-certificate',
      '--custom-platform',
      '--reproducible',
      '--verbosity',
      '--log-format',
      '--ignore-path',
    ])
      expect(r.stdout).toContain(flag);
    expect((await kiln(['--help'])).code).toBe(0);
  });

  test('builds and pushes with kaniko flags, writes the digest files, prints the digest', async () => {
    const env = testEnv();
    const ctx = await useTmpContext({
      'docker/Dockerfile': `ARG BASE\nFROM $BASE\nARG FROM_ENV\nLABEL from.env=$FROM_ENV\nCOPY app.txt /app.txt\n`,
      'app.txt': 'x\n',
    });
    const repo = `${env.registry}/${uniqueRepo('cli')}`;
    const r = await kiln(
      [
        'build',
        '-c',
        ctx,
        '-f',
        'docker/Dockerfile',
        '-d',
        `${repo}:a`,
        '--destination',
        `${repo}:b`,
        '--build-arg',
        `BASE=${env.images.busybox}`,
        '--build-arg',
        'FROM_ENV',
        '--label',
        'extra=1',
        '--insecure',
        '--digest-file',
        path.join(ctx, 'digest'),
        '--image-name-with-digest-file',
        path.join(ctx, 'names'),
        '--log-format',
        'json',
      ],
      { FROM_ENV: 'from-the-environment' },
    );
    expect(r.stderr).not.toContain('error');
    expect(r.code).toBe(0);
    const digest = r.stdout.trim();
    expect(digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(await readFile(path.join(ctx, 'digest'), 'utf8')).toBe(digest);
    expect((await readFile(path.join(ctx, 'names'), 'utf8')).trim().split('\n')).toEqual([
      `${repo}@${digest}`,
      `${repo}@${digest}`,
    ]);
    const img = await inspectImage(`docker://${repo}:b`);
    expect(img.digest).toBe(digest);
    expect(img.config.config?.Labels).toMatchObject({ 'from.env': 'from-the-environment', extra: '1' });
    // --log-format json: one event object per line.
    const events = r.stderr
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(events.map((e) => e.type)).toContain('instruction-end');
  });

  test('pushes to a TLS registry with credentials from the Docker config and a CA from --registry-certificate', async () => {
    const env = testEnv();
    const ctx = await useTmpContext({ Dockerfile: `FROM ${env.imagesTls.busybox}\nCOPY f /f\n`, f: 'f\n' });
    const dockerConfig = path.join(ctx, 'docker-config');
    await mkdir(dockerConfig, { recursive: true });
    const auth = Buffer.from(`${env.user}:${env.password}`).toString('base64');
    await writeFile(
      path.join(dockerConfig, 'config.json'),
      JSON.stringify({ auths: { [env.registryTls]: { auth } } }),
    );
    const dest = `${env.registryTls}/${uniqueRepo('cli-tls')}:1`;
    const r = await kiln(
      [
        'build',
        '-c',
        ctx,
        '-d',
        dest,
        '--registry-certificate',
        `${env.registryTls}=${env.caFile}`,
        '--log-format',
        'text',
        '--verbosity',
        'debug',
      ],
      { DOCKER_CONFIG: dockerConfig },
    );
    expect(errorLines(r.stderr)).toEqual([]);
    expect(r.code).toBe(0);
    // The credentials never reach the output.
    expect(r.stdout + r.stderr).not.toContain(env.password);
    expect(r.stdout + r.stderr).not.toContain(auth);
    const img = await inspectImage(`docker://${dest}`);
    expect(img.digest).toBe(r.stdout.trim());
  });
});

describe('bad input: a one-line error, a non-zero status, nothing pushed', () => {
  const cases: {
    name: string;
    files: Record<string, string>;
    args?: string[];
    code?: number;
    message: RegExp;
  }[] = [
    {
      name: 'unknown instruction',
      files: { Dockerfile: 'FROM scratch\nCOPPY a b\n' },
      message: /Dockerfile:2:1: .*COPPY.*(did you mean COPY)?/i,
    },
    { name: 'missing FROM', files: { Dockerfile: 'LABEL a=b\n' }, message: /FROM/ },
    {
      name: 'a missing context file',
      files: { Dockerfile: 'FROM scratch\nCOPY missing.txt /x\n' },
      message: /Dockerfile:2: .*missing\.txt.*not found/,
    },
    {
      name: 'an unknown stage',
      files: { Dockerfile: 'FROM scratch\nCOPY --from=nowhere /a /b\n' },
      message: /nowhere/,
    },
    {
      name: 'a stage that reads itself',
      files: { Dockerfile: 'FROM scratch AS a\nCOPY --from=a /x /y\n' },
      message: /\ba\b/,
    },
    {
      name: 'an unreachable registry',
      files: { Dockerfile: 'FROM 127.0.0.1:9/nothing:here\nLABEL a=b\n' },
      message: /127\.0\.0\.1:9/,
    },
    {
      name: 'a missing base image',
      files: { Dockerfile: 'FROM @REG@/no/such-image:1\n' },
      message: /Dockerfile:1: .*no\/such-image.*404/,
    },
    {
      name: 'a RUN whose command cannot run (no shell in scratch)',
      files: { Dockerfile: 'FROM scratch\nLABEL a=b\nRUN true\n' },
      message: /Dockerfile:3: .*\/bin\/sh/,
    },
    {
      name: 'an invalid destination',
      files: { Dockerfile: 'FROM scratch\nLABEL a=b\n' },
      args: ['-d', 'UPPER/Case:x'],
      message: /UPPER\/Case/,
    },
    { name: 'a missing Dockerfile', files: { 'other.txt': 'x' }, message: /Dockerfile/ },
    {
      name: 'an unknown flag',
      files: { Dockerfile: 'FROM scratch\n' },
      args: ['--destinaton', 'x'],
      code: 2,
      message: /unknown flag --destinaton \(did you mean --destination\?\)/,
    },
    {
      name: 'an invalid --chown user',
      files: { Dockerfile: 'FROM scratch\nCOPY --chown=ghost f /f\n', f: 'x' },
      message: /ghost/,
    },
  ];
  test.each(cases)('$name', async ({ files, args, code, message }) => {
    const env = testEnv();
    const resolved = Object.fromEntries(
      Object.entries(files).map(([k, v]) => [k, v.replaceAll('@REG@', env.registry)]),
    );
    const ctx = await useTmpContext(resolved);
    const repo = uniqueRepo('bad');
    const r = await kiln([
      'build',
      '-c',
      ctx,
      ...(args ?? ['-d', `${env.registry}/${repo}:x`]),
      '--insecure',
      '--insecure-pull',
    ]);
    expect(r.code).toBe(code ?? 1);
    const lines = errorLines(r.stderr);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(message);
    expect(r.stdout).toBe('');
    const tags = await fetch(`http://${env.registry}/v2/${repo}/tags/list`);
    expect(tags.status).toBe(404);
  });

  test('wrong credentials: the registry says 401, the error names the registry, no password printed', async () => {
    const env = testEnv();
    const ctx = await useTmpContext({ Dockerfile: `FROM ${env.imagesTls.busybox}\nLABEL a=b\n` });
    const dockerConfig = path.join(ctx, 'dc');
    await mkdir(dockerConfig);
    await writeFile(
      path.join(dockerConfig, 'config.json'),
      JSON.stringify({
        auths: {
          [env.registryTls]: { auth: Buffer.from(`${env.user}:wrong-password-xyz`).toString('base64') },
        },
      }),
    );
    const repo = uniqueRepo('badcreds');
    const r = await kiln(
      [
        'build',
        '-c',
        ctx,
        '-d',
        `${env.registryTls}/${repo}:x`,
        '--registry-certificate',
        `${env.registryTls}=${env.caFile}`,
      ],
      { DOCKER_CONFIG: dockerConfig },
    );
    expect(r.code).toBe(1);
    const lines = errorLines(r.stderr);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/401|unauthori[sz]ed|authentication/i);
    expect(r.stderr).not.toContain('wrong-password-xyz');
  });
});
