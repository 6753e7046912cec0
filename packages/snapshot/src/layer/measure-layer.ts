import { createHash } from 'node:crypto';
import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { type Compression, decompressAuto, detectCompression } from './compression.js';

/** LayerMeasure: what {@link measureLayer} computed from a blob. */
export interface LayerMeasure {
  /** `sha256:…` of the blob as given. */
  digest: string;
  /** `sha256:…` of the uncompressed tar. */
  diffId: string;
  size: number;
  uncompressedSize: number;
  compression: Compression;
}

/**
 * measureLayer: recomputes a layer blob's digest, diffID and sizes from its bytes, in one
 * streamed pass (compression detected from the first bytes). Use it to validate a descriptor
 * (as tests of anything that writes layers should) or to learn the diffID of a foreign blob.
 */
export async function measureLayer(blob: Readable): Promise<LayerMeasure> {
  const outer = createHash('sha256');
  let size = 0;
  let head: Buffer | undefined;
  const tap = new PassThrough();
  tap.on('data', (c: Buffer) => {
    head ??= c;
    outer.update(c);
    size += c.length;
  });
  const feeding = pipeline(blob, tap);
  const inner = createHash('sha256');
  let uncompressedSize = 0;
  for await (const c of await decompressAuto(tap)) {
    inner.update(c as Buffer);
    uncompressedSize += (c as Buffer).length;
  }
  await feeding;
  return {
    digest: `sha256:${outer.digest('hex')}`,
    diffId: `sha256:${inner.digest('hex')}`,
    size,
    uncompressedSize,
    compression: detectCompression(head ?? Buffer.alloc(0)),
  };
}
