import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { writeLayer } from '../src/image/write-layer.js';

const entries = () => [
  { path: 'a', type: 'file' as const, mode: 0o644, uid: 0, gid: 0, size: 2, open: () => Buffer.from('hi') },
];

describe('writeLayer', () => {
  test('writes the blob under its digest in the work dir', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'kiln-wl-'));
    try {
      const rec = await writeLayer(entries(), { workDir: dir, deterministic: true });
      expect(await readdir(dir)).toEqual([`${rec.digest.replace(':', '-')}.tar.gz`]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('fails, instead of waiting forever, when the work dir is gone', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'kiln-wl-'));
    await rm(dir, { recursive: true });
    await expect(writeLayer(entries(), { workDir: dir, deterministic: true })).rejects.toThrow(/ENOENT/);
  });
});
