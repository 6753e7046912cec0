import { chmod, link, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { afterAll, describe, expect, it } from 'vitest';
import { inspectImage } from './lib/compare.js';
import { execTool } from './lib/exec.js';
import { formatEntry, listRootfs } from './lib/unpack.js';
import { seedBaseImages } from './setup/base-images.js';
import { debianMirror, fromDeb822, fromOneLine } from './setup/debian-mirror.js';
import { type RunningRegistry, startRegistry } from './setup/distribution.js';
import { processAlive } from './setup/state-dir.js';

const started: RunningRegistry[] = [];
afterAll(async () => {
  await Promise.all(started.map((r) => r.stop()));
});

async function statusOf(url: string, opts: { ca?: string; auth?: string } = {}): Promise<number> {
  const dispatcher = new Agent({ connect: opts.ca ? { ca: opts.ca } : {} });
  try {
    const res = await request(`${url}/v2/`, {
      dispatcher,
      headers: opts.auth ? { authorization: `Basic ${Buffer.from(opts.auth).toString('base64')}` } : {},
    });
    await res.body.dump();
    return res.statusCode;
  } finally {
    await dispatcher.close();
  }
}

describe('startRegistry', () => {
  it('starts a plain-HTTP registry on a random loopback port that answers /v2/ with 200, and stops it', async () => {
    const reg = await startRegistry();
    started.push(reg);
    expect(reg.host).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(reg.url).toBe(`http://${reg.host}`);
    expect(reg.caFile).toBeUndefined();
    expect(await statusOf(reg.url)).toBe(200);
    // The PID is the registry itself (setpriv execs it), so stop() signals the right process.
    expect(await readFile(`/proc/${reg.pid}/cmdline`, 'utf8')).toContain('docker-registry\0serve');
    await reg.stop();
    await expect(statusOf(reg.url)).rejects.toThrow();
    expect(() => process.kill(reg.pid, 0)).toThrow();
  });

  it('starts a TLS + bcrypt htpasswd registry: 401 anonymous, 200 with the password, 401 with a wrong one', async () => {
    const reg = await startRegistry({ tls: true, htpasswd: { user: 'kiln', password: 's3cret' } });
    started.push(reg);
    expect(reg.url).toBe(`https://${reg.host}`);
    const ca = await readFile(reg.caFile!, 'utf8');
    expect(ca).toBe(reg.caPem);
    expect(await readFile(`${reg.certDir}/ca.crt`, 'utf8')).toBe(ca);
    expect(await statusOf(reg.url, { ca })).toBe(401);
    expect(await statusOf(reg.url, { ca, auth: 'kiln:s3cret' })).toBe(200);
    expect(await statusOf(reg.url, { ca, auth: 'kiln:wrong' })).toBe(401);
    // The server cert is not trusted without the test CA.
    await expect(statusOf(reg.url)).rejects.toThrow();
    await reg.stop();
  });

  it('runs two registries side by side on different ports', async () => {
    const [a, b] = await Promise.all([startRegistry(), startRegistry()]);
    started.push(a!, b!);
    expect(a!.host).not.toBe(b!.host);
    expect(await statusOf(a!.url)).toBe(200);
    expect(await statusOf(b!.url)).toBe(200);
  });

  it('starts a token-auth registry whose 401 names the token realm and service', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kiln-token-'));
    try {
      await execTool('openssl', [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=kiln token signer',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
      ]);
      const realm = 'http://127.0.0.1:9/token';
      const reg = await startRegistry({
        tokenAuth: {
          realm,
          service: 'kiln-test',
          issuer: 'kiln-issuer',
          rootCertBundle: join(dir, 'cert.pem'),
        },
      });
      started.push(reg);
      const res = await request(`${reg.url}/v2/`);
      await res.body.dump();
      expect(res.statusCode).toBe(401);
      expect(String(res.headers['www-authenticate'])).toBe(`Bearer realm="${realm}",service="kiln-test"`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('serves as a read-only registry and as a pull-through mirror of another one', async () => {
    const origin = await startRegistry();
    started.push(origin);
    const seeded = await seedBaseImages(origin.host, { workDir: join(origin.stateDir, 'seed') });
    const [mirror, readOnly] = await Promise.all([
      startRegistry({ proxy: { remoteUrl: origin.url } }),
      startRegistry({ readOnly: true }),
    ]);
    started.push(mirror, readOnly);
    // The mirror serves what it never received a push of, with the origin's digest.
    const viaMirror = await inspectImage(`${mirror.host}/busybox:latest`);
    expect(viaMirror.digest).toBe(seeded.digests.busybox);
    const upload = async (host: string) => {
      const res = await request(`http://${host}/v2/x/blobs/uploads/`, { method: 'POST' });
      await res.body.dump();
      return res.statusCode;
    };
    expect(await upload(readOnly.host)).toBe(405);
    expect(await upload(mirror.host)).toBe(405);
    expect(await upload(origin.host)).toBe(202);
  });

  it('rejects htpasswd and tokenAuth together', async () => {
    await expect(
      startRegistry({
        htpasswd: { user: 'a', password: 'b' },
        tokenAuth: {
          realm: 'http://127.0.0.1:1/token',
          service: 's',
          issuer: 'i',
          rootCertBundle: '/nonexistent',
        },
      }),
    ).rejects.toMatchObject({ code: 'KILN_TEST_REGISTRY_OPTIONS' });
  });
});

describe('registry lifetime', () => {
  it('ends a registry whose starting process died without stop() (parent-death signal)', async () => {
    // A throw-away parent: setpriv execs the registry exactly as startRegistry does.
    const dir = await mkdtemp(join(tmpdir(), 'kiln-orphan-'));
    try {
      await writeFile(
        join(dir, 'config.yml'),
        'version: 0.1\nstorage:\n  inmemory: {}\nhttp:\n  addr: 127.0.0.1:0\n',
      );
      const script = `setpriv --pdeathsig TERM -- /usr/bin/docker-registry serve ${dir}/config.yml >/dev/null 2>&1 & echo $!; sleep 0.3`;
      const { stdout } = await execTool('bash', ['-c', script]);
      const pid = Number(stdout.trim());
      await new Promise((r) => setTimeout(r, 300));
      const alive = await processAlive(pid);
      if (alive) process.kill(pid, 'SIGKILL');
      expect(alive).toBe(false);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('debianMirror', () => {
  it('reads the deb URI of a suite from deb822 stanzas, skipping disabled and other-suite ones', () => {
    const text = [
      'Types: deb',
      'URIs: http://security.example/debian-security',
      'Suites: bookworm-security',
      '',
      'Types: deb deb-src',
      'URIs: http://off.example/debian',
      'Suites: bookworm',
      'Enabled: no',
      '',
      '# a comment',
      'Types: deb-src deb',
      'URIs: http://mirror.example/debian http://second.example/debian',
      'Suites: bookworm bookworm-updates',
      'Components: main',
    ].join('\n');
    expect(fromDeb822(text, 'bookworm')).toBe('http://mirror.example/debian');
    expect(fromDeb822(text, 'trixie')).toBeUndefined();
  });

  it('reads one-line sources with [options] and ignores deb-src and comments', () => {
    const text = [
      '# deb http://commented.example/debian bookworm main',
      'deb-src http://src.example/debian bookworm main',
      'deb [arch=amd64 signed-by=/k.gpg] http://mirror.example/debian bookworm main contrib',
    ].join('\n');
    expect(fromOneLine(text, 'bookworm')).toBe('http://mirror.example/debian');
    expect(fromOneLine(text, 'bullseye')).toBeUndefined();
  });

  it('finds a mirror in an apt dir and reports KILN_TEST_NO_MIRROR when none names the suite', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kiln-apt-'));
    try {
      await mkdir(join(dir, 'sources.list.d'));
      await writeFile(
        join(dir, 'sources.list.d', 'x.sources'),
        'Types: deb\nURIs: http://m.example/d\nSuites: bookworm\n',
      );
      const saved = process.env.KILN_DEBIAN_MIRROR;
      delete process.env.KILN_DEBIAN_MIRROR;
      try {
        expect(await debianMirror('bookworm', dir)).toBe('http://m.example/d');
        await expect(debianMirror('trixie', dir)).rejects.toMatchObject({ code: 'KILN_TEST_NO_MIRROR' });
      } finally {
        if (saved !== undefined) process.env.KILN_DEBIAN_MIRROR = saved;
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('listRootfs', () => {
  it('lists types, modes, owners, content hashes, symlink targets and hardlink groups', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kiln-list-'));
    try {
      await mkdir(join(dir, 'd'), { mode: 0o750 });
      await writeFile(join(dir, 'd/a'), 'hello\n');
      await link(join(dir, 'd/a'), join(dir, 'b'));
      await symlink('d/a', join(dir, 's'));
      await chmod(join(dir, 'd'), 0o2750);
      await chmod(join(dir, 'd/a'), 0o644);
      const o = `${process.getuid!()}:${process.getgid!()}`;
      const lines = (await listRootfs(dir)).map(formatEntry);
      const sha = '5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03';
      expect(lines).toEqual([
        `b\tf\t0644\t${o}\t6\t${sha}\t-`,
        `d\td\t2750\t${o}\t-\t-\t-`,
        `d/a\tf\t0644\t${o}\t6\t${sha}\t=> b`,
        `s\tl\t0777\t${o}\t-\t-\td/a`,
      ]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('scripts/install-test-deps.sh', () => {
  it('finds every test package installed and returns quickly', async () => {
    const r = await execTool('bash', [join(import.meta.dirname, '..', 'scripts', 'install-test-deps.sh')]);
    expect(r.stdout).toMatch(/^install-test-deps: all \d+ packages present$/m);
    expect(r.ms).toBeLessThan(2_000);
  });
});
