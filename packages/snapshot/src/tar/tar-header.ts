import type { Xattrs } from '../fs/file-system.js';

/**
 * TarHeader: one tar entry's metadata, independent of how it is encoded (ustar fields, PAX
 * records, GNU long-name entries). Written by {@link encodeTarHeader}, read by `readTar`.
 */
export interface TarHeader {
  /** Path as stored, without a trailing `/` (the encoder adds it for directories). */
  name: string;
  type: TarEntryType;
  /** Permission bits including setuid/setgid/sticky. */
  mode: number;
  uid: number;
  gid: number;
  /** Content bytes (regular files only; 0 for every other type). */
  size: number;
  /** Modification time in milliseconds; fractional seconds are kept only through PAX `mtime`. */
  mtimeMs: number;
  linkname: string;
  uname: string;
  gname: string;
  devmajor: number;
  devminor: number;
  xattrs: Xattrs | undefined;
}

/** The entry types a layer may contain. */
export type TarEntryType = 'file' | 'dir' | 'symlink' | 'hardlink' | 'char' | 'block' | 'fifo';

/** Tar's block size: headers and the padding after content are multiples of it. */
export const BLOCK = 512;

const TYPE_FLAGS: Record<TarEntryType, number> = {
  file: 0x30,
  hardlink: 0x31,
  symlink: 0x32,
  char: 0x33,
  block: 0x34,
  dir: 0x35,
  fifo: 0x36,
};

// Largest values the ustar numeric fields hold as octal (POSIX ustar): 7 digits for ids and
// modes, 11 digits for size and mtime. Larger values go to PAX records.
const MAX_ID = 0o7777777;
const MAX_SIZE = 0o77777777777;

/** Options of {@link encodeTarHeader}. */
export interface EncodeOptions {
  /** Keep fractional seconds of `mtimeMs` in a PAX `mtime` record (else truncated, as Go's archive/tar does). */
  subsecondMtime?: boolean;
}

/** Byte length of the padding that follows `size` bytes of content. */
export function padding(size: number): number {
  const r = size % BLOCK;
  return r === 0 ? 0 : BLOCK - r;
}

function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7e || s.charCodeAt(i) === 0) return false;
  return true;
}

/** Splits a path into ustar's prefix (≤155 bytes) and name (≤100 bytes) at a `/`, or undefined. */
function splitUstar(path: string): [prefix: string, name: string] | undefined {
  if (path.length <= 100) return ['', path];
  for (let i = path.indexOf('/'); i >= 0; i = path.indexOf('/', i + 1)) {
    if (i > 155) return undefined;
    if (path.length - i - 1 <= 100 && path.length - i - 1 > 0) return [path.slice(0, i), path.slice(i + 1)];
  }
  return undefined;
}

function writeOctal(buf: Buffer, value: number, offset: number, width: number): void {
  // width includes the terminating NUL.
  buf.write(
    Math.trunc(value)
      .toString(8)
      .padStart(width - 1, '0'),
    offset,
    width - 1,
    'latin1',
  );
}

/** One PAX record `"<len> <key>=<value>\n"`, where len counts the whole record including itself. */
function paxRecord(key: string, value: Buffer): Buffer {
  const body = 1 + Buffer.byteLength(key) + 1 + value.length + 1;
  let len = body + String(body).length;
  if (String(len).length !== String(body).length) len = body + String(len).length;
  return Buffer.concat([Buffer.from(`${len} ${key}=`), value, Buffer.from('\n')]);
}

/** Milliseconds as a PAX time (`seconds[.fraction]`); seconds and nanoseconds are computed apart to stay exact. */
function formatMtime(ms: number): string {
  const neg = ms < 0;
  const abs = Math.abs(ms);
  let sec = Math.floor(abs / 1000);
  let ns = Math.round((abs - sec * 1000) * 1e6);
  if (ns >= 1e9) {
    sec += 1;
    ns -= 1e9;
  }
  const frac = String(ns).padStart(9, '0').replace(/0+$/, '');
  return `${neg ? '-' : ''}${sec}${frac ? `.${frac}` : ''}`;
}

/**
 * Encodes one entry's header: a PAX extended header (when some value does not fit ustar:
 * non-ASCII or long names and link targets, ids > 2097151, sizes ≥ 8 GiB, sub-second or
 * out-of-range mtimes, long user/group names, xattrs as `SCHILY.xattr.*`) followed by the ustar
 * header. Content and its padding are the caller's to write.
 */
export function encodeTarHeader(h: TarHeader, options: EncodeOptions = {}): Buffer {
  const name = h.type === 'dir' ? `${h.name}/` : h.name;
  const records: Buffer[] = [];
  const pax = (key: string, value: string | Buffer) =>
    records.push(paxRecord(key, typeof value === 'string' ? Buffer.from(value) : value));

  const split = isAscii(name) ? splitUstar(name) : undefined;
  if (!split) pax('path', name);
  const linkFits = isAscii(h.linkname) && h.linkname.length <= 100;
  if (!linkFits) pax('linkpath', h.linkname);
  if (h.uid > MAX_ID || h.uid < 0) pax('uid', String(h.uid));
  if (h.gid > MAX_ID || h.gid < 0) pax('gid', String(h.gid));
  if (h.size > MAX_SIZE) pax('size', String(h.size));
  const sec = Math.floor(h.mtimeMs / 1000);
  const fractional = options.subsecondMtime === true && sec * 1000 !== h.mtimeMs;
  if (fractional || sec < 0 || sec > MAX_SIZE)
    pax('mtime', formatMtime(options.subsecondMtime ? h.mtimeMs : sec * 1000));
  const unameFits = isAscii(h.uname) && h.uname.length <= 31;
  const gnameFits = isAscii(h.gname) && h.gname.length <= 31;
  if (!unameFits) pax('uname', h.uname);
  if (!gnameFits) pax('gname', h.gname);
  if (h.xattrs) {
    for (const key of Object.keys(h.xattrs).sort()) pax(`SCHILY.xattr.${key}`, h.xattrs[key]!);
  }

  const ustar = Buffer.alloc(BLOCK);
  const [prefix, shortName] = split ?? ['', asciiTail(name, 100)];
  ustar.write(shortName, 0, 100, 'latin1');
  writeOctal(ustar, h.mode & 0o7777, 100, 8);
  writeOctal(ustar, h.uid > MAX_ID || h.uid < 0 ? 0 : h.uid, 108, 8);
  writeOctal(ustar, h.gid > MAX_ID || h.gid < 0 ? 0 : h.gid, 116, 8);
  writeOctal(ustar, h.size > MAX_SIZE ? 0 : h.size, 124, 12);
  writeOctal(ustar, sec < 0 || sec > MAX_SIZE ? 0 : sec, 136, 12);
  ustar[156] = TYPE_FLAGS[h.type];
  if (h.linkname) ustar.write(linkFits ? h.linkname : asciiTail(h.linkname, 100), 157, 100, 'latin1');
  ustar.write('ustar\u000000', 257, 8, 'latin1');
  if (unameFits) ustar.write(h.uname, 265, 32, 'latin1');
  if (gnameFits) ustar.write(h.gname, 297, 32, 'latin1');
  if (h.type === 'char' || h.type === 'block') {
    writeOctal(ustar, h.devmajor, 329, 8);
    writeOctal(ustar, h.devminor, 337, 8);
  }
  if (prefix) ustar.write(prefix, 345, 155, 'latin1');
  writeChecksum(ustar);
  if (records.length === 0) return ustar;

  const body = Buffer.concat(records);
  const paxHeader = Buffer.alloc(BLOCK);
  // The PAX header's own name is informative only; GNU tar uses "<dir>/PaxHeaders/<base>".
  paxHeader.write(asciiTail(`PaxHeaders/${name.replace(/\/$/, '')}`, 100), 0, 100, 'latin1');
  writeOctal(paxHeader, 0o644, 100, 8);
  writeOctal(paxHeader, 0, 108, 8);
  writeOctal(paxHeader, 0, 116, 8);
  writeOctal(paxHeader, body.length, 124, 12);
  writeOctal(paxHeader, sec < 0 || sec > MAX_SIZE ? 0 : sec, 136, 12);
  paxHeader[156] = 0x78; // 'x'
  paxHeader.write('ustar\u000000', 257, 8, 'latin1');
  writeChecksum(paxHeader);
  return Buffer.concat([paxHeader, body, Buffer.alloc(padding(body.length)), ustar]);
}

/** The last `max` bytes of a path made ASCII, for ustar fields whose real value is in PAX. */
function asciiTail(s: string, max: number): string {
  const ascii = s.replace(/[^\x20-\x7e]/g, '_');
  return ascii.length <= max ? ascii : ascii.slice(ascii.length - max);
}

function writeChecksum(block: Buffer): void {
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += block[i]!;
  block.write(`${sum.toString(8).padStart(6, '0')}\u0000 `, 148, 8, 'latin1');
}

/** The two zero blocks that end an archive. */
export const END_OF_ARCHIVE = Buffer.alloc(2 * BLOCK);
