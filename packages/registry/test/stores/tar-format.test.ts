import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { indexTar, TAR_END, tarHeader, tarPadding } from '../../src/stores/tar-format.js';

const run = promisify(execFile);
let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kiln-tar-'));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

async function indexOf(file: string) {
  const fh = await open(file, 'r');
  try {
    return await indexTar(fh, file);
  } finally {
    await fh.close();
  }
}

describe('tar indexing (docker-archive reading)', () => {
  const long = `${'d'.repeat(80)}/${'e'.repeat(80)}/layer.tar`;
  it.each(['gnu', 'pax', 'ustar'])(
    'finds entries and data offsets in a %s archive written by GNU tar',
    async (format) => {
      const src = join(dir, 'src');
      const name = format === 'ustar' ? `${'d'.repeat(80)}/short.tar` : long;
      await mkdir(join(src, name, '..'), { recursive: true });
      await writeFile(join(src, name), 'layer-bytes');
      await writeFile(join(src, 'manifest.json'), '[]');
      const file = join(dir, 'a.tar');
      await run('tar', ['-C', src, `--format=${format}`, '-cf', file, './manifest.json', `./${name}`]);
      const entries = await indexOf(file);
      const fh = await open(file, 'r');
      try {
        const loc = entries.get(name)!;
        expect(loc.size).toBe(11);
        const buf = Buffer.alloc(loc.size);
        await fh.read(buf, 0, loc.size, loc.offset);
        expect(buf.toString()).toBe('layer-bytes');
        expect(entries.get('manifest.json')?.size).toBe(2);
      } finally {
        await fh.close();
      }
    },
  );

  it('headers kiln writes are read back by GNU tar', async () => {
    const body = Buffer.from('hello');
    const file = join(dir, 'k.tar');
    await writeFile(
      file,
      Buffer.concat([tarHeader('a.json', body.length), body, tarPadding(body.length), TAR_END]),
    );
    expect((await run('tar', ['-tvf', file])).stdout).toMatch(/-rw-r--r-- 0\/0\s+5 1970-01-01 00:00 a\.json/);
    expect((await indexOf(file)).get('a.json')).toEqual({ offset: 512, size: 5 });
  });

  it('a corrupt header is reported with its offset', async () => {
    const file = join(dir, 'bad.tar');
    const h = tarHeader('x', 1);
    h[0] = 0x79;
    await writeFile(file, Buffer.concat([h, Buffer.alloc(512), TAR_END]));
    await expect(indexOf(file)).rejects.toThrow(/bad tar header checksum at offset 0/);
  });
});
