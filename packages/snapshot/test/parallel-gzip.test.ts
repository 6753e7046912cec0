import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import zlib from 'node:zlib';
import { describe, expect, test } from 'vitest';
import { ParallelGzip } from '../src/layer/parallel-gzip.js';

async function compress(data: Buffer, level = 6, block = 64 * 1024): Promise<Buffer> {
  return buffer(Readable.from(chunks(data, 10_000)).pipe(new ParallelGzip(level, block)));
}

function* chunks(data: Buffer, size: number) {
  for (let i = 0; i < data.length; i += size) yield data.subarray(i, i + size);
}

describe('ParallelGzip', () => {
  const data = Buffer.concat([randomBytes(300_000), Buffer.alloc(300_000, 'kiln ')]);

  test('writes one gzip member per block, in input order, that node:zlib and GNU gzip both read back whole', async () => {
    const gz = await compress(data);
    const perBlock = [...chunks(data, 64 * 1024)].map((b) => zlib.gzipSync(b, { level: 6 }));
    expect(perBlock.length).toBeGreaterThan(1);
    expect(gz.equals(Buffer.concat(perBlock))).toBe(true);
    expect(zlib.gunzipSync(gz).equals(data)).toBe(true);
    expect(execFileSync('gzip', ['-dc'], { input: gz, maxBuffer: 1 << 26 }).equals(data)).toBe(true);
  });

  test('is deterministic: same input, level and block size give the same bytes', async () => {
    expect((await compress(data)).equals(await compress(data))).toBe(true);
    expect((await compress(data, 1)).equals(await compress(data, 6))).toBe(false);
  });

  test('an empty input is still a valid (empty) gzip file', async () => {
    const gz = await compress(Buffer.alloc(0));
    expect(gz.length).toBeGreaterThan(0);
    expect(zlib.gunzipSync(gz).length).toBe(0);
  });
});
