import { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';

/**
 * The HTTP seam. Everything the client sends goes through one {@link HttpTransport}
 * function; two adapters build one from an undici `Dispatcher` or a fetch-compatible function.
 * Redirects are never followed by the transport (the client follows them itself so that
 * `Authorization` is dropped when a redirect leaves the registry's host).
 */

/** HttpRequest: one request as the client sends it. */
export interface HttpRequest {
  method: string;
  url: URL;
  /** Header names in lower case. */
  headers: Record<string, string>;
  /** Bytes, or a stream sent as is (streams are never replayed by the transport). */
  body?: Buffer | Readable | null;
  signal?: AbortSignal;
  /** Stall limit for headers and between body chunks, ms (transports that can enforce it do). */
  timeoutMs?: number;
}

/** HttpResponse: status, lower-cased headers and a body stream that must be consumed or destroyed. */
export interface HttpResponse {
  status: number;
  headers: Headers;
  body: Readable;
}

/**
 * HttpTransport: sends one request, never follows redirects. `enforcesTimeouts` says it applies
 * `req.timeoutMs` as a stall limit itself (headers, request body progress, response body gaps).
 */
export type HttpTransport = ((req: HttpRequest) => Promise<HttpResponse>) & { enforcesTimeouts?: boolean };

/** FetchLike: the subset of the WHATWG `fetch` signature the client uses. */
export type FetchLike = (input: string, init: FetchInit) => Promise<Response>;

/** FetchInit: the `RequestInit` fields the client passes (plus `duplex` for streamed bodies). */
export interface FetchInit {
  method: string;
  headers: Record<string, string>;
  body?: Buffer | ReadableStream<Uint8Array> | null;
  redirect: 'manual';
  signal?: AbortSignal;
  duplex?: 'half';
}

/** dispatcherTransport: an {@link HttpTransport} over an undici Dispatcher (`Agent`, `Pool`, a mock, …). */
export function dispatcherTransport(dispatcher: Dispatcher): HttpTransport {
  const send: HttpTransport = async (req) => {
    const res = await dispatcher.request({
      origin: req.url.origin,
      path: req.url.pathname + req.url.search,
      method: req.method as Dispatcher.HttpMethod,
      headers: req.headers,
      body: req.body ?? null,
      signal: req.signal,
      // undici enforces these natively (UND_ERR_HEADERS_TIMEOUT / UND_ERR_BODY_TIMEOUT, both retried).
      ...(req.timeoutMs ? { headersTimeout: req.timeoutMs, bodyTimeout: req.timeoutMs } : {}),
    });
    const headers = new Headers();
    for (const [k, v] of Object.entries(res.headers)) {
      if (v === undefined) continue;
      if (Array.isArray(v)) for (const item of v) headers.append(k, item);
      else headers.set(k, v);
    }
    return { status: res.statusCode, headers, body: res.body };
  };
  send.enforcesTimeouts = true;
  return send;
}

/** fetchTransport: an {@link HttpTransport} over a fetch-compatible function (redirects handled by the client). */
export function fetchTransport(fetchFn: FetchLike): HttpTransport {
  return async (req) => {
    const init: FetchInit = { method: req.method, headers: req.headers, redirect: 'manual' };
    if (req.signal) init.signal = req.signal;
    if (req.body instanceof Readable) {
      init.body = Readable.toWeb(req.body) as ReadableStream<Uint8Array>;
      init.duplex = 'half';
    } else if (req.body) {
      init.body = req.body;
    }
    const res = await fetchFn(req.url.toString(), init);
    const body = res.body
      ? Readable.fromWeb(res.body as import('node:stream/web').ReadableStream)
      : Readable.from([]);
    return { status: res.status, headers: res.headers, body };
  };
}

/** drain: reads a response body to the end into one Buffer (for small bodies: manifests, JSON, errors). */
export async function readBody(body: Readable, limit = 64 * 1024 * 1024): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of body) {
    const b = Buffer.isBuffer(c) ? c : Buffer.from(c);
    n += b.length;
    if (n > limit) {
      body.destroy();
      throw new Error(`response body larger than ${limit} bytes`);
    }
    chunks.push(b);
  }
  return Buffer.concat(chunks);
}

/** discard: consumes and drops a body so the connection can be reused. */
export function discard(body: Readable): void {
  body.on('error', () => {});
  body.resume();
}
