import { lstat, mkdtemp, readFile, readlink, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { memoryContext } from '@kiln/context';
import { extractLayer, readTar } from '@kiln/snapshot';
import { afterEach, describe, expect, test } from 'vitest';
import { initLayout, writeImage, writeLayerBlob } from '../../../test/setup/oci-layout-writer.js';
import { asRoot, dir, file, hard, type Layer, sym } from '../../snapshot/test/helpers/layer-stacks.js';
import { rawTar } from '../../snapshot/test/helpers/raw-tar.js';
import { build } from '../src/index.js';

/**
 * COPY, WORKDIR and --chown on a base image whose layers write through symlinked directories: kiln plans them
 * from the file index alone, and what it plans must be what the image is once unpacked (by kiln's extractor, or
 * containerd's, which resolve parents inside the root too). Each result is checked against the image extracted.
 */

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});
async function tmp(label: string): Promise<string> {
  const d = await mkdtemp(path.join(os.tmpdir(), `kiln-${label}-`));
  dirs.push(d);
  return d;
}

const PASSWD = 'root:x:0:0:root:/root:/bin/sh\napp:x:1234:4321::/home/app:/bin/sh\n';
const GROUP = 'root:x:0:\napp:x:4321:\n';

/** An OCI layout holding one image made of `layers` (tar entries in the order given), as `oci:DIR:base`. */
async function baseImage(layers: Layer[]): Promise<{ ref: string; layers: number }> {
  const layout = await tmp('base');
  await initLayout(layout);
  const blobs = [];
  for (const entries of layers) blobs.push(await writeLayerBlob(layout, Readable.from([rawTar(entries)])));
  await writeImage(layout, 'base', {
    layers: blobs,
    config: {},
    created: '2024-01-01T00:00:00Z',
    createdBy: blobs.map((_, i) => `layer ${i}`),
    architecture: 'amd64',
  });
  return { ref: `oci:${layout}:base`, layers: layers.length };
}

/** Builds onto the base; returns the entries of each layer the build added, and the whole image unpacked. */
async function buildAndUnpack(
  base: { ref: string; layers: number },
  steps: string,
  files: Record<string, string | Uint8Array> = {},
) {
  const out = await tmp('out');
  const r = await build({
    dockerfile: `FROM ${base.ref}\n${steps}\n`,
    context: memoryContext(files),
    destinations: [`oci:${out}:t`],
  });
  const blob = (digest: string) => readFile(path.join(out, 'blobs', ...digest.split(':')));
  const root = await tmp('rootfs');
  const added: string[][] = [];
  for (const [i, l] of r.layers.entries()) {
    await extractLayer(Readable.from([await blob(l.digest)]), root);
    if (i < base.layers) continue;
    const entries: string[] = [];
    for await (const { header: h } of readTar(Readable.from([await blob(l.digest)]).pipe(createGunzip())))
      entries.push(`${h.name} ${h.type}${h.linkname ? ` ${h.linkname}` : ''} ${h.uid}:${h.gid}`);
    added.push(entries);
  }
  return { root, added };
}

/** What the unpacked image has at `p`: `dir`, `-> target`, or a file's content, owner and link count. */
const own = (uid: number, gid = uid) => (asRoot ? ` ${uid}:${gid}` : '');

async function at(root: string, p: string): Promise<string | undefined> {
  const host = path.join(root, p);
  const st = await lstat(host).catch(() => undefined);
  if (!st) return undefined;
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return `-> ${await readlink(host)}`;
  // Owners are kept when extracting as root.
  const owner = asRoot ? ` ${st.uid}:${st.gid}` : '';
  return `${await readFile(host, 'utf8')}${owner}${st.nlink > 1 ? ` links=${st.nlink}` : ''}`;
}

describe('COPY, WORKDIR and --chown under symlinked directories of the base image', () => {
  test('an absolute link: /etc -> /usr/etc with passwd written through it in a later layer', async () => {
    const base = await baseImage([
      [dir('usr'), sym('etc', '/usr/etc')],
      [file('etc/passwd', PASSWD), file('etc/group', GROUP), dir('etc/app', 0o750)],
    ]);
    const { added, root } = await buildAndUnpack(
      base,
      [
        // Exists (as usr/etc/app): no layer, and its mode stays.
        'WORKDIR /usr/etc/app',
        // --chown finds app in the passwd the link leads to; the directories exist, so the layer holds only the file.
        'COPY --chown=app conf /usr/etc/app/',
        'COPY --chown=app:app conf /etc/direct',
        'COPY conf /etc/app/',
      ].join('\n'),
      { conf: 'c' },
    );
    expect(added).toEqual([
      ['usr/etc/app/conf file 1234:4321'],
      ['usr/etc/direct file 1234:4321'],
      ['usr/etc/app/conf file 0:0'],
    ]);
    expect(await at(root, 'etc')).toBe('-> /usr/etc');
    expect(await at(root, 'usr/etc/direct')).toBe(`c${own(1234, 4321)}`);
    expect((await lstat(path.join(root, 'usr/etc/app'))).mode & 0o7777).toBe(0o750);
  });

  test('a relative link climbing out of the root clamps at it', async () => {
    const base = await baseImage([
      [dir('app'), sym('app/data', '../../../srv/data')],
      [file('app/data/seed', 's')],
    ]);
    const { added, root } = await buildAndUnpack(
      base,
      ['WORKDIR /app/data', 'COPY f /srv/data/', 'COPY f /app/data/g'].join('\n'),
      {
        f: 'f',
      },
    );
    expect(added).toEqual([['srv/data/f file 0:0'], ['srv/data/g file 0:0']]);
    expect(await at(root, 'srv/data/seed')).toBe(`s${own(0)}`);
    expect(await at(root, 'app/data')).toBe('-> ../../../srv/data');
  });

  test('hardlinks through links: a hardlink to a symlink is a directory to COPY into; COPY --from copies files', async () => {
    const base = await baseImage([
      [dir('d'), file('d/f', 'data'), sym('l', '/d'), hard('h', 'l/f'), sym('s', 'd'), hard('hs', 's')],
      [
        dir('bin'),
        file('bin/busybox', 'bb'),
        hard('bin/sh', 'bin/busybox'),
        sym('b', 'bin'),
        hard('bin/ls', 'b/sh'),
      ],
    ]);
    const { added, root } = await buildAndUnpack(
      // The output is the scratch stage: list all its layers.
      { ref: base.ref, layers: 0 },
      [
        // hs -> s -> d: the file lands in d/.
        'COPY x /hs/',
        'FROM scratch',
        'COPY --from=0 /d/x /through-hs',
        // A hardlink alone is copied as the file it names (its first name is not copied).
        'COPY --from=0 /h /copied-h',
        // Within a copied directory, names of one file stay hardlinks, to the first name copied.
        'COPY --from=0 /bin /out/',
      ].join('\n'),
      { x: 'x' },
    );
    expect(added).toEqual([
      ['through-hs file 0:0'],
      ['copied-h file 0:0'],
      [
        'out dir 0:0',
        'out/busybox file 0:0',
        'out/ls hardlink out/busybox 0:0',
        'out/sh hardlink out/busybox 0:0',
      ],
    ]);
    expect(await at(root, 'through-hs')).toBe(`x${own(0)}`);
    expect(await at(root, 'copied-h')).toBe(`data${own(0)}`);
    expect(await at(root, 'out/sh')).toBe(`bb${own(0)} links=3`);
  });

  test('a hardlink to a symlink added by ADD is followed by a later COPY', async () => {
    const base = await baseImage([[dir('etc')]]);
    const archive = rawTar([dir('d'), sym('s', 'd'), hard('h', 's')]);
    const { added, root } = await buildAndUnpack(base, ['ADD a.tar /opt/', 'COPY x /opt/h/'].join('\n'), {
      'a.tar': archive,
      x: 'x',
    });
    expect(added[1]).toEqual(['opt/d/x file 0:0']);
    expect(await at(root, 'opt/h')).toBe('-> d');
    expect(await at(root, 'opt/d/x')).toBe(`x${own(0)}`);
  });
});
