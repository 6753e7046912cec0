import os from 'node:os';
import { Transform, type TransformCallback } from 'node:stream';
import { promisify } from 'node:util';
import zlib from 'node:zlib';

const gzip = promisify(zlib.gzip);

/**
 * Block size of {@link ParallelGzip}: each 1 MiB of tar becomes one gzip member. Large enough that the
 * dictionary reset at each block costs well under 1% of size, small enough to keep every core busy on a
 * 10 MB layer.
 */
export const PARALLEL_GZIP_BLOCK = 1024 * 1024;

/**
 * ParallelGzip: gzip on every core. The input is cut into fixed-size blocks, each compressed as its own
 * gzip member on libuv's thread pool, and the members are emitted in input order. A concatenation of
 * members is one valid gzip file (RFC 1952 §2.2), which every layer reader handles (Go's compress/gzip,
 * GNU gzip, node:zlib). The output depends only on the input, the level and the block size, so layers stay
 * reproducible. Memory: at most `inFlight` blocks plus their outputs.
 */
export class ParallelGzip extends Transform {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private readonly queue: Promise<Buffer>[] = [];
  private emitted = false;
  private readonly inFlight: number;

  constructor(
    private readonly level: number | undefined,
    private readonly block = PARALLEL_GZIP_BLOCK,
    inFlight = Math.max(2, Math.min(8, os.availableParallelism() + 1)),
  ) {
    super();
    this.inFlight = inFlight;
  }

  private dispatch(data: Buffer): void {
    // An output buffer that holds the whole member (deflate's worst case is ~0.03% over the input):
    // with zlib's default 16 KiB chunks a 1 MiB block made ~30 thread-pool round trips, each waiting for the
    // main thread between them. The bytes do not depend on the output buffer size.
    const chunkSize = Math.max(zlib.constants.Z_MIN_CHUNK, data.length + (data.length >> 8) + 1024);
    this.queue.push(gzip(data, this.level === undefined ? { chunkSize } : { level: this.level, chunkSize }));
  }

  /** Emits finished members, in order, until at most `keep` jobs remain in flight. */
  private async drainTo(keep: number): Promise<void> {
    while (this.queue.length > keep) {
      const out = await this.queue.shift()!;
      this.emitted = true;
      this.push(out);
    }
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    if (this.pendingBytes >= this.block) {
      let all = Buffer.concat(this.pending, this.pendingBytes);
      while (all.length >= this.block) {
        this.dispatch(all.subarray(0, this.block));
        all = all.subarray(this.block);
      }
      this.pending = all.length ? [all] : [];
      this.pendingBytes = all.length;
    }
    this.drainTo(this.inFlight - 1).then(() => cb(), cb);
  }

  override _flush(cb: TransformCallback): void {
    // An empty input still gives one (empty) member: a valid gzip file.
    if (this.pendingBytes > 0 || (this.queue.length === 0 && !this.emitted))
      this.dispatch(Buffer.concat(this.pending, this.pendingBytes));
    this.pending = [];
    this.drainTo(0).then(() => cb(), cb);
  }
}
