import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { readTar, type TarHeader } from '../src/index.js';
import { END_OF_ARCHIVE, encodeTarHeader, padding } from '../src/tar/tar-header.js';
import { sh, tmpDir } from './helpers/tree.js';

async function headersOf(tar: Buffer): Promise<TarHeader[]> {
  const out: TarHeader[] = [];
  for await (const e of readTar(Readable.from([tar]))) out.push(e.header);
  return out;
}

const segment = fc
  .stringMatching(/^[a-zA-Z0-9._\- äöü漢字]{1,60}$/)
  .filter((s) => s !== '.' && s !== '..' && !s.startsWith('.wh.'));

describe('tar codec', () => {
  it('round-trips any header through encodeTarHeader and readTar (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          name: fc.array(segment, { minLength: 1, maxLength: 6 }).map((s) => s.join('/')),
          type: fc.constantFrom('file', 'dir', 'symlink', 'hardlink', 'char', 'block', 'fifo' as const),
          mode: fc.integer({ min: 0, max: 0o7777 }),
          uid: fc.oneof(fc.integer({ min: 0, max: 65535 }), fc.integer({ min: 0, max: 2 ** 32 - 1 })),
          gid: fc.oneof(fc.integer({ min: 0, max: 65535 }), fc.integer({ min: 0, max: 2 ** 32 - 1 })),
          mtimeMs: fc.integer({ min: 0, max: 2 ** 40 }),
          linkname: fc.array(segment, { minLength: 1, maxLength: 8 }).map((s) => s.join('/')),
          uname: fc.stringMatching(/^[a-z_][a-z0-9_-]{0,40}$/),
          devmajor: fc.integer({ min: 0, max: 4095 }),
          devminor: fc.integer({ min: 0, max: 2 ** 20 - 1 }),
          xattr: fc.option(fc.uint8Array({ minLength: 0, maxLength: 40 })),
          content: fc.uint8Array({ maxLength: 1500 }),
        }),
        async (r) => {
          const isFile = r.type === 'file';
          const links = r.type === 'symlink' || r.type === 'hardlink';
          const devices = r.type === 'char' || r.type === 'block';
          const content = Buffer.from(isFile ? r.content : []);
          const h: TarHeader = {
            name: r.name,
            type: r.type,
            mode: r.mode,
            uid: r.uid,
            gid: r.gid,
            size: content.length,
            mtimeMs: r.mtimeMs,
            linkname: links ? r.linkname : '',
            uname: r.uname,
            gname: '',
            devmajor: devices ? r.devmajor : 0,
            devminor: devices ? r.devminor : 0,
            xattrs: r.xattr ? { 'user.k': Buffer.from(r.xattr) } : undefined,
          };
          const tar = Buffer.concat([
            encodeTarHeader(h, { subsecondMtime: true }),
            content,
            Buffer.alloc(padding(content.length)),
            END_OF_ARCHIVE,
          ]);
          const [back] = await headersOf(tar);
          expect(back).toEqual(h);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('reads GNU-format archives: long names as L entries, base-256 ids, and ./ prefixes', async () => {
    const dir = tmpDir('gnu');
    const long = `${'x'.repeat(120)}/${'y'.repeat(130)}`;
    fs.mkdirSync(path.join(dir, 'x'.repeat(120)));
    fs.writeFileSync(path.join(dir, long), 'gnu');
    fs.symlinkSync('t'.repeat(150), path.join(dir, 'lnk'));
    const tar = sh('tar', ['--format=gnu', '--owner=3000000', '--group=4000000', '-cf', '-', '-C', dir, '.']);
    const headers = await headersOf(tar);
    expect(headers.find((h) => h.name === `./${long}`)).toMatchObject({
      type: 'file',
      size: 3,
      uid: 3_000_000,
      gid: 4_000_000,
    });
    expect(headers.find((h) => h.name === './lnk')).toMatchObject({
      type: 'symlink',
      linkname: 't'.repeat(150),
    });
    const pax = sh('tar', ['--format=posix', '-cf', '-', '-C', dir, '.']);
    expect((await headersOf(pax)).map((h) => h.name)).toEqual(headers.map((h) => h.name));
  });
});
