import { createHash } from 'node:crypto';
import { KilnRegistryBaseError } from '../errors.js';

/** A content digest, `sha256:<64 hex>` (sha512 is accepted when reading). */
export type Digest = string;

const digestRe = /^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$/;

/** sha256Digest: the `sha256:…` digest of some bytes (strings are UTF-8 encoded). */
export function sha256Digest(bytes: Uint8Array | string): Digest {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** isDigest: true for a well-formed `sha256:` or `sha512:` digest. */
export function isDigest(s: unknown): s is Digest {
  return typeof s === 'string' && digestRe.test(s);
}

/** assertDigest: throws `KILN_INVALID_DIGEST` naming `what` unless `s` is a well-formed digest. */
export function assertDigest(s: unknown, what = 'digest'): asserts s is Digest {
  if (!isDigest(s)) {
    throw new KilnRegistryBaseError(
      'KILN_INVALID_DIGEST',
      `${what} ${JSON.stringify(s)} is not a sha256/sha512 digest`,
    );
  }
}

/** digestAlgorithm: `sha256` or `sha512` (the part before `:`). */
export function digestAlgorithm(d: Digest): 'sha256' | 'sha512' {
  assertDigest(d);
  return d.startsWith('sha512:') ? 'sha512' : 'sha256';
}

/** digestHex: the hex part of a digest (the part after `:`), checked first, so safe to use as a file name. */
export function digestHex(d: Digest): string {
  assertDigest(d);
  return d.slice(d.indexOf(':') + 1);
}
