import { randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/**
 * A content-addressed store of base-image blobs on disk (`<dir>/sha256/<hex>`), filled as a side effect of
 * reading a blob from its registry. The registry stream is digest-verified while it flows; the copy is kept
 * only when the whole blob went through without error, so what the cache serves was verified once. Costs
 * disk space equal to the base layers a machine has used; delete the directory to reclaim it.
 */
export class BlobCache {
  /** Downloads started by {@link BlobCache.prefetch}, by digest, until they end. */
  readonly #downloads = new Map<string, Promise<void>>();

  constructor(readonly dir: string) {}

  /**
   * Downloads the blob into the cache ahead of its use (once per digest, however many ask). Rejects when the
   * download or its digest check fails; nothing is cached then, and {@link BlobCache.open} fetches again.
   */
  prefetch(digest: string, size: number, fetch: () => Promise<Readable>): Promise<void> {
    let p = this.#downloads.get(digest);
    if (!p) {
      p = (async () => {
        const file = this.file(digest);
        if ((await stat(file).catch(() => undefined))?.size === size) return;
        await mkdir(path.dirname(file), { recursive: true });
        const tmp = `${file}.${randomUUID()}.tmp`;
        try {
          // The source verifies the digest as it ends: a wrong blob fails the pipeline before the rename.
          await pipeline(await fetch(), createWriteStream(tmp));
          await rename(tmp, file);
        } catch (e) {
          await rm(tmp, { force: true });
          throw e;
        }
      })().finally(() => this.#downloads.delete(digest));
      this.#downloads.set(digest, p);
    }
    return p;
  }

  private file(digest: string): string {
    const [alg, hex] = digest.split(':');
    return path.join(this.dir, alg ?? 'sha256', hex ?? digest);
  }

  /**
   * A stream of the blob: from disk when cached (and of the expected size), else from `fetch`, copied to disk
   * on the way.
   */
  async open(digest: string, size: number, fetch: () => Promise<Readable>): Promise<Readable> {
    // A download under way is waited for (if it fails, the blob is fetched again below).
    await this.#downloads.get(digest)?.catch(() => {});
    const file = this.file(digest);
    const st = await stat(file).catch(() => undefined);
    if (st?.isFile() && st.size === size) return createReadStream(file);
    const source = await fetch();
    await mkdir(path.dirname(file), { recursive: true });
    const tmp = `${file}.${randomUUID()}.tmp`;
    const disk = createWriteStream(tmp);
    const out = new PassThrough();
    let failed = false;
    const fail = (e: Error) => {
      failed = true;
      disk.destroy();
      rm(tmp, { force: true }).catch(() => {});
      out.destroy(e);
    };
    source.on('error', fail);
    disk.on('error', () => {
      // A full disk must not fail the build: the blob still reaches the reader, just not the cache.
      failed = true;
      rm(tmp, { force: true }).catch(() => {});
    });
    source.on('data', (chunk: Buffer) => {
      if (!failed) disk.write(chunk);
      if (!out.write(chunk)) {
        source.pause();
        out.once('drain', () => source.resume());
      }
    });
    source.on('end', () => {
      out.end();
      if (failed) return;
      disk.end(() => {
        rename(tmp, file).catch(() => rm(tmp, { force: true }).catch(() => {}));
      });
    });
    // A reader that stops early leaves an incomplete copy, which is dropped.
    out.on('close', () => {
      if (!source.readableEnded) {
        failed = true;
        source.destroy();
        disk.destroy();
        rm(tmp, { force: true }).catch(() => {});
      }
    });
    return out;
  }
}
