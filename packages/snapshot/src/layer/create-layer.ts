import { createHash, type Hash } from 'node:crypto';
import { once } from 'node:events';
import type { Readable, Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { SnapshotError, throwIfAborted } from '../errors.js';
import { BLOCK, END_OF_ARCHIVE, encodeTarHeader, padding, type TarHeader } from '../tar/tar-header.js';
import { type Compression, compressor } from './compression.js';
import type { LayerEntry } from './layer-entry.js';
import { layerMediaType, type MediaTypeFamily } from './media-type.js';

/** Options of {@link createLayer}. */
export interface CreateLayerOptions {
  /** Where the (compressed) layer bytes go. Ended when the layer is complete unless `end: false`. */
  out: Writable;
  /** Default `'gzip'`: the only compression every registry and runtime accepts. */
  compression?: Compression;
  /** gzip 1–9 (default 6, gzip's own default), zstd 1–19 (default 3). */
  level?: number;
  /**
   * Same inputs → same bytes: entries sorted by path, mtimes clamped to `sourceDateEpoch`
   * (0 when not given), uname/gname dropped, no sub-second mtimes. Sorting holds every entry's
   * metadata in memory (not contents). Default false.
   */
  deterministic?: boolean;
  /** Seconds since the epoch (SOURCE_DATE_EPOCH); with `deterministic`, the upper bound of mtimes. */
  sourceDateEpoch?: number;
  /** Keep fractional mtimes in PAX records (costs one extra header per entry). Default false, as Go's archive/tar. */
  subsecondMtime?: boolean;
  /** Media type family of the result. Default `'oci'`. */
  mediaTypes?: MediaTypeFamily;
  /** Default true: end `out` after the last byte. */
  end?: boolean;
  signal?: AbortSignal;
}

/** LayerDescriptor: what {@link createLayer} measured while writing. */
export interface LayerDescriptor {
  /** `sha256:…` of the bytes written to `out` (the blob digest). */
  digest: string;
  /** `sha256:…` of the uncompressed tar (the config's rootfs diff_id). */
  diffId: string;
  /** Bytes written to `out`. */
  size: number;
  /** Bytes of the uncompressed tar. */
  uncompressedSize: number;
  mediaType: string;
}

// Small files are read ahead while earlier entries are written, so that file reads overlap
// with compression; the window bounds the memory this costs (64 × 256 KiB = 16 MiB at most).
const READ_AHEAD = 64;
const READ_AHEAD_MAX_SIZE = 256 * 1024;
const COALESCE = 256 * 1024;

/** A stream that counts and hashes what passes through it, and writes to a sink with backpressure. */
class HashingSink {
  readonly hash: Hash = createHash('sha256');
  bytes = 0;
  constructor(readonly write: (chunk: Buffer) => Promise<void> | undefined) {}
}

function validPath(path: string): boolean {
  return (
    path.length > 0 &&
    !path.startsWith('/') &&
    !path.startsWith('./') &&
    !path.endsWith('/') &&
    !path.split('/').some((s) => s === '..' || s === '.' || s === '')
  );
}

async function collect(entries: Iterable<LayerEntry> | AsyncIterable<LayerEntry>): Promise<LayerEntry[]> {
  const all: LayerEntry[] = [];
  for await (const e of entries) all.push(e);
  return all;
}

/**
 * Orders entries by path bytes (a parent sorts before its children) and makes every hardlink
 * point to an entry that precedes it, swapping roles with its target when sorting put the
 * link first: readers can only link to something they have already extracted.
 */
export function sortEntries(entries: LayerEntry[]): LayerEntry[] {
  const sorted = [...entries].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const index = new Map(sorted.map((e, i) => [e.path, i]));
  for (let i = 0; i < sorted.length; i++) {
    const e = sorted[i]!;
    if (e.type !== 'hardlink' || e.linkname === undefined) continue;
    const t = index.get(e.linkname);
    if (t === undefined || t < i || sorted[t]!.type !== 'file') continue;
    const target = sorted[t]!;
    sorted[i] = { ...target, path: e.path };
    for (let j = i + 1; j < sorted.length; j++) {
      const o = sorted[j]!;
      if (o.type === 'hardlink' && o.linkname === target.path) sorted[j] = { ...o, linkname: e.path };
    }
    sorted[t] = { ...e, path: target.path, linkname: e.path };
  }
  return sorted;
}

async function readAll(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of stream) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

/**
 * createLayer: writes entries as one tar layer to `out`, compressing on the way, and measures
 * digest, diffID and both sizes in the same pass. Memory does not grow with layer size (only
 * with the entry count, and only in deterministic mode, which sorts). Parent directories are
 * not invented: a caller that wants them lists them.
 */
export async function createLayer(
  entries: Iterable<LayerEntry> | AsyncIterable<LayerEntry>,
  options: CreateLayerOptions,
): Promise<LayerDescriptor> {
  const compression = options.compression ?? 'gzip';
  if (!['gzip', 'zstd', 'none'].includes(compression)) {
    throw new SnapshotError('KILN_OPTIONS_INVALID', `unknown compression ${JSON.stringify(compression)}`);
  }
  if (options.level !== undefined && compression === 'none') {
    throw new SnapshotError('KILN_OPTIONS_INVALID', 'level given but compression is "none"');
  }
  const deterministic = options.deterministic === true;
  const epochMs = (options.sourceDateEpoch ?? 0) * 1000;
  const list: Iterable<LayerEntry> | AsyncIterable<LayerEntry> = deterministic
    ? sortEntries(await collect(entries))
    : entries;

  const out = options.out;
  const outSink = new HashingSink((chunk) => {
    if (!out.write(chunk)) return once(out, 'drain').then(() => undefined);
    return undefined;
  });
  const comp = compression === 'none' ? undefined : compressor(compression, options.level);
  let failure: unknown;
  const fail = (e: unknown) => {
    failure ??= e;
  };
  // An error of `out` (disk full, closed socket) fails the layer instead of going unhandled.
  out.on('error', fail);
  const compDone = comp
    ? (async () => {
        for await (const chunk of comp) {
          outSink.hash.update(chunk as Buffer);
          outSink.bytes += (chunk as Buffer).length;
          const w = outSink.write(chunk as Buffer);
          if (w) await w;
        }
      })().catch((e) => {
        fail(e);
        throw e;
      })
    : Promise.resolve();
  compDone.catch(() => undefined);
  const tarSink = new HashingSink((chunk) => {
    if (!comp) {
      outSink.hash.update(chunk);
      outSink.bytes += chunk.length;
      return outSink.write(chunk);
    }
    if (!comp.write(chunk)) {
      return Promise.race([once(comp, 'drain'), compDone]).then(() => undefined);
    }
    return undefined;
  });
  // Headers and small files are coalesced into writes of at least COALESCE bytes: every write to
  // the compressor is one thread-pool job, and thousands of 512-byte jobs cost more than gzip.
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  const flush = async () => {
    if (pendingBytes === 0) return;
    const buf = pending.length === 1 ? pending[0]! : Buffer.concat(pending, pendingBytes);
    pending = [];
    pendingBytes = 0;
    const w = tarSink.write(buf);
    if (w) await w;
  };
  const emit = async (chunk: Buffer) => {
    if (failure) throw failure;
    tarSink.hash.update(chunk);
    tarSink.bytes += chunk.length;
    pending.push(chunk);
    pendingBytes += chunk.length;
    if (pendingBytes >= COALESCE) await flush();
  };

  // Read-ahead of small files: entries are pulled from the iterator into a window whose opens
  // have already started.
  const iterator = (list as AsyncIterable<LayerEntry>)[Symbol.asyncIterator]
    ? (list as AsyncIterable<LayerEntry>)[Symbol.asyncIterator]()
    : (list as Iterable<LayerEntry>)[Symbol.iterator]();
  const window: { entry: LayerEntry; content?: Promise<Readable | Buffer> }[] = [];
  let exhausted = false;
  const refill = async () => {
    while (!exhausted && window.length < READ_AHEAD) {
      const r = await iterator.next();
      if (r.done) {
        exhausted = true;
        break;
      }
      const entry = r.value;
      const early =
        entry.type === 'file' && entry.open && entry.size !== undefined && entry.size <= READ_AHEAD_MAX_SIZE;
      const slot: (typeof window)[number] = { entry };
      if (early) {
        slot.content = Promise.resolve().then(() => entry.open!());
        slot.content.catch(() => undefined);
      }
      window.push(slot);
    }
  };

  try {
    for (;;) {
      if (window.length === 0) await refill();
      const slot = window.shift();
      if (!slot) break;
      await refill();
      throwIfAborted(options.signal);
      await writeEntry(
        slot.entry,
        slot.content,
        emit,
        deterministic,
        epochMs,
        options.subsecondMtime === true,
      );
    }
    await emit(END_OF_ARCHIVE);
    await flush();
    if (comp) {
      comp.end();
      await compDone;
    }
  } catch (e) {
    out.off('error', fail);
    comp?.destroy();
    for (const slot of window) {
      slot.content?.then((c) => (c as Readable).destroy?.()).catch(() => undefined);
    }
    throw failure ?? e;
  }
  try {
    if (failure) throw failure;
    if (options.end !== false) {
      out.end();
      // finished() also settles for a stream that already failed, where 'finish' never comes.
      await finished(out, { readable: false });
    }
    if (failure) throw failure;
  } finally {
    out.off('error', fail);
  }
  return {
    digest: `sha256:${outSink.hash.digest('hex')}`,
    diffId: `sha256:${tarSink.hash.digest('hex')}`,
    size: outSink.bytes,
    uncompressedSize: tarSink.bytes,
    mediaType: layerMediaType(compression, options.mediaTypes),
  };
}

async function writeEntry(
  e: LayerEntry,
  prefetched: Promise<Readable | Buffer> | undefined,
  emit: (chunk: Buffer) => Promise<void>,
  deterministic: boolean,
  epochMs: number,
  subsecondMtime: boolean,
): Promise<void> {
  if (!validPath(e.path)) {
    throw new SnapshotError('KILN_ENTRY_INVALID', 'layer paths are relative, clean POSIX paths', {
      entry: e.path,
    });
  }
  if ((e.type === 'symlink' || e.type === 'hardlink') && !e.linkname) {
    throw new SnapshotError('KILN_ENTRY_INVALID', `${e.type} without linkname`, { entry: e.path });
  }
  let content: Readable | Buffer | undefined;
  let size = 0;
  if (e.type === 'file') {
    content = prefetched ? await prefetched : e.open ? await e.open() : undefined;
    if (content === undefined && (e.size ?? 0) > 0) {
      throw new SnapshotError('KILN_ENTRY_INVALID', `file of ${e.size} bytes without open()`, {
        entry: e.path,
      });
    }
    if (content && !Buffer.isBuffer(content) && e.size === undefined) content = await readAll(content);
    size = Buffer.isBuffer(content) ? content.length : (e.size ?? 0);
    if (Buffer.isBuffer(content) && e.size !== undefined && e.size !== content.length) {
      throw new SnapshotError(
        'KILN_ENTRY_INVALID',
        `declared size ${e.size} but content has ${content.length} bytes`,
        {
          entry: e.path,
        },
      );
    }
  }
  let mtimeMs = e.mtime ?? 0;
  if (deterministic) mtimeMs = Math.min(Math.floor(mtimeMs / 1000) * 1000, epochMs);
  const header: TarHeader = {
    name: e.path,
    type: e.type,
    mode: e.mode & 0o7777,
    uid: e.uid,
    gid: e.gid,
    size,
    mtimeMs,
    linkname: e.linkname ?? '',
    uname: deterministic ? '' : (e.uname ?? ''),
    gname: deterministic ? '' : (e.gname ?? ''),
    devmajor: e.devmajor ?? 0,
    devminor: e.devminor ?? 0,
    xattrs: e.xattrs && Object.keys(e.xattrs).length > 0 ? e.xattrs : undefined,
  };
  await emit(encodeTarHeader(header, { subsecondMtime: subsecondMtime && !deterministic }));
  if (e.type !== 'file' || size === 0) {
    if (content && !Buffer.isBuffer(content)) content.destroy();
    return;
  }
  if (Buffer.isBuffer(content)) {
    await emit(content);
  } else if (content) {
    let written = 0;
    for await (const chunk of content) {
      const buf = chunk as Buffer;
      written += buf.length;
      if (written > size) {
        content.destroy();
        throw new SnapshotError(
          'KILN_ENTRY_INVALID',
          `content grew past the declared ${size} bytes (file changed?)`,
          {
            entry: e.path,
          },
        );
      }
      await emit(buf);
    }
    if (written !== size) {
      throw new SnapshotError(
        'KILN_ENTRY_INVALID',
        `content has ${written} bytes, declared ${size} (file changed?)`,
        {
          entry: e.path,
        },
      );
    }
  }
  const pad = padding(size);
  if (pad) await emit(ZEROS.subarray(0, pad));
}

const ZEROS = Buffer.alloc(BLOCK);
