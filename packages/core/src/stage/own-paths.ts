import { existsSync } from 'node:fs';
import { lstat, open, readdir, readFile, readlink, realpath } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseImageStoreSpec } from '@kiln/registry';

/**
 * What an in-place build must leave alone on the machine's `/` (see {@link findOwnPaths}). Every path is
 * absolute; each is listed as given and as its real path (symlinks resolved), which the extractor writes to.
 */
export interface OwnPaths {
  /** kiln's own paths: never unpacked over, never deleted, left out of every snapshot, with all below them. */
  own: string[];
  /**
   * Files the running Node needs to start again (its binary, the shared libraries mapped into this process,
   * the dynamic loader and the symlinks leading to them): the wipe keeps them unless the image brings its own
   * file at the same path, which then replaces them (kiln keeps running from the old inode).
   */
  runtime: string[];
}

/** What {@link findOwnPaths} needs to know about the build. */
export interface OwnPathsInput {
  workDir: string;
  cacheDir: string;
  contextDir?: string;
  /** Image paths the build leaves out of snapshots (`--ignore-path`), absolute or relative to `/`. */
  ignorePaths?: string[];
  /** More host paths the caller needs after the build (digest files). */
  keepPaths?: string[];
  /** Destinations: `oci:` directories and `docker-archive:` files are kept. */
  destinations?: string[];
  /** Files read by RUN --mount=type=secret. */
  secretFiles?: string[];
  /** `build({ ssh })` sources: agent sockets or key files (`''`: `$SSH_AUTH_SOCK`, `~/` expanded). */
  sshSources?: string[];
  dockerConfigDir?: string;
  env?: NodeJS.ProcessEnv;
}

/** Kernel file systems and what a container runtime mounts per container; kept whether or not mounted. */
const ALWAYS = ['/proc', '/sys', '/dev'];
/** Files a RUN sees from the machine, as BuildKit's RUN sees the runtime's; kept when they exist. */
const RUNTIME_ETC = ['/etc/resolv.conf', '/etc/hosts', '/etc/hostname'];
/** Directories too general to be "the Node runtime's directory": the binary alone is kept there. */
const SHARED_PREFIXES = new Set(['/', '/usr', '/usr/local', '/opt', '/bin', '/sbin', '/lib', '/usr/lib']);

/**
 * findOwnPaths: the paths an in-place build must not touch — the work dir, the cache dir, the context dir,
 * `--ignore-path` paths, local destinations, secret files, SSH agent sockets and keys, the Docker and
 * containers credential files,
 * `/proc`, `/sys`, `/dev`, every mount point but `/` (from `/proc/self/mountinfo`), kiln's installation (the
 * directories of its packages and of the main script, and every `node_modules` directory Node resolves
 * their imports from) and the Node runtime's own directory when it has one — and the runtime files that
 * live in shared system directories ({@link OwnPaths.runtime}).
 */
export async function findOwnPaths(input: OwnPathsInput): Promise<OwnPaths> {
  const env = input.env ?? process.env;
  const home = env.HOME ?? os.homedir();
  const wanted = [
    ...ALWAYS,
    input.workDir,
    input.cacheDir,
    ...(input.contextDir ? [input.contextDir] : []),
    ...(input.ignorePaths ?? []).map((p) => path.posix.resolve('/', p)),
    ...(input.keepPaths ?? []).map((p) => path.resolve(p)),
    ...localOutputs(input.destinations ?? []),
    ...(input.secretFiles ?? []).map((p) => path.resolve(p)),
    ...(input.sshSources ?? [])
      .map((p) => (p === '' ? (env.SSH_AUTH_SOCK ?? '') : p.replace(/^~(?=$|\/)/, home)))
      .filter(Boolean),
    input.dockerConfigDir ?? env.DOCKER_CONFIG ?? path.join(home, '.docker'),
    ...(env.REGISTRY_AUTH_FILE ? [env.REGISTRY_AUTH_FILE] : []),
    ...(env.XDG_RUNTIME_DIR ? [path.join(env.XDG_RUNTIME_DIR, 'containers')] : []),
    ...RUNTIME_ETC.filter((p) => existsSync(p)),
    ...parseMountInfo(await readFile('/proc/self/mountinfo', 'utf8').catch(() => '')),
    ...(await kilnInstallation()),
  ];
  const runtime = await runtimeFiles();
  const prefix = runtimePrefix(await realpath(process.execPath));
  if (prefix) wanted.push(prefix);
  // Each path as written and as the kernel resolves it: snapshots see the first (a symlink is an entry of its
  // own), the extractor writes to the second.
  const own = new Set<string>();
  for (const p of wanted) own.add(path.resolve(p)).add(await realPathLoose(path.resolve(p)));
  own.delete('/');
  return { own: [...own].sort(), runtime: runtime.filter((p) => !own.has(p)).sort() };
}

/** `oci:` directories and `docker-archive:` files among the destinations, absolute. */
function localOutputs(destinations: string[]): string[] {
  const out: string[] = [];
  for (const d of destinations) {
    if (!d.startsWith('oci:') && !d.startsWith('docker-archive:')) continue;
    const spec = parseImageStoreSpec(d);
    if (spec.kind === 'oci-layout') out.push(path.resolve(spec.dir));
    else if (spec.kind === 'docker-archive') out.push(path.resolve(spec.file));
  }
  return out;
}

/** Mount points listed in a `/proc/self/mountinfo` text, except `/` (octal escapes decoded). */
export function parseMountInfo(text: string): string[] {
  const points = new Set<string>();
  for (const line of text.split('\n')) {
    const field = line.split(' ')[4];
    if (!field) continue;
    const p = field.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)));
    if (p !== '/') points.add(p);
  }
  return [...points];
}

/**
 * The directory holding the Node runtime, when it has one of its own (`/kiln/node` for
 * `/kiln/node/bin/node`); undefined when the binary sits in a shared directory such as `/usr/bin`.
 */
export function runtimePrefix(execPath: string): string | undefined {
  const dir = path.dirname(execPath);
  const prefix = path.basename(dir) === 'bin' ? path.dirname(dir) : dir;
  return SHARED_PREFIXES.has(prefix) || SHARED_PREFIXES.has(dir) ? undefined : prefix;
}

/** The package directory (nearest ancestor with a package.json) of a file, if any below `/`. */
function packageRoot(file: string): string | undefined {
  for (let dir = path.dirname(file); dir !== path.dirname(dir); dir = path.dirname(dir))
    if (existsSync(path.join(dir, 'package.json'))) return dir;
  return undefined;
}

/**
 * kiln's installation: the package directories of @kiln/core, of the kiln packages it imports and of the main
 * script (the CLI, or the program embedding kiln), each with every `node_modules` directory above it (where
 * Node looks for their dependencies), as real paths.
 */
export async function kilnInstallation(): Promise<string[]> {
  const files = [fileURLToPath(import.meta.url)];
  for (const name of ['@kiln/context', '@kiln/dockerfile', '@kiln/registry', '@kiln/snapshot']) {
    try {
      files.push(fileURLToPath(import.meta.resolve(name)));
    } catch {
      // Not resolvable from here (a bundled copy): the directories found so far stand for it.
    }
  }
  if (process.argv[1]) files.push(path.resolve(process.argv[1]));
  const out = new Set<string>();
  for (const f of files) {
    const real = await realpath(f).catch(() => f);
    const root = packageRoot(real);
    if (!root) {
      out.add(real);
      continue;
    }
    out.add(root);
    for (let dir = root; ; dir = path.dirname(dir)) {
      const nm = path.join(dir, 'node_modules');
      if (existsSync(nm)) out.add(await realpath(nm));
      if (dir === path.dirname(dir)) break;
    }
  }
  return [...out];
}

/**
 * The files the Node runtime needs to start again: its binary and every file mapped into this process (shared
 * libraries, the loader), each with the symlinks met on the way to it, plus the ELF interpreter path the
 * binary names (`/lib64/ld-linux-x86-64.so.2`) and the symlinks that lead from it to the loader.
 */
export async function runtimeFiles(): Promise<string[]> {
  const starts = new Set<string>([process.execPath]);
  const maps = await readFile('/proc/self/maps', 'utf8').catch(() => '');
  for (const line of maps.split('\n')) {
    const i = line.indexOf(' /');
    if (i < 0) continue;
    const file = line.slice(i + 1).trim();
    if (file.endsWith(' (deleted)') || /^\/(dev|proc|sys|memfd:)/.test(file)) continue;
    starts.add(file);
  }
  const interp = await elfInterpreterOf(process.execPath);
  if (interp) starts.add(interp);
  const out = new Set<string>();
  for (const s of starts) for (const p of await symlinkChain(s)) out.add(p);
  // The loader finds a library by its soname (libstdc++.so.6), often a symlink next to the file mapped.
  const found = new Set(out);
  for (const dir of new Set([...found].map((p) => path.dirname(p)))) {
    for (const name of await readdir(dir).catch(() => [])) {
      const p = path.join(dir, name);
      if (found.has(p) || !(await lstat(p).catch(() => undefined))?.isSymbolicLink()) continue;
      if (found.has(await realpath(p).catch(() => ''))) out.add(p);
    }
  }
  return [...out];
}

async function elfInterpreterOf(file: string): Promise<string | undefined> {
  const fh = await open(file, 'r').catch(() => undefined);
  if (!fh) return undefined;
  try {
    const buf = Buffer.alloc(8192);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    return elfInterpreter(buf.subarray(0, bytesRead));
  } finally {
    await fh.close();
  }
}

/**
 * The program interpreter (PT_INTERP) named by a 64-bit little-endian ELF file's first bytes, or undefined
 * (not such an ELF file, statically linked, or the program headers lie beyond `head`).
 */
export function elfInterpreter(head: Buffer): string | undefined {
  if (head.length < 64 || head.readUInt32BE(0) !== 0x7f454c46 || head[4] !== 2 || head[5] !== 1)
    return undefined;
  const phoff = Number(head.readBigUInt64LE(32));
  const phentsize = head.readUInt16LE(54);
  const phnum = head.readUInt16LE(56);
  for (let i = 0; i < phnum; i++) {
    const at = phoff + i * phentsize;
    if (at + 40 > head.length) return undefined;
    if (head.readUInt32LE(at) !== 3) continue;
    const offset = Number(head.readBigUInt64LE(at + 8));
    const size = Number(head.readBigUInt64LE(at + 32));
    if (offset + size > head.length) return undefined;
    return head
      .subarray(offset, offset + size)
      .toString('latin1')
      .replace(/\0.*$/s, '');
  }
  return undefined;
}

/**
 * Every path met while resolving `p` the way the kernel does: each symlink (as itself) and the final real
 * path. A missing component ends the chain with the path as far as it resolved.
 */
export async function symlinkChain(p: string): Promise<string[]> {
  const out: string[] = [];
  let queue = path.resolve(p).split('/').filter(Boolean);
  let cur = '/';
  for (let links = 0; queue.length > 0; ) {
    const part = queue.shift()!;
    if (part === '.') continue;
    if (part === '..') {
      cur = path.dirname(cur);
      continue;
    }
    const next = path.join(cur, part);
    const st = await lstat(next).catch(() => undefined);
    if (!st) {
      out.push(path.join(next, ...queue));
      return out;
    }
    if (st.isSymbolicLink() && links++ < 40) {
      out.push(next);
      const target = await readlink(next);
      queue = [...target.split('/').filter(Boolean), ...queue];
      if (target.startsWith('/')) cur = '/';
      continue;
    }
    cur = next;
  }
  out.push(cur);
  return out;
}

/** The real path of `p`, or of its deepest existing ancestor joined with the rest when it does not exist. */
export async function realPathLoose(p: string): Promise<string> {
  const rest: string[] = [];
  for (let cur = p; ; cur = path.dirname(cur)) {
    const real = await realpath(cur).catch(() => undefined);
    if (real !== undefined) return path.join(real, ...rest.reverse());
    if (cur === path.dirname(cur)) return p;
    rest.push(path.basename(cur));
  }
}
