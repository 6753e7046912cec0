import type { Readable } from 'node:stream';
import { SnapshotError } from '../errors.js';
import type { Xattrs } from '../fs/file-system.js';
import { BLOCK, padding, type TarEntryType, type TarHeader } from './tar-header.js';

/**
 * One entry of a tar stream. `body()` yields the content as slices of the underlying chunks
 * (no copy); an entry whose body is not read is skipped when the next entry is requested.
 */
export interface TarEntry {
  header: TarHeader;
  body(): AsyncGenerator<Buffer>;
}

/** Pulls exact byte counts from a chunk iterator without copying whole chunks. */
class ByteSource {
  private buf: Buffer = Buffer.alloc(0);
  private off = 0;
  /** Bytes consumed so far (for error messages). */
  position = 0;
  constructor(private readonly it: AsyncIterator<Buffer>) {}

  private async fill(): Promise<boolean> {
    while (this.off >= this.buf.length) {
      const r = await this.it.next();
      if (r.done) return false;
      this.buf = typeof r.value === 'string' ? Buffer.from(r.value) : r.value;
      this.off = 0;
    }
    return true;
  }

  /** Exactly `n` bytes, or undefined at a clean end of stream (before any byte). */
  async read(n: number): Promise<Buffer | undefined> {
    if (!(await this.fill())) return undefined;
    if (this.buf.length - this.off >= n) {
      const out = this.buf.subarray(this.off, this.off + n);
      this.off += n;
      this.position += n;
      return out;
    }
    const parts: Buffer[] = [];
    let need = n;
    while (need > 0) {
      if (!(await this.fill())) throw truncated(this.position);
      const take = Math.min(need, this.buf.length - this.off);
      parts.push(this.buf.subarray(this.off, this.off + take));
      this.off += take;
      this.position += take;
      need -= take;
    }
    return Buffer.concat(parts, n);
  }

  async *slices(n: number): AsyncGenerator<Buffer> {
    let need = n;
    while (need > 0) {
      if (!(await this.fill())) throw truncated(this.position);
      const take = Math.min(need, this.buf.length - this.off);
      const out = this.buf.subarray(this.off, this.off + take);
      this.off += take;
      this.position += take;
      need -= take;
      yield out;
    }
  }

  async discard(n: number): Promise<void> {
    for await (const _ of this.slices(n)) {
      // discard
    }
  }

  async drain(): Promise<void> {
    this.off = this.buf.length;
    while (!(await this.it.next()).done) {
      // Read to the end so that digest-verifying streams upstream see every byte.
    }
  }
}

/** Largest PAX or GNU long-name record accepted (xattrs included); real ones are a few KiB. */
const MAX_META = 8 * 1024 * 1024;

function truncated(position: number): SnapshotError {
  return new SnapshotError('KILN_TAR_INVALID', `tar stream truncated at byte ${position}`);
}

function parseNumber(buf: Buffer, offset: number, length: number): number {
  const field = buf.subarray(offset, offset + length);
  if (field[0]! & 0x80) {
    // GNU base-256: big-endian two's complement, first byte's high bit is the marker.
    const negative = (field[0]! & 0x40) !== 0;
    let value = 0;
    for (let i = 0; i < field.length; i++) {
      let byte = i === 0 ? field[i]! & 0x7f : field[i]!;
      if (negative) byte = (i === 0 ? 0x7f : 0xff) - byte;
      value = value * 256 + byte;
    }
    return negative ? -(value + 1) : value;
  }
  let s = 0;
  let e = field.length;
  while (s < e && (field[s] === 0x20 || field[s] === 0)) s++;
  for (let i = s; i < e; i++) {
    if (field[i] === 0 || field[i] === 0x20) {
      e = i;
      break;
    }
  }
  if (s === e) return 0;
  const text = field.toString('latin1', s, e);
  if (!/^[0-7]+$/.test(text))
    throw new SnapshotError('KILN_TAR_INVALID', `bad octal number ${JSON.stringify(text)} in tar header`);
  return Number.parseInt(text, 8);
}

function parseString(buf: Buffer, offset: number, length: number): string {
  const end = buf.indexOf(0, offset);
  return buf.toString('utf8', offset, end < 0 || end > offset + length ? offset + length : end);
}

function checksumOk(block: Buffer): boolean {
  const stored = parseNumber(block, 148, 8);
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const b = i >= 148 && i < 156 ? 0x20 : block[i]!;
    unsigned += b;
    signed += b > 127 ? b - 256 : b;
  }
  return stored === unsigned || stored === signed;
}

function isZeroBlock(block: Buffer): boolean {
  for (let i = 0; i < BLOCK; i++) if (block[i] !== 0) return false;
  return true;
}

/** PAX records: `path`, `linkpath`, ids, `size`, `mtime`, names, and xattrs (SCHILY and LIBARCHIVE forms). */
interface Pax {
  strings: Map<string, string>;
  xattrs: Xattrs;
}

function parsePax(data: Buffer, into: Pax): void {
  let pos = 0;
  while (pos < data.length) {
    const space = data.indexOf(0x20, pos);
    if (space < 0) break;
    const len = Number.parseInt(data.toString('latin1', pos, space), 10);
    if (!Number.isFinite(len) || len <= 0 || pos + len > data.length) {
      throw new SnapshotError('KILN_TAR_INVALID', `malformed PAX record at offset ${pos}`);
    }
    const record = data.subarray(space + 1, pos + len - 1); // drop the trailing '\n'
    const eq = record.indexOf(0x3d);
    if (eq > 0) {
      const key = record.toString('utf8', 0, eq);
      const value = record.subarray(eq + 1);
      if (key.startsWith('SCHILY.xattr.')) into.xattrs[key.slice(13)] = Buffer.from(value);
      else if (key.startsWith('LIBARCHIVE.xattr.')) {
        into.xattrs[decodeURIComponent(key.slice(17))] = Buffer.from(value.toString('latin1'), 'base64');
      } else into.strings.set(key, value.toString('utf8'));
    }
    pos += len;
  }
}

/** A PAX time (`seconds[.fraction]`) in milliseconds, without the float error of `Number(t) * 1000`. */
function paxTimeMs(text: string): number {
  const m = /^(-?)(\d+)(?:\.(\d+))?$/.exec(text);
  if (!m) throw new SnapshotError('KILN_TAR_INVALID', `malformed PAX time ${JSON.stringify(text)}`);
  const ms = Number(m[2]) * 1000 + Number((m[3] ?? '').padEnd(9, '0').slice(0, 9)) / 1e6;
  return m[1] ? -ms : ms;
}

const TYPES: Record<number, TarEntryType> = {
  48: 'file',
  0: 'file',
  55: 'file', // contiguous file: an ordinary file for every practical reader
  49: 'hardlink',
  50: 'symlink',
  51: 'char',
  52: 'block',
  53: 'dir',
  54: 'fifo',
};

/**
 * readTar: parses an uncompressed tar stream (ustar, PAX incl. global headers, GNU long
 * names/links, base-256 numbers, old v7 headers) into entries, one at a time. Content is
 * streamed, never buffered (except PAX and long-name records). After the end-of-archive
 * marker the rest of the stream is drained. GNU sparse files and multi-volume entries are
 * rejected with `KILN_TAR_INVALID`.
 */
export async function* readTar(stream: Readable | AsyncIterable<Buffer>): AsyncGenerator<TarEntry> {
  const src = new ByteSource((stream as AsyncIterable<Buffer>)[Symbol.asyncIterator]());
  const global: Pax = { strings: new Map(), xattrs: {} };
  let local: Pax = { strings: new Map(), xattrs: {} };
  let longName: string | undefined;
  let longLink: string | undefined;
  let pending = 0; // unread body + padding bytes of the previous entry
  for (;;) {
    if (pending > 0) await src.discard(pending);
    pending = 0;
    const start = src.position;
    const block = await src.read(BLOCK);
    if (!block) return; // end of stream without an end marker: accepted, as GNU tar does
    if (isZeroBlock(block)) {
      await src.drain();
      return;
    }
    if (!checksumOk(block)) {
      throw new SnapshotError(
        'KILN_TAR_INVALID',
        `bad tar header checksum at byte ${start} (not a tar stream?)`,
      );
    }
    const flag = block[156]!;
    const size = parseNumber(block, 124, 12);
    if (flag === 0x78 || flag === 0x67 || flag === 0x4c || flag === 0x4b) {
      // 'x' PAX, 'g' global PAX, 'L' GNU long name, 'K' GNU long link: metadata for what follows.
      // They are held in memory, so their size is bounded (a hostile header could claim gigabytes).
      if (size > MAX_META) {
        throw new SnapshotError(
          'KILN_TAR_INVALID',
          `tar metadata record of ${size} bytes (limit ${MAX_META}) at byte ${start}`,
        );
      }
      const data = size > 0 ? await src.read(size) : Buffer.alloc(0);
      if (!data) throw truncated(src.position);
      await src.discard(padding(size));
      if (flag === 0x78) parsePax(data, local);
      else if (flag === 0x67) parsePax(data, global);
      else if (flag === 0x4c) longName = parseString(data, 0, data.length);
      else longLink = parseString(data, 0, data.length);
      continue;
    }
    let type = TYPES[flag];
    if (!type) {
      const name = parseString(block, 0, 100);
      throw new SnapshotError(
        'KILN_TAR_INVALID',
        `unsupported tar entry type ${JSON.stringify(String.fromCharCode(flag))}`,
        {
          entry: name,
        },
      );
    }
    const ustar = block.toString('latin1', 257, 262) === 'ustar';
    let name = parseString(block, 0, 100);
    if (ustar) {
      const prefix = parseString(block, 345, 155);
      if (prefix && block.toString('latin1', 257, 263) !== 'ustar ') name = `${prefix}/${name}`;
    }
    const pax = (key: string) => local.strings.get(key) ?? global.strings.get(key);
    name = pax('path') ?? longName ?? name;
    if (type === 'file' && flag === 0 && name.endsWith('/')) type = 'dir';
    const linkname = pax('linkpath') ?? longLink ?? parseString(block, 157, 100);
    const num = (key: string, fallback: number) => {
      const v = pax(key);
      return v === undefined ? fallback : Number(v);
    };
    const mtimeText = pax('mtime');
    const entrySize = num('size', size);
    const hasBody = type === 'file';
    const xattrs = { ...global.xattrs, ...local.xattrs };
    const header: TarHeader = {
      name: name.replace(/\/+$/, '') || (name ? '/' : ''),
      type,
      mode: parseNumber(block, 100, 8) & 0o7777,
      uid: num('uid', parseNumber(block, 108, 8)),
      gid: num('gid', parseNumber(block, 116, 8)),
      size: hasBody ? entrySize : 0,
      mtimeMs: mtimeText === undefined ? parseNumber(block, 136, 12) * 1000 : paxTimeMs(mtimeText),
      linkname,
      uname: pax('uname') ?? (ustar ? parseString(block, 265, 32) : ''),
      gname: pax('gname') ?? (ustar ? parseString(block, 297, 32) : ''),
      devmajor: ustar ? parseNumber(block, 329, 8) : 0,
      devminor: ustar ? parseNumber(block, 337, 8) : 0,
      xattrs: Object.keys(xattrs).length > 0 ? xattrs : undefined,
    };
    local = { strings: new Map(), xattrs: {} };
    longName = undefined;
    longLink = undefined;
    // Hardlinks and others may declare a size (old tars); their data is skipped, never applied.
    let remaining = entrySize;
    const pad = padding(entrySize);
    pending = remaining + pad;
    let consumed = false;
    yield {
      header,
      body: async function* () {
        if (consumed)
          throw new SnapshotError('KILN_TAR_INVALID', 'tar entry body read twice', { entry: header.name });
        consumed = true;
        if (!hasBody) return;
        for await (const slice of src.slices(remaining)) {
          remaining -= slice.length;
          pending -= slice.length;
          yield slice;
        }
      },
    };
  }
}
