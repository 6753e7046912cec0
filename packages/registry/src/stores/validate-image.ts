import { createHash } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { ImageError } from '../errors.js';
import type { Platform } from '../image/manifest.js';
import type { ImageSource, ResolvedImage } from './image-store.js';

/** ValidateResult: what was checked. */
export interface ValidateResult {
  image: ResolvedImage;
  /** Layers whose diff_id could not be checked (zstd: no decoder in Node 20). */
  unchecked: string[];
}

/**
 * validateImage: reads a whole image back and checks it: the manifest and config digests (by
 * resolving), every blob's size and digest (by streaming it through the verifying reader), the
 * layer count against `rootfs.diff_ids`, and each layer's diff_id (the sha256 of the decompressed
 * tar) against the config. Reads every byte once: meant for tests and `kiln verify`-like checks.
 * Throws `KILN_DIGEST_MISMATCH` / `KILN_MANIFEST_INVALID` naming the layer.
 */
export async function validateImage(
  source: ImageSource,
  opts: { platform?: Platform; signal?: AbortSignal } = {},
): Promise<ValidateResult> {
  const image = await source.resolve(opts);
  const diffIds = image.config.rootfs?.diff_ids ?? [];
  if (diffIds.length !== image.layers.length) {
    throw new ImageError(
      'KILN_MANIFEST_INVALID',
      `${source.name}: ${image.layers.length} layers but ${diffIds.length} diff_ids in the config`,
    );
  }
  const unchecked: string[] = [];
  for (const [i, layer] of image.layers.entries()) {
    const stream = await source.openBlob(layer, opts.signal ? { signal: opts.signal } : {});
    const hash = createHash('sha256');
    const gz = layer.mediaType.endsWith('gzip') || layer.mediaType.endsWith('+gzip');
    const zstd = layer.mediaType.endsWith('zstd');
    const sink = async (src: AsyncIterable<Buffer>) => {
      for await (const c of src) hash.update(c);
    };
    if (gz) await pipeline(stream, createGunzip(), sink);
    else
      await pipeline(
        stream,
        zstd
          ? async (src: AsyncIterable<Buffer>) => {
              for await (const _ of src);
            }
          : sink,
      );
    if (zstd) {
      unchecked.push(layer.digest);
      continue;
    }
    const diffId = `sha256:${hash.digest('hex')}`;
    if (diffId !== diffIds[i]) {
      throw new ImageError(
        'KILN_DIGEST_MISMATCH',
        `${source.name}: layer ${i} (${layer.digest}) unpacks to ${diffId}, but the config says ${diffIds[i]}`,
      );
    }
  }
  return { image, unchecked };
}
