import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { HashWorker } from '../../src/client/hash-worker.js';
import { DigestMismatchError, RegistryClient } from '../../src/index.js';
import { MemoryRegistry, memoryFetch } from '../../src/testing/index.js';
import { makeImage, opener, readStream } from '../helpers/images.js';

describe('HashWorker (off-thread blob hashing)', () => {
  it('gives node:crypto digests for interleaved streams, with backpressure, and restarts after close', async () => {
    const pool = new HashWorker();
    const a = randomBytes(9 * 1024 * 1024 + 17);
    const b = randomBytes(3 * 1024 * 1024);
    const ha = pool.create('sha256');
    const hb = pool.create('sha512');
    for (let i = 0; i < a.length; i += 65536) {
      await ha.update(a.subarray(i, i + 65536));
      if (i < b.length) await hb.update(b.subarray(i, i + 65536));
    }
    expect(await ha.digest()).toBe(createHash('sha256').update(a).digest('hex'));
    expect(await hb.digest()).toBe(createHash('sha512').update(b).digest('hex'));
    await pool.close();
    const hc = pool.create('sha256');
    await hc.update(b);
    expect(await hc.digest()).toBe(createHash('sha256').update(b).digest('hex'));
    await pool.close();
  });

  it('big blobs verify through it: right bytes stream out, wrong bytes error before the end', async () => {
    const registry = new MemoryRegistry();
    const client = new RegistryClient({ fetch: memoryFetch(registry), dockerConfig: false });
    const l = makeImage([3 * 1024 * 1024]).layers[0]!;
    await client.pushBlob('reg.test/hw/x', l.desc, opener(l.bytes));
    expect((await client.fetchBlob('reg.test/hw/x', l.desc)).equals(l.bytes)).toBe(true);
    registry.intercept((r) =>
      r.method === 'GET' && r.url.pathname.endsWith(l.desc.digest)
        ? { status: 200, headers: {}, body: Buffer.alloc(l.bytes.length, 1) }
        : undefined,
    );
    const err = await readStream(await client.openBlob('reg.test/hw/x', l.desc)).catch((e) => e);
    expect(err).toBeInstanceOf(DigestMismatchError);
    await client.close();
  });
});
