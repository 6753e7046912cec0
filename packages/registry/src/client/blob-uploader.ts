import type { Readable } from 'node:stream';
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
 * a failed PATCH is followed by `GET <location>` to learn the committed Range and the rest of the
 * buffered chunk is resent from there; when the session is gone, the whole upload restarts.
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
    const source = await open();
    try {
      for await (const chunk of chunks(source, this.#o.chunkSize)) {
        const chunkStart = offset;
        let resends = 0;
        while (offset < chunkStart + chunk.length) {
          const part = chunk.subarray(offset - chunkStart);
          const req: EngineRequest = {
            method: 'PATCH',
            endpoint: ep,
            path: location,
            headers: {
              'content-type': 'application/octet-stream',
              'content-length': String(part.length),
              'content-range': `${offset}-${offset + part.length - 1}`,
            },
            body: part,
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
              offset = rangeEnd(res.headers.get('range')) || offset + part.length;
              continue;
            }
            if (!isRetryableStatus(res.status) && res.status !== 416)
              return await this.#engine.fail(req, res);
            discard(res.body);
            failure = new RestartUpload(`PATCH answered ${res.status}`);
          } catch (e) {
            if (!isRetryableError(e)) throw e;
            failure = e;
          }
          if (++resends > this.#o.retries) throw failure;
          await sleep(backoffDelay(resends, this.#o.retry), signal);
          // Ask the registry how much it kept; resend from there if that is inside this chunk.
          const status = await this.#status(ep, repo, location, signal);
          if (!status || status.offset < chunkStart || status.offset > chunkStart + chunk.length) {
            throw new RestartUpload('upload session lost or rewound before this chunk');
          }
          location = status.location;
          offset = status.offset;
        }
      }
    } finally {
      source.destroy();
    }
    if (offset !== desc.size) {
      throw new RegistryError({
        status: 0,
        method: 'PATCH',
        url: location.toString(),
        message: `source gave ${offset} bytes, descriptor says ${desc.size}`,
        code: 'KILN_SIZE_MISMATCH',
      });
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

/** chunks: re-blocks a stream into buffers of exactly `size` bytes (the last may be shorter). */
async function* chunks(source: Readable, size: number): AsyncGenerator<Buffer> {
  let parts: Buffer[] = [];
  let have = 0;
  for await (const raw of source) {
    let b = Buffer.isBuffer(raw) ? raw : Buffer.from(raw as Uint8Array);
    while (have + b.length >= size) {
      const take = size - have;
      parts.push(b.subarray(0, take));
      yield Buffer.concat(parts, size);
      b = b.subarray(take);
      parts = [];
      have = 0;
    }
    if (b.length) {
      parts.push(b);
      have += b.length;
    }
  }
  if (have) yield Buffer.concat(parts, have);
}
