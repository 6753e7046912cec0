import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { KilnRegistryBaseError } from '../errors.js';
import { type Credential, type CredentialProvider, normaliseRegistryKey } from './credentials.js';

/**
 * Credentials from the files Docker, podman, buildah and skopeo share:
 * - Docker's `config.json` (`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`):
 *   `auths` entries (`auth` = base64 `user:pass`, `username`/`password`, `identitytoken`,
 *   `registrytoken`), `credHelpers` (per registry) and `credsStore` (default helper);
 * - the containers `auth.json` (`$REGISTRY_AUTH_FILE`, else `$XDG_RUNTIME_DIR/containers/auth.json`),
 *   which has the same `auths` format.
 * Helpers are run as `docker-credential-<name> get` with the server URL on stdin, through an
 * injected {@link ExecFunction}, so tests never spawn them by accident.
 */

/** ExecResult: what a credential helper printed and how it exited. */
export interface ExecResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

/** ExecFunction: runs `command args…` with `stdin`, resolving (never rejecting) with its output. */
export type ExecFunction = (command: string, args: string[], stdin: string) => Promise<ExecResult>;

/** DockerConfigOptions: where to look and how to run helpers. */
export interface DockerConfigOptions {
  /** Environment to read `DOCKER_CONFIG`, `REGISTRY_AUTH_FILE`, `XDG_RUNTIME_DIR`, `HOME` from. Default `process.env`. */
  env?: Record<string, string | undefined>;
  /** Explicit Docker config.json path (overrides `DOCKER_CONFIG`). */
  configPath?: string;
  /** Explicit containers auth.json path (overrides `REGISTRY_AUTH_FILE`). */
  authFile?: string;
  /** Runs credential helpers. Default: {@link spawnExec}. */
  exec?: ExecFunction;
}

interface ConfigFile {
  auths?: Record<
    string,
    { auth?: string; username?: string; password?: string; identitytoken?: string; registrytoken?: string }
  >;
  credHelpers?: Record<string, string>;
  credsStore?: string;
}

async function readConfig(path: string): Promise<ConfigFile | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new KilnRegistryBaseError(
      'KILN_CREDENTIALS',
      `cannot read credentials file ${path}: ${(e as Error).message}`,
    );
  }
  try {
    return JSON.parse(text) as ConfigFile;
  } catch (e) {
    // The parser's message can quote file content (secrets): report position only.
    const pos = /position (\d+)/.exec((e as Error).message)?.[1];
    throw new KilnRegistryBaseError(
      'KILN_CREDENTIALS',
      `credentials file ${path} is not valid JSON${pos ? ` (at offset ${pos})` : ''}`,
    );
  }
}

function fromAuthEntry(
  entry: NonNullable<ConfigFile['auths']>[string],
  path: string,
  key: string,
): Credential | undefined {
  const c: Credential = {};
  if (entry.auth) {
    const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon === -1) {
      throw new KilnRegistryBaseError(
        'KILN_CREDENTIALS',
        `${path}: the "auth" value of auths[${JSON.stringify(key)}] is not base64 of user:password`,
      );
    }
    c.username = decoded.slice(0, colon);
    c.password = decoded.slice(colon + 1);
  }
  if (entry.username !== undefined) c.username = entry.username;
  if (entry.password !== undefined) c.password = entry.password;
  if (entry.identitytoken) c.identityToken = entry.identitytoken;
  if (entry.registrytoken) c.registryToken = entry.registrytoken;
  return c.username !== undefined || c.identityToken || c.registryToken ? c : undefined;
}

function findAuth(cfg: ConfigFile, registry: string, path: string): Credential | undefined {
  for (const [key, entry] of Object.entries(cfg.auths ?? {})) {
    if (normaliseRegistryKey(key) === registry && entry) {
      const c = fromAuthEntry(entry, path, key);
      if (c) return c;
    }
  }
  return undefined;
}

/** The server URL a helper is asked about: Docker Hub uses its legacy index URL, others the host. */
function helperServerUrl(registry: string): string {
  return registry === 'docker.io' ? 'https://index.docker.io/v1/' : registry;
}

async function runHelper(
  exec: ExecFunction,
  helper: string,
  registry: string,
): Promise<Credential | undefined> {
  const command = `docker-credential-${helper}`;
  if (!/^[\w.-]+$/.test(helper)) {
    throw new KilnRegistryBaseError(
      'KILN_CREDENTIALS',
      `credential helper name ${JSON.stringify(helper)} is not a plain name`,
    );
  }
  const res = await exec(command, ['get'], helperServerUrl(registry));
  if (res.exitCode !== 0) {
    // Helpers say "credentials not found in native keychain" when they have nothing: not an error.
    if (/not found/i.test(res.stdout + res.stderr)) return undefined;
    throw new KilnRegistryBaseError(
      'KILN_CREDENTIALS',
      `${command} get for ${registry} exited with status ${res.exitCode}`,
    );
  }
  let out: { Username?: string; Secret?: string };
  try {
    out = JSON.parse(res.stdout);
  } catch {
    throw new KilnRegistryBaseError('KILN_CREDENTIALS', `${command} get for ${registry} did not print JSON`);
  }
  if (!out.Secret) return undefined;
  // "<token>" as user name is the helpers' convention for an identity (refresh) token.
  if (out.Username === '<token>') return { identityToken: out.Secret };
  return { username: out.Username ?? '', password: out.Secret };
}

/** dockerConfigCredentials: a provider reading Docker's config.json (auths, credHelpers, credsStore). */
export function dockerConfigCredentials(opts: DockerConfigOptions = {}): CredentialProvider {
  const env = opts.env ?? process.env;
  const path =
    opts.configPath ?? join(env.DOCKER_CONFIG ?? join(env.HOME ?? homedir(), '.docker'), 'config.json');
  const exec = opts.exec ?? spawnExec;
  return async (registry) => {
    const cfg = await readConfig(path);
    if (!cfg) return undefined;
    const key = normaliseRegistryKey(registry);
    const helper = Object.entries(cfg.credHelpers ?? {}).find(([k]) => normaliseRegistryKey(k) === key)?.[1];
    if (helper) return runHelper(exec, helper, key);
    const direct = findAuth(cfg, key, path);
    if (direct) return direct;
    if (cfg.credsStore) return runHelper(exec, cfg.credsStore, key);
    return undefined;
  };
}

/** containersAuthCredentials: a provider reading the containers `auth.json` (`REGISTRY_AUTH_FILE`). */
export function containersAuthCredentials(opts: DockerConfigOptions = {}): CredentialProvider {
  const env = opts.env ?? process.env;
  const path =
    opts.authFile ??
    env.REGISTRY_AUTH_FILE ??
    (env.XDG_RUNTIME_DIR ? join(env.XDG_RUNTIME_DIR, 'containers', 'auth.json') : undefined);
  return async (registry) => {
    if (!path) return undefined;
    const cfg = await readConfig(path);
    return cfg ? findAuth(cfg, normaliseRegistryKey(registry), path) : undefined;
  };
}

/** spawnExec: the default {@link ExecFunction}, using `child_process.spawn` (no shell). */
export const spawnExec: ExecFunction = async (command, args, stdin) => {
  const { spawn } = await import('node:child_process');
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', (e) => resolve({ stdout, stderr: e.message, exitCode: 127 }));
    child.on('close', (code) => resolve({ stdout, stderr, exitCode: code ?? 1 }));
    child.stdin.end(stdin);
  });
};
