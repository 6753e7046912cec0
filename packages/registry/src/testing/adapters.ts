import { createServer, type IncomingMessage, type RequestListener, type Server } from 'node:http';
import { createServer as createHttpsServer, type ServerOptions as HttpsOptions } from 'node:https';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { Dispatcher } from 'undici';
import type { FetchInit } from '../transport/http.js';
import type { MemoryRegistry, MemoryResponse } from './memory-registry.js';

/**
 * Three ways to reach a {@link MemoryRegistry}: a fetch-compatible function and an undici
 * Dispatcher (both with no socket at all: any host name reaches the registry), and a real HTTP
 * server on 127.0.0.1 for tools that need a URL (skopeo, curl).
 */

type BodyInit =
  | string
  | Uint8Array
  | Readable
  | ReadableStream<Uint8Array>
  | AsyncIterable<Uint8Array>
  | Iterable<Uint8Array>
  | null
  | undefined;

function toIterable(body: BodyInit): AsyncIterable<Uint8Array> | null {
  if (body === null || body === undefined) return null;
  if (typeof body === 'string') return Readable.from([Buffer.from(body)]);
  if (body instanceof Uint8Array) return Readable.from([body]);
  if (body instanceof ReadableStream)
    return Readable.fromWeb(body as import('node:stream/web').ReadableStream<Uint8Array>);
  return body as AsyncIterable<Uint8Array>;
}

/** memoryFetch: a fetch-compatible function answering every URL from the registry. */
export function memoryFetch(
  registry: MemoryRegistry,
): (input: string | URL, init?: Partial<FetchInit>) => Promise<Response> {
  return async (input, init = {}) => {
    if (init.signal?.aborted) throw init.signal.reason;
    const headers = new Headers(init.headers ?? {});
    const res = await registry.handle({
      method: init.method ?? 'GET',
      url: new URL(String(input)),
      headers,
      body: toIterable(init.body as BodyInit),
    });
    const noBody = init.method === 'HEAD' || res.status === 204 || res.status === 304;
    return new Response(noBody || !res.body ? null : res.body, { status: res.status, headers: res.headers });
  };
}

type LegacyHandler = {
  onConnect?(abort: (e?: Error) => void, ctx?: object): void;
  onHeaders?(status: number, raw: Buffer[], resume: () => void, text: string): boolean | undefined;
  onData?(chunk: Buffer): boolean | undefined;
  onComplete?(trailers: Buffer[] | null): void;
  onError?(e: Error): void;
};
type ModernHandler = {
  onRequestStart?(controller: unknown, ctx: object): void;
  onResponseStart?(controller: unknown, status: number, headers: Record<string, string>, text: string): void;
  onResponseData?(controller: unknown, chunk: Buffer): void;
  onResponseEnd?(controller: unknown, trailers: Record<string, string>): void;
  onResponseError?(controller: unknown, e: Error): void;
};

/**
 * MemoryDispatcher: an undici Dispatcher serving requests from a {@link MemoryRegistry}
 * (pass it as `dispatcher` to RegistryClient or to undici's `request`/`fetch`).
 */
export class MemoryDispatcher extends Dispatcher {
  readonly #registry: MemoryRegistry;
  constructor(registry: MemoryRegistry) {
    super();
    this.#registry = registry;
  }

  override dispatch(opts: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    void this.#run(opts, handler as LegacyHandler & ModernHandler);
    return true;
  }

  async #run(opts: Dispatcher.DispatchOptions, h: LegacyHandler & ModernHandler): Promise<void> {
    let aborted: Error | undefined;
    let paused: (() => void) | undefined;
    const controller = {
      abort: (e?: Error) => (aborted ??= e ?? new Error('aborted')),
      pause: () => {},
      resume: () => paused?.(),
      get aborted() {
        return !!aborted;
      },
      get paused() {
        return false;
      },
      reason: undefined,
    };
    const modern = typeof h.onRequestStart === 'function';
    const fail = (e: Error) => (modern ? h.onResponseError?.(controller, e) : h.onError?.(e));
    try {
      if (modern) h.onRequestStart?.(controller, {});
      else h.onConnect?.((e) => controller.abort(e), {});
      if (aborted) return fail(aborted);
      const headers = new Headers();
      const raw = opts.headers;
      if (Array.isArray(raw))
        for (let i = 0; i < raw.length; i += 2) headers.append(String(raw[i]), String(raw[i + 1]));
      else if (
        raw &&
        typeof (raw as Iterable<unknown>)[Symbol.iterator] === 'function' &&
        !(typeof raw === 'object' && !Array.isArray(raw) && Object.getPrototypeOf(raw) === Object.prototype)
      ) {
        for (const [k, v] of raw as Iterable<[string, string]>) headers.append(k, v);
      } else if (raw)
        for (const [k, v] of Object.entries(raw))
          if (v !== undefined) headers.set(k, Array.isArray(v) ? v.join(', ') : String(v));
      const url = new URL(opts.path, String(opts.origin));
      const res: MemoryResponse = await this.#registry.handle({
        method: opts.method,
        url,
        headers,
        body: toIterable(opts.body as BodyInit),
      });
      if (aborted) return fail(aborted);
      const body = opts.method === 'HEAD' ? undefined : res.body;
      if (modern) {
        h.onResponseStart?.(controller, res.status, res.headers, '');
        if (body?.length) h.onResponseData?.(controller, body);
        h.onResponseEnd?.(controller, {});
      } else {
        const rawHeaders = Object.entries(res.headers).flatMap(([k, v]) => [Buffer.from(k), Buffer.from(v)]);
        h.onHeaders?.(res.status, rawHeaders, () => paused?.(), '');
        // Send in 64 KiB slices, waiting for resume() when the consumer applies backpressure.
        for (let i = 0; body && i < body.length; i += 65536) {
          if (aborted) return fail(aborted);
          if (h.onData?.(body.subarray(i, i + 65536)) === false) await new Promise<void>((r) => (paused = r));
        }
        h.onComplete?.([]);
      }
    } catch (e) {
      fail(e as Error);
    }
  }

  override async close(): Promise<void> {}
  override async destroy(): Promise<void> {}
}

/** MemoryRegistryServer: a loopback HTTP(S) server in front of a {@link MemoryRegistry}. */
export interface MemoryRegistryServer {
  /** `127.0.0.1:<port>`: use it as a registry host in references. */
  host: string;
  /** `http://127.0.0.1:<port>` (or https with `tls`). */
  url: string;
  server: Server;
  close(): Promise<void>;
}

/**
 * listenMemoryRegistry: serves the registry on 127.0.0.1 (port 0 = any free port), over plain
 * HTTP, or HTTPS when `tls` (node:https server options: cert, key, and ca + requestCert for mTLS).
 */
export async function listenMemoryRegistry(
  registry: MemoryRegistry,
  opts: { port?: number; tls?: HttpsOptions } = {},
): Promise<MemoryRegistryServer> {
  const listener: RequestListener = (req: IncomingMessage, res) => {
    const headers = new Headers();
    for (const [k, v] of Object.entries(req.headers))
      if (v !== undefined) headers.set(k, Array.isArray(v) ? v.join(', ') : v);
    const url = new URL(req.url ?? '/', `http://${req.headers.host ?? '127.0.0.1'}`);
    const hasBody = req.method !== 'GET' && req.method !== 'HEAD';
    registry
      .handle({ method: req.method ?? 'GET', url, headers, body: hasBody ? req : null })
      .then((r) => {
        res.writeHead(r.status, r.headers);
        res.end(req.method === 'HEAD' ? undefined : r.body);
      })
      .catch((e: Error) => {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(e.message);
      });
  };
  const server: Server = opts.tls ? createHttpsServer(opts.tls, listener) : createServer(listener);
  await new Promise<void>((resolve) => server.listen(opts.port ?? 0, '127.0.0.1', resolve));
  const { port: actual } = server.address() as AddressInfo;
  return {
    host: `127.0.0.1:${actual}`,
    url: `${opts.tls ? 'https' : 'http'}://127.0.0.1:${actual}`,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
