import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { pack } from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execTool } from './exec.js';
import { formatLayerEntry, listLayer } from './layer-listing.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kiln-layer-listing-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A small layer: root entry, dir, file with an xattr, symlink, hardlink. */
async function writeLayer(file: string, compress: 'gzip' | 'none'): Promise<void> {
  const p = pack();
  p.entry({ name: './', type: 'directory', mode: 0o755 });
  p.entry({ name: './usr/', type: 'directory', mode: 0o755 });
  p.entry(
    {
      name: './usr/ping',
      mode: 0o4755,
      uid: 0,
      gid: 0,
      pax: { 'SCHILY.xattr.security.capability': 'cap' },
    } as never,
    'binary',
  );
  p.entry({ name: 'usr/sh', type: 'symlink', linkname: '/bin/busybox', mode: 0o777 });
  p.entry({ name: 'usr/ping2', type: 'link', linkname: 'usr/ping', mode: 0o4755 });
  p.finalize();
  const out = createWriteStream(file);
  await (compress === 'gzip' ? pipeline(p, createGzip(), out) : pipeline(p, out));
}

describe('listLayer', () => {
  it('lists a gzip layer with normalized names, no root entry, links and xattrs', async () => {
    const f = join(dir, 'layer.tar.gz');
    await writeLayer(f, 'gzip');
    expect((await listLayer(f)).map(formatLayerEntry)).toEqual([
      'directory\t0755\t0:0\t0\tusr',
      'file\t4755\t0:0\t6\tusr/ping\txattrs={"security.capability":"cap"}',
      'symlink\t0777\t0:0\t0\tusr/sh -> /bin/busybox',
      'link\t4755\t0:0\t0\tusr/ping2 -> usr/ping',
    ]);
  });

  it('reads uncompressed and zstd layers the same way', async () => {
    const plain = join(dir, 'layer.tar');
    await writeLayer(plain, 'none');
    await execTool('zstd', ['-q', '-f', plain, '-o', `${plain}.zst`]);
    const a = (await listLayer(plain)).map(formatLayerEntry);
    expect(a).toHaveLength(4);
    expect((await listLayer(`${plain}.zst`)).map(formatLayerEntry)).toEqual(a);
  });
});
