import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { extract } from 'tar-stream';

/** One tar entry of a layer, as {@link listLayer} reports it. @public */
export interface LayerTarEntry {
  /** Name without a leading `./` or `/` and without a trailing `/`. */
  name: string;
  /** tar-stream's type: file, directory, symlink, link, character-device, ... */
  type: string;
  /** Permission bits, octal. */
  mode: string;
  uid: number;
  gid: number;
  size: number;
  /** Target of a symlink or hardlink. */
  linkname?: string;
  /** Extended attributes from pax `SCHILY.xattr.*` records (values as tar-stream decodes them). */
  xattrs?: Record<string, string>;
}

/** `{ xattrs }` from an entry's pax records (tar-stream keeps them on `header.pax`), or `{}`. */
function xattrsOf(h: object): { xattrs?: Record<string, string> } {
  const pax = (h as { pax?: Record<string, string> | null }).pax ?? {};
  const entries = Object.entries(pax)
    .filter(([k]) => k.startsWith('SCHILY.xattr.'))
    .map(([k, v]) => [k.slice('SCHILY.xattr.'.length), v] as const)
    .sort(([a], [b]) => (a < b ? -1 : 1));
  return entries.length ? { xattrs: Object.fromEntries(entries) as Record<string, string> } : {};
}

/** The compression of a blob, from its first bytes. */
function compressionOf(head: Buffer): 'gzip' | 'zstd' | 'none' {
  if (head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
  return 'none';
}

async function firstBytes(file: string): Promise<Buffer> {
  for await (const chunk of createReadStream(file, { start: 0, end: 3 })) return chunk as Buffer;
  return Buffer.alloc(4);
}

/** Decompressed contents of a layer blob (gzip by zlib, zstd by the `zstd` tool, plain as is). @internal */
export async function openLayer(file: string): Promise<Readable> {
  const kind = compressionOf(await firstBytes(file));
  if (kind === 'gzip') return createReadStream(file).pipe(createGunzip());
  if (kind === 'none') return createReadStream(file);
  const child = spawn('zstd', ['-dc', file], { stdio: ['ignore', 'pipe', 'inherit'] });
  const out = new PassThrough();
  child.stdout.pipe(out);
  child.on('close', (code) => {
    if (code !== 0) out.destroy(new Error(`zstd -dc ${file} exited with ${code}`));
  });
  return out;
}

/**
 * listLayer: the entries of one layer blob (gzip, zstd or uncompressed tar) in archive
 * order, with names normalized and the root entry (`.`, `./`) left out. Streams; reads the
 * whole blob once.
 * @public
 */
export async function listLayer(blobFile: string): Promise<LayerTarEntry[]> {
  const entries: LayerTarEntry[] = [];
  const ex = extract();
  ex.on('entry', (h, stream, next) => {
    const name = h.name.replace(/^\.?\/+/, '').replace(/\/+$/, '');
    if (name !== '' && name !== '.') {
      entries.push({
        name,
        type: h.type ?? 'file',
        mode: ((h.mode ?? 0) & 0o7777).toString(8).padStart(4, '0'),
        uid: h.uid ?? 0,
        gid: h.gid ?? 0,
        size: h.size ?? 0,
        ...(h.linkname ? { linkname: h.linkname } : {}),
        ...xattrsOf(h),
      });
    }
    stream.on('end', next);
    stream.resume();
  });
  await pipeline(await openLayer(blobFile), ex);
  return entries;
}

/**
 * listLayers: {@link listLayer} of every layer of `manifest` in the OCI layout `layoutDir`,
 * each sorted by name (archive order differs between builders and does not matter to
 * extraction).
 * @public
 */
export async function listLayers(
  layoutDir: string,
  manifest: { layers: { digest: string }[] },
): Promise<LayerTarEntry[][]> {
  const all: LayerTarEntry[][] = [];
  for (const l of manifest.layers) {
    const entries = await listLayer(join(layoutDir, 'blobs', ...l.digest.split(':')));
    all.push(entries.sort((a, b) => Buffer.compare(Buffer.from(a.name), Buffer.from(b.name))));
  }
  return all;
}

/** formatLayerEntry: `type mode uid:gid size name[ -> link][ xattrs={…}]`, tab-separated. @public */
export function formatLayerEntry(e: LayerTarEntry): string {
  const name = e.name + (e.linkname ? ` -> ${e.linkname}` : '');
  const cols = [e.type, e.mode, `${e.uid}:${e.gid}`, e.size, name];
  if (e.xattrs) cols.push(`xattrs=${JSON.stringify(e.xattrs)}`);
  return cols.join('\t');
}
