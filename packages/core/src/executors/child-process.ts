import { type StdioOptions, spawn } from 'node:child_process';
import { constants } from 'node:os';
import type { Readable, Writable } from 'node:stream';
import { KilnError } from '../errors.js';

/** How to start one sandboxed or direct command. */
export interface ChildSpec {
  file: string;
  args: string[];
  /** The whole environment; nothing of kiln's own environment is added. */
  env: Record<string, string>;
  cwd?: string;
  /** Extra descriptors the child gets as fd 4, 5… (fd 3 is a pipe read back into `status`). */
  fds?: number[];
  signal?: AbortSignal;
  stdout: Writable;
  stderr: Writable;
}

/** How a child ended. */
export interface ChildEnd {
  /** Exit status in shell encoding: the code, or 128 + the signal number when killed by a signal. */
  exitCode: number;
  /** Everything the child wrote to fd 3. */
  status: string;
  /** The last 4 KiB of its stderr, for error messages. */
  stderrTail: string;
}

const TAIL = 4096;

/**
 * runChild spawns `spec.file` in its own process group with exactly `spec.env`, umask 022, stdin from /dev/null, streams
 * stdout/stderr to the given writables as they come (never ending them), and resolves once the child has
 * exited and its output is drained. Aborting `spec.signal` SIGKILLs the process group and rejects with
 * `KILN_RUN_ABORTED` once the child is gone.
 */
export function runChild(spec: ChildSpec): Promise<ChildEnd> {
  return new Promise((resolve, reject) => {
    if (spec.signal?.aborted) {
      reject(aborted(spec.signal));
      return;
    }
    const stdio: StdioOptions = ['ignore', 'pipe', 'pipe', 'pipe', ...(spec.fds ?? [])];
    // RUN commands get umask 022 whatever kiln's own is, as runc (BuildKit) gives them. spawn is synchronous,
    // so the process-wide umask is changed only for the instant of the fork.
    const umask = process.umask(0o022);
    let child: ReturnType<typeof spawn>;
    try {
      child = spawn(spec.file, spec.args, { env: spec.env, cwd: spec.cwd, stdio, detached: true });
    } finally {
      process.umask(umask);
    }
    let status = '';
    let tail = '';
    (child.stdio[3] as Readable).on('data', (b: Buffer) => (status += b.toString('utf8')));
    child.stdout!.pipe(spec.stdout, { end: false });
    child.stderr!.on('data', (b: Buffer) => (tail = (tail + b.toString('utf8')).slice(-TAIL)));
    child.stderr!.pipe(spec.stderr, { end: false });
    const kill = () => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    };
    spec.signal?.addEventListener('abort', kill, { once: true });
    child.on('error', (e) => {
      spec.signal?.removeEventListener('abort', kill);
      reject(
        new KilnError('KILN_RUN_EXEC', `cannot execute ${spec.file}: ${(e as Error).message}`, { cause: e }),
      );
    });
    child.on('close', (code, sig) => {
      spec.signal?.removeEventListener('abort', kill);
      if (spec.signal?.aborted) {
        reject(aborted(spec.signal));
        return;
      }
      const exitCode = code ?? 128 + (sig ? (constants.signals[sig] ?? 0) : 0);
      resolve({ exitCode, status, stderrTail: tail });
    });
  });
}

function aborted(signal: AbortSignal): KilnError {
  return new KilnError('KILN_RUN_ABORTED', 'the RUN command was aborted; its processes were killed', {
    cause: signal.reason,
  });
}

/** Turns an `env` list of `KEY=VALUE` strings into an object; a malformed entry is an error. */
export function envObject(env: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of env) {
    const eq = kv.indexOf('=');
    if (eq <= 0)
      throw new KilnError('KILN_RUN_BAD_ENV', `environment entry "${kv}" is not of the form KEY=VALUE`);
    out[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  return out;
}
