import { spawn } from 'node:child_process';
import { PassThrough, Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { ContextError } from '../errors.js';

/** The compressions a tar context may use, told apart by their magic bytes. */
export type TarCompression = 'none' | 'gzip' | 'bzip2' | 'xz' | 'zstd';

/** detectCompression: the compression whose magic bytes start `head` (`none` otherwise). */
export function detectCompression(head: Uint8Array): TarCompression {
  const starts = (...bytes: number[]) => bytes.every((b, i) => head[i] === b);
  if (starts(0x1f, 0x8b)) return 'gzip';
  if (starts(0x42, 0x5a, 0x68)) return 'bzip2'; // "BZh"
  if (starts(0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00)) return 'xz';
  if (starts(0x28, 0xb5, 0x2f, 0xfd)) return 'zstd';
  return 'none';
}

/** peek reads at least `n` bytes (fewer at end of stream) and returns them with a stream that replays them. */
async function peek(stream: Readable, n: number): Promise<{ head: Buffer; stream: Readable }> {
  const it = stream[Symbol.asyncIterator]();
  const chunks: Buffer[] = [];
  let length = 0;
  while (length < n) {
    const r = await it.next();
    if (r.done) break;
    const chunk = Buffer.from(r.value as Uint8Array);
    chunks.push(chunk);
    length += chunk.length;
  }
  const head = Buffer.concat(chunks);
  async function* replay() {
    if (head.length > 0) yield head;
    for (;;) {
      const r = await it.next();
      if (r.done) return;
      yield r.value as Buffer;
    }
  }
  return { head, stream: Readable.from(replay(), { objectMode: false }) };
}

/**
 * decompress returns the tar bytes of `input`, whatever its compression. gzip uses node:zlib;
 * bzip2, xz and zstd go through the system `bzip2`, `xz` and `zstd` binaries: they are native,
 * multi-format and present on every distribution, while npm has no well-kept pure-JS bzip2/xz
 * decoder (the maintained xz binding, lzma-native, needs a native build). A missing binary or a
 * failing decoder is `KILN_CONTEXT_TAR_INVALID` naming `label`.
 */
export async function decompress(
  input: Readable,
  label: string,
): Promise<{ stream: Readable; compression: TarCompression }> {
  const { head, stream } = await peek(input, 6);
  const compression = detectCompression(head);
  switch (compression) {
    case 'none':
      return { stream, compression };
    case 'gzip': {
      const gunzip = createGunzip();
      stream.on('error', (e) => gunzip.destroy(e));
      return { stream: stream.pipe(gunzip), compression };
    }
    default:
      return { stream: throughCommand(compression, ['-dc'], stream, label), compression };
  }
}

function throughCommand(command: string, args: string[], input: Readable, label: string): Readable {
  const out = new PassThrough();
  const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    if (stderr.length < 4096) stderr += d;
  });
  input.on('error', (e) => {
    child.kill();
    out.destroy(e);
  });
  child.stdin.on('error', () => {}); // EPIPE when the decoder exits early; its exit status reports why
  input.pipe(child.stdin);
  child.stdout.pipe(out, { end: false });
  child.on('error', (e) => {
    const missing = (e as NodeJS.ErrnoException).code === 'ENOENT';
    out.destroy(
      new ContextError(
        'KILN_CONTEXT_TAR_INVALID',
        missing
          ? `${label} is ${command}-compressed and the \`${command}\` program is not installed; install it or decompress the context first`
          : `${command} could not start for ${label}: ${e.message}`,
        { cause: e },
      ),
    );
  });
  child.on('close', (code, signal) => {
    if (code === 0) out.end();
    else if (!out.destroyed)
      out.destroy(
        new ContextError(
          'KILN_CONTEXT_TAR_INVALID',
          `${command} ${args.join(' ')} failed on ${label} (${signal ?? `exit ${code}`}): ${stderr.trim()}`,
        ),
      );
  });
  out.on('close', () => {
    if (child.exitCode === null) child.kill();
  });
  return out;
}
