import pLimit from 'p-limit';
import type { Digest } from '../image/digest.js';
import type { Platform } from '../image/manifest.js';
import type { ImageDestination, ImageSource, PutBlobResult, ResolvedImage } from './image-store.js';

/** CopyImageOptions: what to copy and where to tag it. */
export interface CopyImageOptions {
  /** Tags (or one digest) to put the manifest under at the destination; default: the destination's own. */
  tags?: (string | undefined)[];
  /** Tag or digest to read at the source; default: the source's own. */
  reference?: string;
  platform?: Platform;
  /** Repositories (`registry/repo`) to mount blobs from, e.g. the source's when on the same registry. */
  mountFrom?: string[];
  /** Blob copies at once. Default 6 (the registry client has its own limit too). */
  concurrency?: number;
  signal?: AbortSignal;
  /** Called after each blob with what the destination did. */
  onBlob?: (digest: Digest, result: PutBlobResult) => void;
}

/**
 * copyImage: copies one platform's image from any source to any destination: every blob first
 * (config and layers, concurrently, each streamed and verified), then the manifest bytes unchanged
 * (so the digest is preserved) under each tag. If any blob fails, no manifest is written.
 */
export async function copyImage(
  source: ImageSource,
  destination: ImageDestination,
  opts: CopyImageOptions = {},
): Promise<{ digest: Digest; image: ResolvedImage }> {
  const image = await source.resolve({
    ...(opts.reference ? { reference: opts.reference } : {}),
    ...(opts.platform ? { platform: opts.platform } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  const limit = pLimit(opts.concurrency ?? 6);
  // The first failed blob cancels the others: nothing more is sent once the copy cannot succeed.
  const failed = new AbortController();
  const signal = opts.signal ? AbortSignal.any([opts.signal, failed.signal]) : failed.signal;
  const blobs = [image.configDescriptor, ...image.layers];
  const seen = new Set<string>();
  const copies = blobs
    .filter((d) => !seen.has(d.digest) && seen.add(d.digest))
    .map((d) =>
      limit(async () => {
        signal.throwIfAborted();
        const result = await destination.putBlob(d, () => source.openBlob(d, { signal }), {
          ...(opts.mountFrom ? { mountFrom: opts.mountFrom } : {}),
          signal,
        });
        opts.onBlob?.(d.digest, result);
      }).catch((e: unknown) => {
        failed.abort(e);
        throw e;
      }),
    );
  const settled = await Promise.allSettled(copies);
  const firstError = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  // Report the root cause, not the aborts it caused in the other copies.
  if (firstError) throw failed.signal.reason ?? firstError.reason;
  let digest: Digest | undefined;
  for (const tag of opts.tags?.length ? opts.tags : [undefined]) {
    digest = await destination.putManifest(tag, image.manifestBytes, image.mediaType, { signal });
  }
  return { digest: digest!, image };
}
