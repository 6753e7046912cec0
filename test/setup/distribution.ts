import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, existsSync, openSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { execTool, TestHarnessError } from '../lib/exec.js';

/**
 * Path of the CNCF distribution registry binary (Debian package `docker-registry`).
 * `KILN_REGISTRY_BIN` overrides it.
 */
const REGISTRY_BIN = process.env.KILN_REGISTRY_BIN ?? '/usr/bin/docker-registry';

const SETPRIV = '/usr/bin/setpriv';

/** Token-auth settings of a registry (distribution's `auth.token` section). @public */
export interface TokenAuthOptions {
  /** URL of the token server the registry sends clients to in `WWW-Authenticate`. */
  realm: string;
  /** `service` the registry expects in tokens (its `aud`). */
  service: string;
  /** `iss` the registry expects in tokens. */
  issuer: string;
  /** PEM file holding the certificate(s) whose keys sign the tokens. */
  rootCertBundle: string;
}

/** Options of {@link startRegistry}. Auth kinds are exclusive. @public */
export interface StartRegistryOptions {
  /** Serve HTTPS with a fresh self-signed CA (server cert for IP:127.0.0.1 and DNS:localhost). */
  tls?: boolean;
  /** Require HTTP basic auth against a bcrypt htpasswd file holding this one user. */
  htpasswd?: { user: string; password: string };
  /** Require bearer tokens (distribution's token auth). */
  tokenAuth?: TokenAuthOptions;
  /**
   * Run as a pull-through cache (mirror) of another registry: pulls of missing content are
   * fetched from `remoteUrl` (e.g. the plain test registry's `url`) and stored; pushes are
   * refused (distribution answers 405 UNSUPPORTED).
   */
  proxy?: { remoteUrl: string; username?: string; password?: string };
  /** Maintenance read-only mode: reads work, every write answers 405 (for error-path tests). */
  readOnly?: boolean;
  /** Where the state dir is created. Default: the OS temp dir. */
  parentDir?: string;
  /** How long to wait for GET /v2/ to answer, in ms. Default 15 s (it usually takes ~0.1 s). */
  readyTimeoutMs?: number;
}

/** A running registry started by {@link startRegistry}. @public */
export interface RunningRegistry {
  /** `127.0.0.1:PORT`, the form used in image references. */
  host: string;
  /** `http://127.0.0.1:PORT` or `https://127.0.0.1:PORT`. */
  url: string;
  /** PEM file of the CA that signed the server cert (TLS only). */
  caFile?: string;
  /** Contents of {@link RunningRegistry.caFile} (TLS only). */
  caPem?: string;
  /**
   * A directory laid out like `/etc/containers/certs.d/HOST/` (holds `ca.crt`), for
   * skopeo/buildah `--cert-dir` (TLS only).
   */
  certDir?: string;
  /** The state dir (config.yml, storage/, registry.log, certs). Removed by `stop()`. */
  stateDir: string;
  /** PID of the registry process. */
  pid: number;
  /** Stops the registry process (SIGTERM, then SIGKILL after 5 s) and deletes the state dir. */
  stop(): Promise<void>;
}

/**
 * startRegistry: starts the real distribution registry on 127.0.0.1 with a free random
 * port and a fresh temp state dir, waits until `GET /v2/` answers (200 without auth,
 * 401 with auth), and returns its address. Costs ~0.1 s plain, ~0.5 s with TLS (RSA keys).
 * Throws `KILN_TEST_REGISTRY_START` with the tail of the registry log when it does not
 * come up. Retries a few times when the chosen port was taken in between.
 * @public
 */
export async function startRegistry(opts: StartRegistryOptions = {}): Promise<RunningRegistry> {
  if (opts.htpasswd && opts.tokenAuth) {
    throw new TestHarnessError(
      'KILN_TEST_REGISTRY_OPTIONS',
      'startRegistry: htpasswd and tokenAuth exclude each other',
    );
  }
  if (!existsSync(REGISTRY_BIN)) {
    throw new TestHarnessError(
      'KILN_TEST_TOOL_MISSING',
      `${REGISTRY_BIN} not found: install the Debian package docker-registry (scripts/install-test-deps.sh)`,
    );
  }
  const stateDir = await mkdtemp(join(opts.parentDir ?? tmpdir(), 'kiln-registry-'));
  try {
    const tls = opts.tls ? await makeServerCertificate(join(stateDir, 'tls')) : undefined;
    let htpasswdFile: string | undefined;
    if (opts.htpasswd) {
      htpasswdFile = join(stateDir, 'htpasswd');
      // distribution accepts only bcrypt entries (-B); -n prints instead of writing a file.
      const { stdout } = await execTool('htpasswd', ['-Bbn', opts.htpasswd.user, opts.htpasswd.password]);
      await writeFile(htpasswdFile, stdout.trim() + '\n', { mode: 0o600 });
    }
    let lastError: unknown;
    for (let attempt = 0; attempt < 4; attempt++) {
      const port = await freePort();
      const host = `127.0.0.1:${port}`;
      const configFile = join(stateDir, 'config.yml');
      await writeFile(
        configFile,
        registryConfig({
          stateDir,
          host,
          tls,
          htpasswdFile,
          tokenAuth: opts.tokenAuth,
          proxy: opts.proxy,
          readOnly: !!opts.readOnly,
        }),
      );
      const child = spawnRegistry(configFile, join(stateDir, 'registry.log'));
      const url = `${tls ? 'https' : 'http'}://${host}`;
      const expected = opts.htpasswd || opts.tokenAuth ? 401 : 200;
      try {
        await waitForV2(url, expected, child, tls?.caPem, opts.readyTimeoutMs ?? 15_000);
      } catch (e) {
        lastError = e;
        await killChild(child);
        const log = await readFile(join(stateDir, 'registry.log'), 'utf8').catch(() => '');
        if (/address already in use/.test(log)) continue;
        const tail = log.trim().split('\n').slice(-10).join('\n');
        throw new TestHarnessError(
          'KILN_TEST_REGISTRY_START',
          `registry at ${url} did not come up: ${(e as Error).message}\n${tail}`,
          { cause: e },
        );
      }
      let stopped: Promise<void> | undefined;
      const pid = child.pid ?? -1;
      return {
        host,
        url,
        caFile: tls?.caFile,
        caPem: tls?.caPem,
        certDir: tls ? await makeCertDir(stateDir, host, tls.caPem) : undefined,
        stateDir,
        pid,
        stop: () => {
          stopped ??= killChild(child).then(() => rm(stateDir, { recursive: true, force: true }));
          return stopped;
        },
      };
    }
    throw new TestHarnessError(
      'KILN_TEST_REGISTRY_START',
      `no free port found for the registry: ${String(lastError)}`,
    );
  } catch (e) {
    await rm(stateDir, { recursive: true, force: true });
    throw e;
  }
}

/** freePort: a TCP port on 127.0.0.1 that was free a moment ago (the OS picks it). @internal */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

interface ServerCertificate {
  caFile: string;
  caPem: string;
  certFile: string;
  keyFile: string;
}

/**
 * Makes a throw-away CA and a server certificate for IP:127.0.0.1 and DNS:localhost in
 * `dir` with openssl. ECDSA P-256 keys: generated in milliseconds (RSA 2048 took ~0.2 s
 * each here) and accepted by Go, Node, curl and skopeo alike.
 */
async function makeServerCertificate(dir: string): Promise<ServerCertificate> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const f = (name: string) => join(dir, name);
  await execTool('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-sha256',
    '-days',
    '30',
    '-subj',
    '/CN=kiln test CA',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
    '-keyout',
    f('ca.key'),
    '-out',
    f('ca.crt'),
  ]);
  await execTool('openssl', [
    'req',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-sha256',
    '-subj',
    '/CN=127.0.0.1',
    '-keyout',
    f('server.key'),
    '-out',
    f('server.csr'),
  ]);
  await writeFile(
    f('server.ext'),
    [
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      'extendedKeyUsage=serverAuth',
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
      '',
    ].join('\n'),
  );
  await execTool('openssl', [
    'x509',
    '-req',
    '-sha256',
    '-days',
    '30',
    '-in',
    f('server.csr'),
    '-CA',
    f('ca.crt'),
    '-CAkey',
    f('ca.key'),
    '-CAcreateserial',
    '-extfile',
    f('server.ext'),
    '-out',
    f('server.crt'),
  ]);
  return {
    caFile: f('ca.crt'),
    caPem: await readFile(f('ca.crt'), 'utf8'),
    certFile: f('server.crt'),
    keyFile: f('server.key'),
  };
}

/** A `certs.d/HOST/ca.crt` tree, the layout containers-image tools read with `--cert-dir`. */
async function makeCertDir(stateDir: string, host: string, caPem: string): Promise<string> {
  const dir = join(stateDir, 'certs.d', host);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'ca.crt'), caPem);
  return dir;
}

interface ConfigInput {
  stateDir: string;
  host: string;
  tls: ServerCertificate | undefined;
  htpasswdFile: string | undefined;
  tokenAuth: TokenAuthOptions | undefined;
  proxy: StartRegistryOptions['proxy'];
  readOnly: boolean;
}

/**
 * distribution's config.yml (format: "version: 0.1"). Deletes are enabled so tests can
 * exercise DELETE; upload purging is off so it never races a slow test; the debug
 * server stays off (it would need a second port).
 */
function registryConfig(c: ConfigInput): string {
  const q = (s: string) => JSON.stringify(s); // JSON strings are valid YAML scalars
  const lines = [
    'version: 0.1',
    'log:',
    '  level: info',
    '  formatter: text',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${q(join(c.stateDir, 'storage'))}`,
    '  delete:',
    '    enabled: true',
    '  cache:',
    '    blobdescriptor: inmemory',
    '  maintenance:',
    '    uploadpurging:',
    '      enabled: false',
    '    readonly:',
    `      enabled: ${c.readOnly}`,
    'http:',
    `  addr: ${q(c.host)}`,
    `  secret: ${q(randomSecret())}`,
  ];
  if (c.tls) {
    lines.push('  tls:', `    certificate: ${q(c.tls.certFile)}`, `    key: ${q(c.tls.keyFile)}`);
  }
  if (c.htpasswdFile) {
    lines.push('auth:', '  htpasswd:', '    realm: kiln-test', `    path: ${q(c.htpasswdFile)}`);
  }
  if (c.tokenAuth) {
    lines.push(
      'auth:',
      '  token:',
      `    realm: ${q(c.tokenAuth.realm)}`,
      `    service: ${q(c.tokenAuth.service)}`,
      `    issuer: ${q(c.tokenAuth.issuer)}`,
      `    rootcertbundle: ${q(c.tokenAuth.rootCertBundle)}`,
    );
  }
  if (c.proxy) {
    lines.push('proxy:', `  remoteurl: ${q(c.proxy.remoteUrl)}`);
    if (c.proxy.username) lines.push(`  username: ${q(c.proxy.username)}`);
    if (c.proxy.password) lines.push(`  password: ${q(c.proxy.password)}`);
  }
  return lines.join('\n') + '\n';
}

function randomSecret(): string {
  return crypto.getRandomValues(new Uint8Array(16)).reduce((s, b) => s + b.toString(16).padStart(2, '0'), '');
}

/** Starts the registry with its output appended to `logFile`. */
function spawnRegistry(configFile: string, logFile: string): ChildProcess {
  // The log goes straight to a file (no pipes), so this process's event loop does not
  // depend on the child; stop() ends it explicitly. setpriv (util-linux) sets a parent-death
  // signal and execs the registry (same PID), so a test process that dies without stop()
  // does not leave its registry running.
  const argv = existsSync(SETPRIV)
    ? [SETPRIV, '--pdeathsig', 'TERM', '--', REGISTRY_BIN, 'serve', configFile]
    : [REGISTRY_BIN, 'serve', configFile];
  const fd = openSync(logFile, 'a');
  try {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', fd, fd] });
    child.unref();
    return child;
  } finally {
    closeSync(fd);
  }
}

/** Ends exactly this child: SIGTERM, SIGKILL after 5 s; resolves once it exited. */
function killChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const hard = setTimeout(() => child.kill('SIGKILL'), 5_000);
    child.once('exit', () => {
      clearTimeout(hard);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** Polls `GET url/v2/` until it answers `expected`; fails early when the child exits. */
async function waitForV2(
  url: string,
  expected: number,
  child: ChildProcess,
  caPem: string | undefined,
  timeoutMs: number,
): Promise<void> {
  const dispatcher = new Agent({ connect: caPem ? { ca: caPem } : {}, keepAliveTimeout: 10 });
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  try {
    while (Date.now() < deadline) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`registry exited (code ${child.exitCode}, signal ${child.signalCode})`);
      }
      try {
        const res = await request(`${url}/v2/`, { dispatcher, headersTimeout: 2_000, bodyTimeout: 2_000 });
        await res.body.dump();
        if (res.statusCode === expected) return;
        last = `GET ${url}/v2/ answered ${res.statusCode}, expected ${expected}`;
      } catch (e) {
        last = (e as Error).message;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`timed out after ${timeoutMs} ms: ${last}`);
  } finally {
    await dispatcher.close();
  }
}
