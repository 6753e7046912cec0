import type { FileHandle } from 'node:fs/promises';

/**
 * The little of the tar format (POSIX ustar, plus reading pax and GNU long names) that a
 * docker-archive needs: headers for flat files on write, and an index of entries
 * (name → data offset, size) on read, found by seeking from header to header without reading
 * the data in between.
 */

const BLOCK = 512;

function octal(buf: Buffer, value: number, offset: number, length: number): void {
  buf.write(`${value.toString(8).padStart(length - 1, '0')}\0`, offset, length, 'ascii');
}

/** tarHeader: a ustar header for a regular file (mode 0644, owner 0:0, mtime 0: reproducible). */
export function tarHeader(name: string, size: number): Buffer {
  if (Buffer.byteLength(name) > 100) throw new Error(`tar entry name too long: ${name}`);
  const h = Buffer.alloc(BLOCK);
  h.write(name, 0, 100, 'utf8');
  octal(h, 0o644, 100, 8);
  octal(h, 0, 108, 8);
  octal(h, 0, 116, 8);
  if (size < 8 ** 11) octal(h, size, 124, 12);
  else {
    // GNU base-256 size for entries of 8 GiB and more.
    h[124] = 0x80;
    let v = BigInt(size);
    for (let i = 135; i > 124; i--) {
      h[i] = Number(v & 0xffn);
      v >>= 8n;
    }
  }
  octal(h, 0, 136, 12);
  h.write('        ', 148, 8, 'ascii');
  h.write('0', 156, 1, 'ascii');
  h.write('ustar\0', 257, 6, 'ascii');
  h.write('00', 263, 2, 'ascii');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'ascii');
  return h;
}

/** tarPadding: zero bytes that round `size` up to a whole block. */
export function tarPadding(size: number): Buffer {
  return Buffer.alloc((BLOCK - (size % BLOCK)) % BLOCK);
}

/** TAR_END: the two zero blocks that end an archive. */
export const TAR_END = Buffer.alloc(BLOCK * 2);

/** TarEntryLocation: where a regular file's data lies in the archive. */
export interface TarEntryLocation {
  offset: number;
  size: number;
}

function readNumber(h: Buffer, offset: number, length: number): number {
  if (h[offset]! & 0x80) {
    let v = 0n;
    for (let i = offset + 1; i < offset + length; i++) v = (v << 8n) | BigInt(h[i]!);
    return Number(v);
  }
  const s = h
    .toString('ascii', offset, offset + length)
    .replace(/\0.*$/s, '')
    .trim();
  return s ? Number.parseInt(s, 8) : 0;
}

function cString(h: Buffer, offset: number, length: number): string {
  const end = h.indexOf(0, offset);
  return h.toString('utf8', offset, end === -1 || end > offset + length ? offset + length : end);
}

function parsePax(data: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let i = 0;
  while (i < data.length) {
    const sp = data.indexOf(0x20, i);
    if (sp === -1) break;
    const len = Number(data.toString('ascii', i, sp));
    if (!len) break;
    const rec = data.toString('utf8', sp + 1, i + len - 1);
    const eq = rec.indexOf('=');
    out[rec.slice(0, eq)] = rec.slice(eq + 1);
    i += len;
  }
  return out;
}

/** indexTar: maps each regular file's normalised name (no leading `./`) to its data location. */
export async function indexTar(fh: FileHandle, where: string): Promise<Map<string, TarEntryLocation>> {
  const out = new Map<string, TarEntryLocation>();
  const h = Buffer.alloc(BLOCK);
  let pos = 0;
  let pending: { path?: string; size?: number } = {};
  for (;;) {
    const { bytesRead } = await fh.read(h, 0, BLOCK, pos);
    if (bytesRead < BLOCK || h.every((b) => b === 0)) break;
    let sum = 0;
    for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : h[i]!;
    if (sum !== readNumber(h, 148, 8)) throw new Error(`${where}: bad tar header checksum at offset ${pos}`);
    const type = String.fromCharCode(h[156]!);
    let size = readNumber(h, 124, 12);
    const dataAt = pos + BLOCK;
    if (type === 'x' || type === 'L') {
      const data = Buffer.alloc(size);
      await fh.read(data, 0, size, dataAt);
      if (type === 'x') {
        const pax = parsePax(data);
        if (pax.path) pending.path = pax.path;
        if (pax.size) pending.size = Number(pax.size);
      } else pending.path = data.toString('utf8').replace(/\0+$/, '');
    } else {
      const prefix = h.toString('ascii', 257, 262) === 'ustar' ? cString(h, 345, 155) : '';
      let name = pending.path ?? (prefix ? `${prefix}/${cString(h, 0, 100)}` : cString(h, 0, 100));
      if (pending.size !== undefined) size = pending.size;
      name = name.replace(/^(\.\/)+/, '');
      if (type === '0' || type === '\0' || type === '7') out.set(name, { offset: dataAt, size });
      pending = {};
    }
    pos = dataAt + size + ((BLOCK - (size % BLOCK)) % BLOCK);
  }
  return out;
}
