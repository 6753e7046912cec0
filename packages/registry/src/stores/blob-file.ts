import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { isVerifiedFor } from '../client/verified-download.js';
import { DigestMismatchError } from '../errors.js';
import { digestAlgorithm } from '../image/digest.js';
import type { Descriptor } from '../image/manifest.js';

/** tempPath: a unique temporary file name next to `path` (same directory, so `rename` is atomic). */
export function tempPath(path: string): string {
  return join(dirname(path), `.tmp-${randomBytes(6).toString('hex')}`);
}

/**
 * writeVerifiedFile: streams `source` into a temp file beside `path` while hashing, then renames it
 * into place only if size and digest match `desc`. On any failure the temp file is removed and
 * nothing appears at `path`.
 */
export async function writeVerifiedFile(
  path: string,
  desc: Descriptor,
  source: Readable,
  signal?: AbortSignal,
): Promise<void> {
  const tmp = tempPath(path);
  // A stream that verifies this digest itself is not hashed twice (it errors rather than end if wrong).
  const hash = isVerifiedFor(source, desc.digest) ? undefined : createHash(digestAlgorithm(desc.digest));
  let size = 0;
  try {
    await pipeline(
      source,
      async function* (src: AsyncIterable<Buffer>) {
        for await (const chunk of src) {
          hash?.update(chunk);
          size += chunk.length;
          yield chunk;
        }
      },
      // 1 MiB buffer: fewer drain round trips than the 16 KiB default for 64 KiB network chunks.
      createWriteStream(tmp, { highWaterMark: 1024 * 1024 }),
      signal ? { signal } : {},
    );
    if (size !== desc.size) {
      throw new DigestMismatchError(
        `blob ${desc.digest} written to ${path}`,
        `size ${desc.size}`,
        `size ${size}`,
        'KILN_SIZE_MISMATCH',
      );
    }
    const actual = hash ? `${digestAlgorithm(desc.digest)}:${hash.digest('hex')}` : desc.digest;
    if (actual !== desc.digest)
      throw new DigestMismatchError(`blob written to ${path}`, desc.digest, actual, 'KILN_DIGEST_MISMATCH');
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}
