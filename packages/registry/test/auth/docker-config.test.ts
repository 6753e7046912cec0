import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  chainCredentials,
  containersAuthCredentials,
  dockerConfigCredentials,
  type ExecFunction,
  normaliseRegistryKey,
  parseChallenges,
  staticCredentials,
} from '../../src/index.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kiln-auth-'));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

const b64 = (s: string) => Buffer.from(s).toString('base64');
const noExec: ExecFunction = async () => {
  throw new Error('no helper expected');
};
async function config(obj: unknown, name = 'config.json') {
  await writeFile(join(dir, name), JSON.stringify(obj));
}

describe('Docker config.json credentials', () => {
  it('reads auths[*].auth (base64 user:password), with keys in URL or host form', async () => {
    await config({
      auths: {
        'https://reg.example.com/v1/': { auth: b64('u:p:with:colons') },
        'http://other:5000': { auth: b64('o:q') },
      },
    });
    const p = dockerConfigCredentials({ env: { DOCKER_CONFIG: dir }, exec: noExec });
    expect(await p('reg.example.com')).toEqual({ username: 'u', password: 'p:with:colons' });
    expect(await p('other:5000')).toEqual({ username: 'o', password: 'q' });
    expect(await p('unknown.example')).toBeUndefined();
  });

  it('reads username/password, identitytoken and registrytoken entries', async () => {
    await config({
      auths: {
        a: { username: 'x', password: 'y' },
        'b.io': { identitytoken: 'refresh' },
        'c.io': { registrytoken: 'bearer' },
      },
    });
    const p = dockerConfigCredentials({ env: { DOCKER_CONFIG: dir }, exec: noExec });
    expect(await p('a')).toEqual({ username: 'x', password: 'y' });
    expect(await p('b.io')).toEqual({ identityToken: 'refresh' });
    expect(await p('c.io')).toEqual({ registryToken: 'bearer' });
  });

  it('maps Docker Hub aliases to the legacy index key', async () => {
    await config({ auths: { 'https://index.docker.io/v1/': { auth: b64('hub:pw') } } });
    const p = dockerConfigCredentials({ env: { DOCKER_CONFIG: dir }, exec: noExec });
    for (const r of ['docker.io', 'index.docker.io', 'registry-1.docker.io'])
      expect(await p(r)).toEqual({ username: 'hub', password: 'pw' });
  });

  it('falls back to ~/.docker/config.json when DOCKER_CONFIG is unset', async () => {
    const home = join(dir, 'home');
    await (await import('node:fs/promises')).mkdir(join(home, '.docker'), { recursive: true });
    await writeFile(
      join(home, '.docker', 'config.json'),
      JSON.stringify({ auths: { 'h.io': { auth: b64('a:b') } } }),
    );
    expect(await dockerConfigCredentials({ env: { HOME: home }, exec: noExec })('h.io')).toEqual({
      username: 'a',
      password: 'b',
    });
  });

  it('runs credHelpers for their registry and credsStore for the rest, through the injected exec', async () => {
    await config({
      credHelpers: { 'gcr.io': 'gcloud' },
      credsStore: 'desktop',
      auths: { 'plain.io': { auth: b64('p:q') } },
    });
    const calls: string[] = [];
    const exec: ExecFunction = async (cmd, args, stdin) => {
      calls.push(`${cmd} ${args.join(' ')} ${stdin}`);
      if (cmd === 'docker-credential-gcloud')
        return { exitCode: 0, stderr: '', stdout: JSON.stringify({ Username: '<token>', Secret: 'idtok' }) };
      if (stdin === 'https://index.docker.io/v1/')
        return { exitCode: 0, stderr: '', stdout: JSON.stringify({ Username: 'me', Secret: 'pw' }) };
      return { exitCode: 1, stderr: '', stdout: 'credentials not found in native keychain' };
    };
    const p = dockerConfigCredentials({ env: { DOCKER_CONFIG: dir }, exec });
    expect(await p('gcr.io')).toEqual({ identityToken: 'idtok' });
    expect(await p('docker.io')).toEqual({ username: 'me', password: 'pw' });
    expect(await p('plain.io')).toEqual({ username: 'p', password: 'q' });
    expect(await p('nothing.io')).toBeUndefined();
    expect(calls).toEqual([
      'docker-credential-gcloud get gcr.io',
      'docker-credential-desktop get https://index.docker.io/v1/',
      'docker-credential-desktop get nothing.io',
    ]);
  });

  it('a failing helper is a KILN_CREDENTIALS error that does not quote its output', async () => {
    await config({ credsStore: 'broken' });
    const exec: ExecFunction = async () => ({ exitCode: 2, stderr: 'secret-ish output', stdout: '' });
    const err = await dockerConfigCredentials({ env: { DOCKER_CONFIG: dir }, exec })('x.io').catch((e) => e);
    expect(err.code).toBe('KILN_CREDENTIALS');
    expect(err.message).toContain('docker-credential-broken get for x.io exited with status 2');
    expect(err.message).not.toContain('secret-ish');
  });

  it('malformed JSON is reported with the file path and no content', async () => {
    await writeFile(join(dir, 'config.json'), '{"auths": {"a": {"auth": "c2VjcmV0"} ');
    const err = await dockerConfigCredentials({ env: { DOCKER_CONFIG: dir }, exec: noExec })('a').catch(
      (e) => e,
    );
    expect(err.code).toBe('KILN_CREDENTIALS');
    expect(err.message).toContain(join(dir, 'config.json'));
    expect(err.message).not.toContain('c2VjcmV0');
  });

  it('a missing file means no credentials, not an error', async () => {
    expect(
      await dockerConfigCredentials({ env: { DOCKER_CONFIG: join(dir, 'none') }, exec: noExec })('a'),
    ).toBeUndefined();
  });
});

describe('containers auth.json and precedence', () => {
  it('reads REGISTRY_AUTH_FILE, else $XDG_RUNTIME_DIR/containers/auth.json', async () => {
    await config({ auths: { 'q.io': { auth: b64('podman:pw') } } }, 'auth.json');
    expect(
      await containersAuthCredentials({ env: { REGISTRY_AUTH_FILE: join(dir, 'auth.json') } })('q.io'),
    ).toEqual({ username: 'podman', password: 'pw' });
    await (await import('node:fs/promises')).mkdir(join(dir, 'containers'));
    await writeFile(
      join(dir, 'containers', 'auth.json'),
      JSON.stringify({ auths: { 'q.io': { auth: b64('xdg:pw') } } }),
    );
    expect(await containersAuthCredentials({ env: { XDG_RUNTIME_DIR: dir } })('q.io')).toEqual({
      username: 'xdg',
      password: 'pw',
    });
  });

  it('programmatic credentials win over files; chains stop at the first answer', async () => {
    await config({ auths: { 'q.io': { auth: b64('file:pw') } } });
    const chain = chainCredentials(
      staticCredentials({ 'https://q.io/': { username: 'code', password: 'pw' } }),
      dockerConfigCredentials({ env: { DOCKER_CONFIG: dir }, exec: noExec }),
    );
    expect(await chain('q.io')).toEqual({ username: 'code', password: 'pw' });
    expect(normaliseRegistryKey('HTTPS://Q.IO:443/v2/')).toBe('q.io:443');
  });
});

describe('WWW-Authenticate parsing', () => {
  it.each([
    [
      'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"',
      [
        {
          scheme: 'bearer',
          params: {
            realm: 'https://auth.docker.io/token',
            service: 'registry.docker.io',
            scope: 'repository:library/busybox:pull',
          },
        },
      ],
    ],
    ['Basic realm="Registry Realm"', [{ scheme: 'basic', params: { realm: 'Registry Realm' } }]],
    [
      'Basic realm="a", Bearer realm="b",service=s',
      [
        { scheme: 'basic', params: { realm: 'a' } },
        { scheme: 'bearer', params: { realm: 'b', service: 's' } },
      ],
    ],
    [
      'bearer realm="x\\"y", error="insufficient_scope"',
      [{ scheme: 'bearer', params: { realm: 'x"y', error: 'insufficient_scope' } }],
    ],
    ['', []],
  ])('%s', (header, expected) => {
    expect(parseChallenges(header)).toEqual(expected);
  });
});
