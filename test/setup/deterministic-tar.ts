import { spawn } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { formatCommand, TestHarnessError } from '../lib/exec.js';

/** Options of {@link deterministicTar}. @public */
export interface DeterministicTarOptions {
  /** Force every entry's mtime to this Unix time (seconds). Default: keep the files' mtimes. */
  mtime?: number;
  /** Record every entry as owned by 0:0. Default: the files' numeric owners. */
  rootOwned?: boolean;
}

/**
 * deterministicTar: the contents of `dir` as an uncompressed layer tar, from GNU tar:
 * POSIX (pax) format with fixed extended-header names and no atime/ctime, entries sorted
 * by name, numeric owners, no `./` prefix and no entry for the root itself (like
 * Docker-built layers). The same tree gives the same bytes on every run. The stream
 * errors with `KILN_TEST_EXEC_FAILED` when tar fails.
 * @public
 */
export async function deterministicTar(dir: string, opts: DeterministicTarOptions = {}): Promise<Readable> {
  // Top-level names sorted bytewise, since --sort=name only orders directory contents.
  const names = (await readdir(dir)).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  const args = [
    '--create',
    '--file=-',
    `--directory=${dir}`,
    '--format=posix',
    '--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime',
    '--sort=name',
    '--numeric-owner',
    '--xattrs',
    '--xattrs-include=*',
    ...(opts.rootOwned ? ['--owner=0', '--group=0'] : []),
    ...(opts.mtime === undefined ? [] : [`--mtime=@${opts.mtime}`]),
    '--',
    ...names,
  ];
  return Readable.from(tarOutput(args));
}

async function* tarOutput(args: string[]): AsyncGenerator<Buffer> {
  const child = spawn('tar', args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, LC_ALL: 'C' },
  });
  const err: Buffer[] = [];
  child.stderr.on('data', (b: Buffer) => err.push(b));
  const exited = new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', resolve);
  });
  try {
    for await (const chunk of child.stdout) yield chunk as Buffer;
    const code = await exited;
    if (code !== 0) {
      const tail = Buffer.concat(err).toString('utf8').trim().split('\n').slice(-5).join('\n');
      throw new TestHarnessError(
        'KILN_TEST_EXEC_FAILED',
        `${formatCommand('tar', args.slice(0, 12))} … exited with ${code}\n${tail}`,
      );
    }
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
}
