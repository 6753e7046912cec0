import { createHash, randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ContextError, redactUrl } from '../errors.js';
import { type HttpGetOptions, httpGet } from './http-get.js';

/** Options of {@link downloadUrl}. */
export interface DownloadUrlOptions extends HttpGetOptions {
  /** Directory the file is written to (the caller removes it). */
  dir: string;
  /** `sha256:<hex>` (ADD --checksum): the download must have this digest, else nothing is kept. */
  checksum?: string;
}

/** What {@link downloadUrl} fetched. */
export interface DownloadedFile {
  /** The file on disk. */
  file: string;
  size: number;
  /** `sha256:<hex>` of the content. */
  digest: string;
  /** The server's `Last-Modified`, in ms, when it sent one (ADD uses it as the file's mtime). */
  lastModified?: number;
  /** The last path segment of the final URL (ADD's file name when the destination is a directory). */
  name: string;
}

/**
 * downloadUrl: ADD's remote file: one GET (redirects followed), streamed to disk with its sha256 computed on
 * the way; with `checksum`, a different digest is `KILN_CONTEXT_CHECKSUM` and the file is removed.
 */
export async function downloadUrl(url: string, opts: DownloadUrlOptions): Promise<DownloadedFile> {
  if (opts.checksum !== undefined && !/^sha256:[0-9a-f]{64}$/.test(opts.checksum))
    throw new ContextError(
      'KILN_CONTEXT_CHECKSUM',
      `--checksum=${opts.checksum}: expected sha256:<64 hex digits>`,
    );
  const { res, url: final } = await httpGet(url, opts, 'ADD needs the URL to serve the file');
  const file = path.join(opts.dir, `download-${randomUUID()}`);
  const hash = createHash('sha256');
  let size = 0;
  const count = new Transform({
    transform(chunk: Buffer, _e, cb) {
      hash.update(chunk);
      size += chunk.length;
      cb(null, chunk);
    },
  });
  try {
    await pipeline(res.body, count, createWriteStream(file), { signal: opts.signal });
  } catch (e) {
    await rm(file, { force: true });
    throw new ContextError('KILN_CONTEXT_HTTP_STATUS', `GET ${redactUrl(url)}: ${(e as Error).message}`, {
      cause: e,
    });
  }
  const digest = `sha256:${hash.digest('hex')}`;
  if (opts.checksum !== undefined && digest !== opts.checksum) {
    await rm(file, { force: true });
    throw new ContextError(
      'KILN_CONTEXT_CHECKSUM',
      `${redactUrl(url)}: content digest ${digest} does not match --checksum=${opts.checksum}`,
    );
  }
  const lm = res.headers['last-modified'];
  const lastModified = typeof lm === 'string' ? Date.parse(lm) : Number.NaN;
  const name =
    decodeURIComponent(new URL(final).pathname.split('/').filter(Boolean).pop() ?? '') || '__unnamed__';
  return { file, size, digest, name, ...(Number.isNaN(lastModified) ? {} : { lastModified }) };
}
