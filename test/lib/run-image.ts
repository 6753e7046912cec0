import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execTool } from './exec.js';
import type { RegistryAccess } from './image-ref.js';
import { umociUnpack } from './unpack.js';

/** Options of {@link runImage}. @public */
export interface RunImageOptions {
  /** Replaces the whole command (Entrypoint + Cmd) the image config gives. */
  args?: string[];
  /** Added to (or replacing same-named) variables of the image's Env. */
  env?: Record<string, string>;
  /** Bytes on the container's stdin. */
  input?: string;
  /** Kill after this many ms. Default 60 s. */
  timeoutMs?: number;
  access?: RegistryAccess;
}

/** What {@link runImage} saw. @public */
export interface RunImageResult {
  stdout: string;
  stderr: string;
  /** Exit code of the container's process. */
  code: number | null;
  /** The runtime spec umoci derived from the image config (process.args, env, cwd, user). */
  process: { args: string[]; env: string[]; cwd: string; user: { uid: number; gid: number } };
}

let counter = 0;

/**
 * runImage: runs an image the way a container runtime would: `umoci unpack` turns the
 * image config into an OCI runtime spec (Entrypoint + Cmd, Env, WorkingDir, and USER
 * resolved against the image's /etc/passwd and /etc/group), then `runc run` executes it in
 * fresh namespaces (no network but loopback) with runc state under the work dir. So it
 * checks what kiln wrote with independent readers. Needs root (runc; crun fails on this
 * kernel's hybrid cgroups). ~0.4 s for busybox plus the unpack. A non-zero exit of the
 * container's process is returned, not thrown.
 * @public
 */
export async function runImage(ref: string, opts: RunImageOptions = {}): Promise<RunImageResult> {
  const image = await umociUnpack(ref, { access: opts.access });
  try {
    const specFile = join(image.bundle, 'config.json');
    const spec = JSON.parse(await readFile(specFile, 'utf8')) as {
      process: RunImageResult['process'] & { terminal?: boolean };
    };
    spec.process.terminal = false;
    if (opts.args) spec.process.args = opts.args;
    if (opts.env) {
      const names = new Set(Object.keys(opts.env));
      spec.process.env = [
        ...spec.process.env.filter((e) => !names.has(e.split('=')[0]!)),
        ...Object.entries(opts.env).map(([k, v]) => `${k}=${v}`),
      ];
    }
    await writeFile(specFile, JSON.stringify(spec));
    const id = `kiln-test-${process.pid}-${++counter}`;
    const res = await execTool(
      'runc',
      ['--root', join(image.dir, 'runc'), 'run', '--bundle', image.bundle, id],
      {
        allowFailure: true,
        input: opts.input ?? '',
        timeoutMs: opts.timeoutMs ?? 60_000,
      },
    );
    const { terminal: _t, ...proc } = spec.process;
    return { stdout: res.stdout, stderr: res.stderr, code: res.code, process: proc };
  } finally {
    await image.cleanup();
  }
}
