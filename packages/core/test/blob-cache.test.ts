import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { text } from 'node:stream/consumers';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { BlobCache } from '../src/image/blob-cache.js';

/** A source like the registry's: it fails at its end when the bytes do not hash to the digest. */
function verified(data: string, digest: string): Readable {
  const hash = createHash('sha256');
  const check = new Transform({
    transform(chunk, _e, cb) {
      hash.update(chunk);
      cb(null, chunk);
    },
    flush(cb) {
      const got = `sha256:${hash.digest('hex')}`;
      cb(got === digest ? null : new Error(`digest mismatch: ${got}`));
    },
  });
  return Readable.from([Buffer.from(data)]).pipe(check);
}

const blob = 'layer bytes '.repeat(1000);
const digest = `sha256:${createHash('sha256').update(blob).digest('hex')}`;

describe('BlobCache', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'kiln-blobs-'));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  test('a prefetch downloads once; opens during and after it read the cached copy', async () => {
    const cache = new BlobCache(dir);
    let fetches = 0;
    const fetch = async () => {
      fetches++;
      return verified(blob, digest);
    };
    const [, , during] = await Promise.all([
      cache.prefetch(digest, blob.length, fetch),
      cache.prefetch(digest, blob.length, fetch),
      cache.open(digest, blob.length, fetch).then(text),
    ]);
    expect(during).toBe(blob);
    expect(await text(await cache.open(digest, blob.length, fetch))).toBe(blob);
    expect(fetches).toBe(1);
    expect(await readFile(path.join(dir, 'sha256', digest.slice(7)), 'utf8')).toBe(blob);
  });

  test('a download that fails its digest check caches nothing, and open fetches again', async () => {
    const cache = new BlobCache(dir);
    let fetches = 0;
    const bad = async () => {
      fetches++;
      return verified('tampered', digest);
    };
    await expect(cache.prefetch(digest, blob.length, bad)).rejects.toThrow(/digest mismatch/);
    expect(await readdir(path.join(dir, 'sha256'))).toEqual([]);
    const good = async () => {
      fetches++;
      return verified(blob, digest);
    };
    expect(await text(await cache.open(digest, blob.length, good))).toBe(blob);
    expect(fetches).toBe(2);
  });
});
