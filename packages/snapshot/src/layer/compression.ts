import { spawn } from 'node:child_process';
import { Duplex, PassThrough, Readable, type Transform } from 'node:stream';
import zlib from 'node:zlib';
import { SnapshotError } from '../errors.js';
import { ParallelGzip } from './parallel-gzip.js';

/** Layer compression: gzip (the default everywhere), zstd, or none. */
export type Compression = 'gzip' | 'zstd' | 'none';

// node:zlib gained zstd in Node 22.15/23.8; on older runtimes the `zstd` executable is used.
type ZstdFactory = (options?: { params?: Record<number, number> }) => Transform;
const zlibZstd = zlib as unknown as {
  createZstdCompress?: ZstdFactory;
  createZstdDecompress?: ZstdFactory;
  constants: Record<string, number>;
};

// zlib's default 16 KiB output chunks cost one thread-pool round trip each; 256 KiB chunks
// cut those 16-fold for the price of a few buffers.
const CHUNK = 256 * 1024;
// Room for several jobs on each side, so that the producer (tar encoding, hashing, file reads)
// keeps working while zlib runs in the thread pool instead of waiting for 'drain' after each job.
const STREAM_BUFFERS = { writableHighWaterMark: 4 * CHUNK, readableHighWaterMark: 4 * CHUNK };

/** True when node:zlib itself implements zstd (else the `zstd` executable must be on PATH). */
export const zlibHasZstd = typeof zlibZstd.createZstdCompress === 'function';

/** Runs `zstd` as a filter process: a Duplex that writes to its stdin and reads its stdout. */
function zstdProcess(args: string[]): Duplex {
  const child = spawn('zstd', args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const duplex = Duplex.from({ writable: child.stdin, readable: child.stdout });
  child.on('error', (e: NodeJS.ErrnoException) =>
    duplex.destroy(
      e.code === 'ENOENT'
        ? new SnapshotError(
            'KILN_ZSTD_UNAVAILABLE',
            'zstd needs Node ≥ 22.15 or the `zstd` executable on PATH',
          )
        : e,
    ),
  );
  child.on('close', (code) => {
    if (code !== 0 && code !== null)
      duplex.destroy(new Error(`zstd ${args.join(' ')} exited ${code}: ${stderr.trim()}`));
  });
  return duplex;
}

/** A compressing transform for `compression` at `level` (gzip 1–9, zstd 1–19; undefined = library default). */
export function compressor(compression: Compression, level: number | undefined): Duplex {
  if (compression === 'none') return new PassThrough();
  if (compression === 'gzip') return new ParallelGzip(level);
  if (zlibZstd.createZstdCompress) {
    const key = zlibZstd.constants.ZSTD_c_compressionLevel;
    return zlibZstd.createZstdCompress(
      level === undefined || key === undefined ? {} : { params: { [key]: level } },
    );
  }
  return zstdProcess(['-q', '-c', `-${level ?? 3}`, '-']);
}

/** A decompressing transform for `compression`. */
export function decompressor(compression: Compression): Duplex {
  if (compression === 'none') return new PassThrough();
  if (compression === 'gzip') return zlib.createGunzip({ ...STREAM_BUFFERS, chunkSize: CHUNK });
  if (zlibZstd.createZstdDecompress) return zlibZstd.createZstdDecompress();
  return zstdProcess(['-q', '-d', '-c', '-']);
}

/** Detects the compression of a layer from its first bytes (gzip 1f 8b, zstd 28 b5 2f fd). */
export function detectCompression(head: Buffer): Compression {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 4 && head.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
  return 'none';
}

/**
 * Returns the decompressed content of a possibly compressed stream, detecting the format from
 * its first bytes. Reads ahead at most one chunk; never buffers the stream.
 */
export async function decompressAuto(input: Readable): Promise<Readable> {
  const it = input[Symbol.asyncIterator]();
  let head: Buffer = Buffer.alloc(0);
  while (head.length < 4) {
    const r = await it.next();
    if (r.done) break;
    head = Buffer.concat([head, r.value as Buffer]);
  }
  const kind = detectCompression(head);
  async function* replay() {
    if (head.length > 0) yield head;
    for (;;) {
      const r = await it.next();
      if (r.done) return;
      yield r.value as Buffer;
    }
  }
  const source = Readable.from(replay(), { objectMode: false });
  if (kind === 'none') return source;
  const out = decompressor(kind);
  source.on('error', (e) => out.destroy(e));
  return source.pipe(out);
}
