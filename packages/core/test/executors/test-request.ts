import { Writable } from 'node:stream';
import type { Executor, RunRequest } from '../../src/executor.js';

/** A writable that keeps everything written to it, with the time of the first chunk. */
export class Capture extends Writable {
  text = '';
  firstAt?: number;
  override _write(chunk: Buffer, _enc: string, cb: () => void) {
    this.firstAt ??= Date.now();
    this.text += chunk.toString('utf8');
    cb();
  }
}

/** A RunRequest with harmless defaults (`/bin/true` as root in `/`, PATH=/bin) writing into Captures. */
export function testRequest(rootfs: string, over: Partial<RunRequest> = {}) {
  const stdout = new Capture();
  const stderr = new Capture();
  const req: RunRequest = {
    argv: ['/bin/true'],
    env: ['PATH=/bin'],
    cwd: '/',
    user: '',
    rootfs,
    mounts: [],
    network: 'default',
    stdout,
    stderr,
    ...over,
  };
  return { req, stdout, stderr };
}

/** Runs `script` with `/bin/sh -c` through `ex` in `rootfs`; returns the status and the captured output. */
export async function runScript(
  ex: Executor,
  rootfs: string,
  script: string,
  over: Partial<RunRequest> = {},
) {
  const { req, stdout, stderr } = testRequest(rootfs, { argv: ['/bin/sh', '-c', script], ...over });
  const r = await ex.run(req);
  return { ...r, out: stdout.text, err: stderr.text };
}
