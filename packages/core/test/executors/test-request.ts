import { Writable } from 'node:stream';
import type { RunRequest } from '../../src/executor.js';

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
