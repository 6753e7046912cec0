import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { DigestMismatchError } from '../errors.js';
import { digestAlgorithm } from '../image/digest.js';
import type { Descriptor } from '../image/manifest.js';
import { isRetryableError } from '../transport/retry.js';
import { type BlobHasher, type HasherFactory, inThreadHasher } from './hash-worker.js';

/**
 * Marks a stream made by {@link verifiedStream} with the digest it checks. Such a stream errors
 * instead of ending when the content is wrong, so a consumer that only keeps the data after a
 * clean end (temp file + rename) need not hash it a second time.
 */
export const VERIFIED_DIGEST = Symbol.for('kiln.registry.verifiedDigest');

/** isVerifiedFor: true when `stream` is a verifying stream for exactly this digest. */
export function isVerifiedFor(stream: unknown, digest: string): boolean {
  return (stream as { [VERIFIED_DIGEST]?: string } | null)?.[VERIFIED_DIGEST] === digest;
}

/** RangeOpener: opens the blob from byte `offset`; `skip` says how many leading bytes to drop (server ignored Range). */
export type RangeOpener = (offset: number) => Promise<{ body: Readable; skip: number }>;

/**
 * verifiedStream: streams a blob while hashing it; the stream ends only if the size and digest are
 * the descriptor's. The last chunk is held back until the digest is checked, so a consumer never sees
 * a complete, unverified blob: on mismatch the stream errors with `KILN_DIGEST_MISMATCH` instead of
 * ending, and a consumer writing to a temp file must discard it. A body cut short (connection reset,
 * stall) is re-requested from the byte reached, via `open(offset)` (HTTP Range), up to `maxResumes` times.
 */
export function verifiedStream(
  desc: Descriptor,
  open: RangeOpener,
  where: string,
  maxResumes = 5,
  signal?: AbortSignal,
  hasher: HasherFactory = inThreadHasher,
): Readable {
  async function* run(): AsyncGenerator<Buffer> {
    const hash = hasher(digestAlgorithm(desc.digest));
    try {
      yield* body(hash);
    } finally {
      hash.dispose();
    }
  }
  async function* body(hash: BlobHasher): AsyncGenerator<Buffer> {
    let received = 0;
    let resumes = 0;
    let held: Buffer | undefined;
    for (;;) {
      let { body, skip } = await open(received);
      try {
        for await (const raw of body) {
          // Checked per chunk: a transport that already buffered the body would not notice the abort.
          if (signal?.aborted) throw signal.reason;
          let chunk = raw as Buffer;
          if (skip > 0) {
            const drop = Math.min(skip, chunk.length);
            chunk = chunk.subarray(drop);
            skip -= drop;
            if (chunk.length === 0) continue;
          }
          received += chunk.length;
          if (received > desc.size) {
            throw new DigestMismatchError(
              `blob ${desc.digest} from ${where}`,
              `size ${desc.size}`,
              `more bytes`,
              'KILN_SIZE_MISMATCH',
            );
          }
          const wait = hash.update(chunk);
          if (wait) await wait;
          if (held) yield held;
          held = chunk;
        }
      } catch (e) {
        body.destroy();
        if (signal?.aborted) throw signal.reason;
        if (received < desc.size && resumes < maxResumes && isRetryableError(e)) {
          resumes++;
          continue;
        }
        throw e;
      }
      if (received < desc.size && resumes < maxResumes) {
        // A clean end before the promised size: the connection was closed early; resume.
        resumes++;
        continue;
      }
      break;
    }
    if (received !== desc.size) {
      throw new DigestMismatchError(
        `blob ${desc.digest} from ${where}`,
        `size ${desc.size}`,
        `size ${received}`,
        'KILN_SIZE_MISMATCH',
      );
    }
    const actual = `${digestAlgorithm(desc.digest)}:${await hash.digest()}`;
    if (actual !== desc.digest) {
      throw new DigestMismatchError(`blob from ${where}`, desc.digest, actual, 'KILN_DIGEST_MISMATCH');
    }
    if (held) yield held;
  }
  const out = Readable.from(run(), { objectMode: false, highWaterMark: 1024 * 1024 });
  Object.defineProperty(out, VERIFIED_DIGEST, { value: desc.digest });
  return out;
}

/** verifyBytes: checks a whole buffer against a descriptor (used for manifests and configs). */
export function verifyBytes(
  bytes: Buffer,
  desc: Pick<Descriptor, 'digest'> & { size?: number },
  where: string,
): void {
  if (desc.size !== undefined && bytes.length !== desc.size) {
    throw new DigestMismatchError(
      `${where} (${desc.digest})`,
      `size ${desc.size}`,
      `size ${bytes.length}`,
      'KILN_SIZE_MISMATCH',
    );
  }
  const actual = `${digestAlgorithm(desc.digest)}:${createHash(digestAlgorithm(desc.digest)).update(bytes).digest('hex')}`;
  if (actual !== desc.digest)
    throw new DigestMismatchError(where, desc.digest, actual, 'KILN_DIGEST_MISMATCH');
}
