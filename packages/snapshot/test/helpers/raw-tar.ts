import { gzipSync } from 'node:zlib';
import { END_OF_ARCHIVE, encodeTarHeader, padding, type TarHeader } from '../../src/tar/tar-header.js';

/** A tar entry for hand-made (possibly malicious) archives: any name, any link target. */
export type RawEntry = Partial<TarHeader> & { name: string; content?: string };

/** Builds a tar archive byte for byte, bypassing createLayer's path validation (for attack corpora). */
export function rawTar(entries: RawEntry[], options: { gzip?: boolean } = {}): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const content = Buffer.from(e.content ?? '');
    const type = e.type ?? 'file';
    parts.push(
      encodeTarHeader({
        name: e.name,
        type,
        mode: e.mode ?? (type === 'dir' ? 0o755 : 0o644),
        uid: e.uid ?? 0,
        gid: e.gid ?? 0,
        size: type === 'file' ? content.length : 0,
        mtimeMs: e.mtimeMs ?? 1_600_000_000_000,
        linkname: e.linkname ?? '',
        uname: '',
        gname: '',
        devmajor: e.devmajor ?? 0,
        devminor: e.devminor ?? 0,
        xattrs: e.xattrs,
      }),
    );
    if (type === 'file') parts.push(content, Buffer.alloc(padding(content.length)));
  }
  parts.push(END_OF_ARCHIVE);
  const tar = Buffer.concat(parts);
  return options.gzip ? gzipSync(tar) : tar;
}
