import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { createGunzip } from 'node:zlib';
import { memoryContext } from '@kiln/context';
import { readTar } from '@kiln/snapshot';
import tar from 'tar-stream';
import { expect, test } from 'vitest';
import { build } from '../src/index.js';

/** A tar archive of `members` in this order (names may repeat, as `tar -r` appends them). */
async function archive(members: [string, string][]): Promise<Buffer> {
  const pack = tar.pack();
  for (const [name, text] of members) pack.entry({ name, mode: 0o644 }, text);
  pack.finalize();
  return buffer(pack);
}

test('ADD of a local archive that lists names again keeps each name’s last member, in tar order', async () => {
  const out = await mkdtemp(path.join(tmpdir(), 'kiln-add-dup-'));
  try {
    const tarball = await archive([
      ['a', 'a1'],
      ['b', 'b1'],
      ['a', 'a2'],
      ['b', 'b2'],
      ['c', 'c1'],
      ['b', 'b3'],
    ]);
    const r = await build({
      dockerfile: 'FROM scratch\nADD dup.tar /x/\n',
      context: memoryContext({ 'dup.tar': { content: tarball } }),
      destinations: [`oci:${out}`],
      reproducible: true,
    });
    const manifest = JSON.parse(
      await readFile(path.join(out, 'blobs', 'sha256', r.digest.slice(7)), 'utf8'),
    ) as { layers: { digest: string }[] };
    const blob = await readFile(path.join(out, 'blobs', 'sha256', manifest.layers[0]!.digest.slice(7)));
    const seen: [string, string][] = [];
    for await (const { header, body } of readTar(Readable.from([blob]).pipe(createGunzip())))
      if (header.type === 'file') seen.push([header.name, (await buffer(Readable.from(body()))).toString()]);
    expect(seen.sort()).toEqual([
      ['x/a', 'a2'],
      ['x/b', 'b3'],
      ['x/c', 'c1'],
    ]);
  } finally {
    await rm(out, { recursive: true, force: true });
  }
});
