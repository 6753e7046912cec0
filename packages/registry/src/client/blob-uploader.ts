import { Readable } from 'node:stream';
import { RegistryError } from '../errors.js';
import type { Digest } from '../image/digest.js';
import type { Descriptor } from '../image/manifest.js';
import type { PutBlobResult } from '../stores/image-store.js';
import { discard, type HttpResponse } from '../transport/http.js';
import {
  backoffDelay,
  isRetryableError,
  isRetryableStatus,
  type RetryOptions,
  sleep,
} from '../transport/retry.js';
import { type Endpoint, endpointUrl } from './endpoint.js';
import type { EngineRequest, RequestEngine } from './request-engine.js';

/** UploaderOptions: sizes and how many times an upload may restart. */
export interface UploaderOptions {
  chunkSize: number;
  monolithicMaxSize: number;
  /** Restarts of a whole upload (new session, source re-opened) and resends of one chunk. */
  retries: number;
  retry: Required<RetryOptions>;
}

const pushScope = (repo: string) => `repository:${repo}:pull,push`;

/** A failure within one upload session that a new session (and a re-opened source) may cure. */
class RestartUpload extends Error {}

/**
 * BlobUploader: the push side of the distribution spec ("Pushing blobs"):
 * HEAD → mount (`POST …/uploads/?mount=&from=`) → upload. Data requests are sent without the
 * engine's own replay (a half-sent body would corrupt the session); recovery happens here:
 * a failed PATCH is followed by `GET <location>` to learn the committed Range, and the upload
 * continues from there with the source re-opened and the committed prefix skipped; when the
 * session is gone, the whole upload restarts in a new session.
 */
export class BlobUploader {
  readonly #engine: RequestEngine;
  readonly #o: UploaderOptions;
  constructor(engine: RequestEngine, o: UploaderOptions) {
    this.#engine = engine;
    this.#o = o;
  }

  /** exists: the blob's size if present in the repository. */
  async exists(
    ep: Endpoint,
    repo: string,
    digest: Digest,
    signal?: AbortSignal,
  ): Promise<number | undefined> {
    const req = {
      method: 'HEAD',
      endpoint: ep,
      path: `/v2/${repo}/blobs/${digest}`,
      scopes: [pushScope(repo)],
      signal,
      followRedirects: true,
    };
    let res = await this.#engine.send(req);
    if (res.status === 401 || res.status === 403) {
      // Pull-only credentials: ask again with pull scope (pushes will fail later, with a clear error).
      discard(res.body);
      res = await this.#engine.send({ ...req, scopes: [`repository:${repo}:pull`] });
    }
    discard(res.body);
    if (res.status === 200) return Number(res.headers.get('content-length') ?? 0);
    if (res.status === 404) return undefined;
    return this.#engine.fail(req, res);
  }

  /** push: ensures the blob is in `repo`; see the class comment for the order of attempts. */
  async push(
    ep: Endpoint,
    repo: string,
    desc: Descriptor,
    open: () => Readable | Promise<Readable>,
    mountFrom: string[],
    signal?: AbortSignal,
  ): Promise<PutBlobResult> {
    if ((await this.exists(ep, repo, desc.digest, signal)) !== undefined) return 'exists';
    let location: URL | undefined;
    for (const from of mountFrom) {
      const q = new URLSearchParams({ mount: desc.digest, from });
      const req = {
        method: 'POST',
        endpoint: ep,
        path: `/v2/${repo}/blobs/uploads/?${q}`,
        headers: { 'content-length': '0' },
        scopes: [pushScope(repo), `repository:${from}:pull`],
        signal,
      };
      const res = await this.#engine.send(req);
      discard(res.body);
      if (res.status === 201) return 'mounted';
      if (res.status === 202) {
        // The registry could not mount and opened an ordinary upload session instead.
        location = this.#location(ep, res, req);
        break;
      }
    }
    for (let attempt = 0; ; attempt++) {
      try {
        location ??= await this.#start(ep, repo, signal);
        if (desc.size <= this.#o.monolithicMaxSize)
          await this.#monolithic(ep, repo, location, desc, open, signal);
        else await this.#chunked(ep, repo, location, desc, open, signal);
        return 'uploaded';
      } catch (e) {
        location = undefined;
        if (signal?.aborted) throw signal.reason;
        const transient =
          e instanceof RestartUpload ||
          isRetryableError(e) ||
          (e instanceof RegistryError && isRetryableStatus(e.status));
        if (!transient || attempt >= this.#o.retries) throw unwrap(e);
        await sleep(backoffDelay(attempt + 1, this.#o.retry), signal);
      }
    }
  }

  #location(ep: Endpoint, res: HttpResponse, req: Pick<EngineRequest, 'method' | 'path' | 'endpoint'>): URL {
    const loc = res.headers.get('location');
    if (!loc) {
      throw new RegistryError({
        status: res.status,
        method: req.method,
        url: endpointUrl(ep, String(req.path)).toString(),
        message: 'upload response has no Location',
        code: 'KILN_REGISTRY_PROTOCOL',
      });
    }
    return new URL(loc, endpointUrl(ep, '/'));
  }

  async #start(ep: Endpoint, repo: string, signal?: AbortSignal): Promise<URL> {
    const req = {
      method: 'POST',
      endpoint: ep,
      path: `/v2/${repo}/blobs/uploads/`,
      headers: { 'content-length': '0' },
      scopes: [pushScope(repo)],
      signal,
    };
    const res = await this.#engine.send(req);
    if (res.status !== 202) return this.#engine.fail(req, res);
    discard(res.body);
    return this.#location(ep, res, req);
  }

  async #monolithic(
    ep: Endpoint,
    repo: string,
    location: URL,
    desc: Descriptor,
    open: () => Readable | Promise<Readable>,
    signal?: AbortSignal,
  ): Promise<void> {
    const url = withDigest(location, desc.digest);
    const req: EngineRequest = {
      method: 'PUT',
      endpoint: ep,
      path: url,
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(desc.size) },
      body: () => open(),
      scopes: [pushScope(repo)],
      signal,
      noRetry: allRetryable,
    };
    const res = await this.#send(req);
    if (res.status === 201) return discard(res.body);
    if (isRetryableStatus(res.status)) {
      discard(res.body);
      throw new RestartUpload(`PUT answered ${res.status}`);
    }
    return this.#engine.fail(req, res);
  }

  async #chunked(
    ep: Endpoint,
    repo: string,
    start: URL,
    desc: Descriptor,
    open: () => Readable | Promise<Readable>,
    signal?: AbortSignal,
  ): Promise<void> {
    let location = start;
    let offset = 0;
    let failures = 0;
    let cursor = await SourceCursor.open(open, 0);
    try {
      while (offset < desc.size) {
        const len = Math.min(this.#o.chunkSize, desc.size - offset);
        const chunkStart = offset;
        let sent = false;
        // Replay-safe: if the engine must resend (a 401 refreshed the token), the chunk is re-read
        // from a fresh cursor at the same offset rather than from a half-consumed stream.
        const body = async () => {
          if (sent) {
            cursor.destroy();
            cursor = await SourceCursor.open(open, chunkStart);
          }
          sent = true;
          return cursor.take(len);
        };
        const req: EngineRequest = {
          method: 'PATCH',
          endpoint: ep,
          path: location,
          headers: {
            'content-type': 'application/octet-stream',
            'content-length': String(len),
            'content-range': `${offset}-${offset + len - 1}`,
          },
          body,
          scopes: [pushScope(repo)],
          signal,
          noRetry: allRetryable,
        };
        let failure: unknown;
        try {
          const res = await this.#send(req);
          if (res.status === 202) {
            discard(res.body);
            location = this.#location(ep, res, req);
            const reported = rangeEnd(res.headers.get('range'));
            offset += len;
            if (reported && reported !== offset) {
              // The registry kept a different amount than sent: continue from what it says.
              offset = reported;
              cursor.destroy();
              cursor = await SourceCursor.open(open, offset);
            }
            continue;
          }
          if (!isRetryableStatus(res.status) && res.status !== 416) return await this.#engine.fail(req, res);
          discard(res.body);
          failure = new RestartUpload(`PATCH answered ${res.status}`);
        } catch (e) {
          if (!isRetryableError(e)) throw e;
          failure = e;
        }
        if (++failures > this.#o.retries) throw failure;
        await sleep(backoffDelay(failures, this.#o.retry), signal);
        // Ask the registry how much it kept, and continue from there with the source re-opened.
        const status = await this.#status(ep, repo, location, signal);
        if (!status) throw new RestartUpload('upload session lost');
        location = status.location;
        offset = status.offset;
        cursor.destroy();
        cursor = await SourceCursor.open(open, offset);
      }
    } finally {
      cursor.destroy();
    }
    const req: EngineRequest = {
      method: 'PUT',
      endpoint: ep,
      path: withDigest(location, desc.digest),
      headers: { 'content-length': '0' },
      body: null,
      scopes: [pushScope(repo)],
      signal,
    };
    const res = await this.#engine.send(req);
    if (res.status !== 201) return this.#engine.fail(req, res);
    discard(res.body);
  }

  async #status(
    ep: Endpoint,
    repo: string,
    location: URL,
    signal?: AbortSignal,
  ): Promise<{ offset: number; location: URL } | undefined> {
    try {
      const res = await this.#engine.send({
        method: 'GET',
        endpoint: ep,
        path: location,
        scopes: [pushScope(repo)],
        signal,
      });
      discard(res.body);
      if (res.status !== 204 && res.status !== 200) return undefined;
      const loc = res.headers.get('location');
      return {
        offset: rangeEnd(res.headers.get('range')) ?? 0,
        location: loc ? new URL(loc, location) : location,
      };
    } catch {
      return undefined;
    }
  }

  /** Sends a data request once (no engine replay); network errors surface to the caller's recovery. */
  async #send(req: EngineRequest): Promise<HttpResponse> {
    return this.#engine.send({ ...req, once: true });
  }
}

const allRetryable = [408, 429, 500, 502, 503, 504];

function unwrap(e: unknown): unknown {
  return e instanceof RestartUpload
    ? new RegistryError({
        status: 0,
        method: 'PUT',
        url: 'upload',
        message: e.message,
        code: 'KILN_REGISTRY_SERVER_ERROR',
      })
    : e;
}

function withDigest(location: URL, digest: Digest): URL {
  const u = new URL(location);
  u.searchParams.set('digest', digest);
  return u;
}

/**
 * rangeEnd: the next offset from an upload `Range: 0-N` header (N+1), or undefined. distribution
 * answers `0-0` both for an empty upload and a one-byte one; it is read as 0 (resending a byte is
 * harmless, skipping one is not).
 */
function rangeEnd(range: string | null): number | undefined {
  const m = range && /^(?:bytes=)?0-(\d+)$/.exec(range.trim());
  if (!m) return undefined;
  return m[1] === '0' ? 0 : Number(m[1]) + 1;
}

/**
 * SourceCursor: reads a blob source in consecutive slices without buffering them: each `take(n)`
 * is a stream of exactly the next n bytes. After a failed chunk the cursor is dropped and a new
 * one opened at the registry's offset (the opener is called again and the prefix skipped), so
 * memory stays at one stream chunk whatever the chunk size.
 */
class SourceCursor {
  readonly #source: Readable;
  readonly #it: AsyncIterator<unknown>;
  #pending: Buffer | undefined;

  private constructor(source: Readable) {
    this.#source = source;
    this.#it = source[Symbol.asyncIterator]();
  }

  static async open(open: () => Readable | Promise<Readable>, skip: number): Promise<SourceCursor> {
    const c = new SourceCursor(await open());
    let left = skip;
    while (left > 0) {
      const b = await c.#next(left);
      left -= b.length;
    }
    return c;
  }

  /** The next bytes, at most `max` of them (the rest stays pending). */
  async #next(max: number): Promise<Buffer> {
    let b = this.#pending;
    this.#pending = undefined;
    if (!b) {
      const r = await this.#it.next();
      if (r.done) throw new SourceEndedError('the blob source ended before the size its descriptor gives');
      b = Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value as Uint8Array);
    }
    if (b.length > max) {
      this.#pending = b.subarray(max);
      b = b.subarray(0, max);
    }
    return b;
  }

  take(n: number): Readable {
    const self = this;
    return Readable.from(
      (async function* () {
        for (let left = n; left > 0; ) {
          const b = await self.#next(left);
          left -= b.length;
          yield b;
        }
      })(),
      { objectMode: false },
    );
  }

  destroy(): void {
    this.#source.destroy();
  }
}

class SourceEndedError extends Error {
  readonly code = 'KILN_SIZE_MISMATCH';
}
