import { Writable } from 'node:stream';
import type { BuildOptions, BuildResult } from '@kiln/core';
import { describe, expect, test } from 'vitest';
import { BUILD_FLAGS, main, optionsFromFlags, parseArgs, UsageError } from '../src/index.js';

function sink() {
  let text = '';
  const stream = new Writable({
    write(chunk, _e, cb) {
      text += chunk;
      cb();
    },
  });
  return { stream, text: () => text };
}

const fakeResult = (digest: string): BuildResult => ({
  digest,
  configDigest: digest,
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  manifest: Buffer.from('{}'),
  size: 0,
  destinations: [],
  layers: [],
  stages: [],
  instructions: [],
  warnings: [],
  durationMs: 1,
});

async function run(argv: string[], env: Record<string, string> = {}) {
  const out = sink();
  const err = sink();
  let options: BuildOptions | undefined;
  const code = await main(argv, {
    stdout: out.stream,
    stderr: err.stream,
    env,
    build: async (o) => {
      options = o;
      return fakeResult(`sha256:${'a'.repeat(64)}`);
    },
  });
  return { code, stdout: out.text(), stderr: err.text(), options };
}

describe('parseArgs reads flags the way kaniko (pflag) does', () => {
  test.each([
    [['--destination', 'a', '-d', 'b', '--destination=c'], { destination: ['a', 'b', 'c'] }],
    [['--no-push'], { 'no-push': true }],
    [['--no-push=false'], { 'no-push': false }],
    [['--reproducible=true'], { reproducible: true }],
    [['-f', 'x/Dockerfile', '--context=dir://.'], { dockerfile: 'x/Dockerfile', context: 'dir://.' }],
    [['--customPlatform', 'linux/arm64'], { 'custom-platform': 'linux/arm64' }],
    [['--tarPath', 'a.tar'], { 'tar-path': 'a.tar' }],
  ])('%j', (argv, want) => {
    expect(parseArgs(argv, BUILD_FLAGS).values).toEqual(want);
  });
  test('unknown flags get a suggestion', () => {
    expect(() => parseArgs(['--build-args', 'x'], BUILD_FLAGS)).toThrow(
      /unknown flag --build-args \(did you mean --build-arg\?\)/,
    );
  });
  test('a value flag without a value is an error', () => {
    expect(() => parseArgs(['--target'], BUILD_FLAGS)).toThrow(UsageError);
  });
  test('a boolean with a non-boolean value is an error', () => {
    expect(() => parseArgs(['--insecure=yes'], BUILD_FLAGS)).toThrow(/true or false/);
  });
});

describe('kiln build flags become build() options', () => {
  test('build args: K=V, and a bare K from the environment (skipped when unset)', async () => {
    const { options } = await run(
      [
        'build',
        '--no-push',
        '--build-arg',
        'A=1',
        '--build-arg',
        'B',
        '--build-arg',
        'C',
        '--build-arg',
        'D=x=y',
      ],
      { B: 'from-env' },
    );
    expect(options?.buildArgs).toEqual({ A: '1', B: 'from-env', D: 'x=y' });
  });
  test('--tar-path and --oci-layout-path become destinations, tagged with the registry destinations', async () => {
    const { options } = await run([
      'build',
      '-d',
      'reg.example/app:1',
      '--tar-path',
      'out.tar',
      '--oci-layout-path',
      'layout',
    ]);
    expect(options?.destinations).toEqual([
      'reg.example/app:1',
      'docker-archive:out.tar:reg.example/app:1',
      'oci:layout',
    ]);
  });
  test('--no-push with --tar-path still writes the tarball but pushes nowhere', async () => {
    const { options } = await run(['build', '--no-push', '-d', 'reg.example/app:1', '--tar-path', 'out.tar']);
    expect(options?.destinations).toEqual(['docker-archive:out.tar:reg.example/app:1']);
    expect(options?.noPush).toBe(false);
  });
  test('KANIKO_NO_PUSH is honoured', async () => {
    const { options } = await run(['build', '-d', 'reg.example/app:1'], { KANIKO_NO_PUSH: 'true' });
    expect(options?.noPush).toBe(true);
    expect(options?.destinations).toEqual([]);
  });
  test('registry flags: insecure push hosts, pull-side switches, maps and mirrors', async () => {
    const { options } = await run([
      'build',
      '-d',
      'r1:5000/a',
      '--insecure',
      '--insecure-pull',
      '--skip-tls-verify-pull',
      '--insecure-registry',
      'r2',
      '--skip-tls-verify-registry',
      'r3',
      '--registry-mirror',
      'mirror.local',
      '--registry-map',
      'index.docker.io=m1;quay.io=m2',
      '--registry-map',
      'index.docker.io=m3',
      '--push-retry',
      '2',
    ]);
    expect(options?.registry).toEqual({
      insecureRegistries: ['r2', 'r1:5000'],
      skipTlsVerifyRegistries: ['r3'],
      insecurePull: true,
      skipTlsVerifyPull: true,
      mirrors: ['mirror.local'],
      registryMap: { 'index.docker.io': ['m1', 'm3'], 'quay.io': ['m2'] },
      pushRetries: 2,
    });
  });
  test('labels, target, platform, context sub-path, reproducible', async () => {
    const { options } = await run([
      'build',
      '--no-push',
      '--label',
      'a=b',
      '--target',
      't',
      '--custom-platform',
      'linux/arm64',
      '--context-sub-path',
      'sub',
      '--reproducible',
      '-c',
      'ctx',
    ]);
    expect(options).toMatchObject({
      labels: { a: 'b' },
      target: 't',
      platform: 'linux/arm64',
      contextSubPath: 'sub',
      reproducible: true,
      context: 'ctx',
    });
  });
  test("--ssh in BuildKit's spelling: ID=SOCKET, ID=KEY,KEY, or ID alone for $SSH_AUTH_SOCK", async () => {
    const { options } = await run(
      [
        'build',
        '--no-push',
        '--ssh',
        'default',
        '--ssh',
        'git=/keys/a,/keys/b',
        '--ssh',
        'ci=/run/agent.sock',
      ],
      { SSH_AUTH_SOCK: '/tmp/agent.1' },
    );
    expect(options?.ssh).toEqual({
      default: '/tmp/agent.1',
      git: ['/keys/a', '/keys/b'],
      ci: '/run/agent.sock',
    });
    const missing = await run(['build', '--no-push', '--ssh', 'default']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/SSH_AUTH_SOCK is not set/);
  });
  test('no destination at all is a usage error (status 2), as in kaniko', async () => {
    const r = await run(['build']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^kiln: error: no --destination given/);
  });
  test('flags kiln accepts but does not act on say so', async () => {
    const r = await run(['build', '--no-push', '--cache=true', '--snapshot-mode=redo']);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/--cache: the layer cache is not implemented yet/);
    expect(r.stderr).toMatch(/--snapshot-mode: kiln picks its snapshot method itself/);
  });
  test('the digest goes to stdout, nothing else', async () => {
    const r = await run(['build', '--no-push', '--log-format', 'text']);
    expect(r.stdout).toBe(`sha256:${'a'.repeat(64)}\n`);
  });
  test('a build failure is one line on stderr and status 1', async () => {
    const out = sink();
    const err = sink();
    const code = await main(['build', '--no-push'], {
      stdout: out.stream,
      stderr: err.stream,
      env: {},
      build: async () => {
        throw new Error('first line\nsecond line');
      },
    });
    expect(code).toBe(1);
    expect(err.text()).toBe('kiln: error: first line\n');
  });
  test("optionsFromFlags defaults the context to kaniko's /workspace/", async () => {
    const o = await optionsFromFlags({ 'no-push': true }, [], {
      stdout: process.stdout,
      stderr: process.stderr,
      env: {},
    });
    expect(o.context).toBe('/workspace/');
  });
});
