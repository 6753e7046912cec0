import { join, posix } from 'node:path';
import type { Readable } from 'node:stream';
import { openLayer } from './layer-listing.js';

/** One tar entry's name, type flag, link target and `SCHILY.xattr.*` records (values in hex). @public */
export interface XattrTarEntry {
  /** Name without a leading `./` or `/` and without a trailing `/`. */
  name: string;
  /** The ustar type flag as a character (`0` file, `1` hardlink, `2` symlink, `5` directory…). */
  type: string;
  linkname: string;
  /** Attribute name → value as lowercase hex (binary-safe, unlike tar-stream's UTF-8 decoding). */
  xattrs: Record<string, string>;
}

/** Reads exactly-sized pieces from a stream of chunks. */
class Bytes {
  private buf = Buffer.alloc(0);
  private readonly it: AsyncIterator<Buffer>;
  constructor(stream: Readable) {
    this.it = stream[Symbol.asyncIterator]();
  }
  /** `n` bytes, or fewer at the end of the stream. */
  async read(n: number): Promise<Buffer> {
    while (this.buf.length < n) {
      const next = await this.it.next();
      if (next.done) break;
      this.buf = Buffer.concat([this.buf, next.value]);
    }
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(out.length);
    return out;
  }
  async discard(n: number): Promise<void> {
    for (let left = n; left > 0; ) {
      const got = await this.read(Math.min(left, 1 << 20));
      if (got.length === 0) return;
      left -= got.length;
    }
  }
}

const text = (b: Buffer, off: number, len: number) => {
  const field = b.subarray(off, off + len);
  const nul = field.indexOf(0);
  return field.subarray(0, nul < 0 ? field.length : nul).toString('utf8');
};

function octal(b: Buffer, off: number, len: number): number {
  // GNU base-256 for large values: high bit of the first byte set.
  if (b[off]! & 0x80) {
    let v = b[off]! & 0x7f;
    for (let i = 1; i < len; i++) v = v * 256 + b[off + i]!;
    return v;
  }
  return Number.parseInt(text(b, off, len).trim() || '0', 8);
}

/** PAX records `<len> <key>=<value>\n`, values kept as bytes. */
function paxRecords(body: Buffer): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  let pos = 0;
  while (pos < body.length) {
    const sp = body.indexOf(0x20, pos);
    const len = Number.parseInt(body.toString('latin1', pos, sp), 10);
    if (sp < 0 || !(len > 0)) break;
    const rec = body.subarray(sp + 1, pos + len - 1);
    const eq = rec.indexOf(0x3d);
    if (eq > 0) out.set(rec.toString('utf8', 0, eq), rec.subarray(eq + 1));
    pos += len;
  }
  return out;
}

const pad = (n: number) => (512 - (n % 512)) % 512;

/**
 * layerXattrEntries: every entry of a layer blob (gzip, zstd or plain) in archive order, with its
 * `SCHILY.xattr.*` PAX records read byte for byte. A small tar reader of its own, independent of
 * kiln's, so the oracle does not judge kiln with kiln's code. @public
 */
export async function layerXattrEntries(blobFile: string): Promise<XattrTarEntry[]> {
  const r = new Bytes(await openLayer(blobFile));
  const entries: XattrTarEntry[] = [];
  let pax = new Map<string, Buffer>();
  let longName: string | undefined;
  let longLink: string | undefined;
  for (;;) {
    const h = await r.read(512);
    if (h.length < 512 || h.every((b) => b === 0)) break;
    const size = octal(h, 124, 12);
    const type = String.fromCharCode(h[156] || 0x30);
    if (type === 'x' || type === 'g' || type === 'L' || type === 'K') {
      const body = await r.read(size);
      await r.discard(pad(size));
      if (type === 'x') pax = paxRecords(body);
      if (type === 'L') longName = text(body, 0, body.length);
      if (type === 'K') longLink = text(body, 0, body.length);
      continue;
    }
    const magic = h.toString('latin1', 257, 262);
    const prefix = magic === 'ustar' ? text(h, 345, 155) : '';
    const raw =
      pax.get('path')?.toString() ?? longName ?? (prefix ? `${prefix}/${text(h, 0, 100)}` : text(h, 0, 100));
    const linkname = pax.get('linkpath')?.toString() ?? longLink ?? text(h, 157, 100);
    const xattrs: Record<string, string> = {};
    for (const [k, v] of [...pax].sort(([a], [b]) => (a < b ? -1 : 1))) {
      if (k.startsWith('SCHILY.xattr.')) xattrs[k.slice(13)] = v.toString('hex');
    }
    const name = raw.replace(/^\.?\/+/, '').replace(/\/+$/, '');
    if (name !== '' && name !== '.')
      entries.push({ name, type, linkname: linkname.replace(/^\.?\/+/, ''), xattrs });
    const content = pax.has('size') ? Number(pax.get('size')!.toString()) : size;
    // Links, devices, directories and FIFOs have no content whatever their size field says.
    if (!'123456'.includes(type)) await r.discard(content + pad(content));
    pax = new Map();
    longName = undefined;
    longLink = undefined;
  }
  return entries;
}

/**
 * flattenXattrs: the xattrs each path of the flattened image carries, applying layers in order the
 * way extraction does: whiteouts (`.wh.<name>`, `.wh..wh..opq`) remove lower layers' paths, a
 * non-directory replaces what was there (its xattrs or none), a directory merges (keeps earlier
 * xattrs, adds its own), a hardlink shares its target's. Paths without xattrs are left out.
 * @public
 */
export function flattenXattrs(layers: XattrTarEntry[][]): Map<string, Record<string, string>> {
  const flat = new Map<string, Record<string, string>>();
  const dropBelow = (dir: string) => {
    for (const k of [...flat.keys()]) if (k.startsWith(`${dir}/`)) flat.delete(k);
  };
  for (const layer of layers) {
    for (const e of layer) {
      const base = posix.basename(e.name);
      const dir = posix.dirname(e.name);
      if (base === '.wh..wh..opq') {
        if (dir === '.') flat.clear();
        else dropBelow(dir);
      } else if (base.startsWith('.wh.')) {
        const target = dir === '.' ? base.slice(4) : `${dir}/${base.slice(4)}`;
        flat.delete(target);
        dropBelow(target);
      }
    }
    for (const e of layer) {
      if (posix.basename(e.name).startsWith('.wh.')) continue;
      const own = Object.keys(e.xattrs).length > 0 ? e.xattrs : undefined;
      if (e.type === '5') {
        if (own) flat.set(e.name, { ...flat.get(e.name), ...own });
        continue;
      }
      dropBelow(e.name);
      const value = e.type === '1' ? flat.get(e.linkname) : own;
      if (value) flat.set(e.name, value);
      else flat.delete(e.name);
    }
  }
  return flat;
}

/** The flattened xattrs of an image in an OCI layout (see {@link flattenXattrs}). @public */
export async function imageXattrs(
  layoutDir: string,
  manifest: { layers: { digest: string }[] },
): Promise<Map<string, Record<string, string>>> {
  const layers = await Promise.all(
    manifest.layers.map((l) => layerXattrEntries(join(layoutDir, 'blobs', ...l.digest.split(':')))),
  );
  return flattenXattrs(layers);
}

/** One line per path and attribute: `path\tname=hex`, sorted. @public */
export function formatXattrs(flat: Map<string, Record<string, string>>): Map<string, string> {
  const out = new Map<string, string>();
  for (const [p, x] of flat) {
    out.set(
      p,
      Object.entries(x)
        .map(([k, v]) => `${k}=${v}`)
        .join(' '),
    );
  }
  return out;
}
