import diagnostics from 'node:diagnostics_channel';
import { Readable, Transform } from 'node:stream';
import { debuglog } from 'node:util';
import type { Authenticator } from '../auth/authenticator.js';
import { type Challenge, parseChallenges } from '../auth/challenge.js';
import { type DistributionErrorEntry, isKilnRegistryError, RegistryError, redactUrl } from '../errors.js';
import { discard, type HttpResponse, type HttpTransport, readBody } from '../transport/http.js';
import {
  backoffDelay,
  isRetryableError,
  isRetryableStatus,
  type RetryOptions,
  sleep,
} from '../transport/retry.js';
import { type Endpoint, endpointUrl } from './endpoint.js';

const log = debuglog('kiln-registry');

/**
 * Diagnostics channel `kiln:registry:request`: one message per HTTP attempt,
 * `{ method, url (redacted), status, attempt, error? }`. Never carries headers or credentials.
 */
export const requestChannel = diagnostics.channel('kiln:registry:request');

/** A request body that can be sent again: bytes, or a function opening a fresh stream. */
export type ReplayableBody = Buffer | (() => Readable | Promise<Readable>) | null;

/** EngineRequest: one logical registry request (retried, authenticated, redirects followed). */
export interface EngineRequest {
  method: string;
  endpoint: Endpoint;
  /** Path from `/v2/…`, or an absolute URL (upload locations). */
  path: string | URL;
  headers?: Record<string, string>;
  body?: ReplayableBody;
  /** Token scopes (`repository:name:pull,push`). */
  scopes: string[];
  signal?: AbortSignal | undefined;
  /** Statuses handed back to the caller instead of being retried (e.g. 416 for uploads). */
  noRetry?: number[];
  /** Follow 3xx redirects (blob downloads). Default false. */
  followRedirects?: boolean;
  /** Send once: no retries (the caller recovers; used for upload data). */
  once?: boolean;
}

/** EngineOptions: the pieces a request engine is made of. */
export interface EngineOptions {
  transportFor: (url: URL) => HttpTransport;
  auth: Authenticator;
  retry: Required<RetryOptions>;
  /** Abort a request when no header arrived, or no body byte for this long. */
  timeoutMs: number;
}

/** TimeoutError: raised (as a retryable error) when a request stalls for longer than the timeout. */
class StallError extends Error {
  readonly code = 'KILN_TIMEOUT';
}

/**
 * RequestEngine: sends registry requests with authentication (challenge → token → retry once on 401),
 * bounded retries with backoff, stall timeouts and redirect handling that never forwards
 * `Authorization` to another host.
 */
export class RequestEngine {
  readonly #o: EngineOptions;
  readonly #probes = new Map<string, Promise<void>>();
  constructor(o: EngineOptions) {
    this.#o = o;
  }

  /** send: performs the request; returns the final response whatever its status (callers check it). */
  async send(req: EngineRequest): Promise<HttpResponse> {
    const { retry } = this.#o;
    let lastError: unknown;
    const max = req.once ? 0 : retry.retries;
    for (let attempt = 0; attempt <= max; attempt++) {
      if (attempt > 0) {
        const after = lastError instanceof RetryAfter ? lastError.retryAfter : undefined;
        await sleep(backoffDelay(attempt, retry, after), req.signal);
      }
      try {
        const res = await this.#authenticated(req);
        if (isRetryableStatus(res.status) && !req.noRetry?.includes(res.status) && attempt < max) {
          discard(res.body);
          lastError = new RetryAfter(res.headers.get('retry-after'));
          continue;
        }
        return res;
      } catch (e) {
        if (req.signal?.aborted) throw req.signal.reason;
        if (!isRetryableError(e) || attempt === max) {
          // Our own errors (credentials, protocol) pass through; only transport failures are wrapped.
          if (isKilnRegistryError(e)) throw e;
          throw new RegistryError({
            status: 0,
            method: req.method,
            url: this.#url(req).toString(),
            message: `${describeNetworkError(e)}${attempt ? ` after ${attempt + 1} attempts` : ''}`,
            cause: e,
          });
        }
        lastError = e;
      }
    }
    /* c8 ignore next */
    throw lastError;
  }

  /** fail: reads an error response's body and throws a {@link RegistryError} for it. */
  async fail(
    req: Pick<EngineRequest, 'method' | 'endpoint' | 'path'>,
    res: HttpResponse,
    message?: string,
  ): Promise<never> {
    let errors: DistributionErrorEntry[] = [];
    try {
      const text = (await readBody(res.body, 256 * 1024)).toString('utf8');
      const json = JSON.parse(text) as { errors?: DistributionErrorEntry[] };
      if (Array.isArray(json.errors)) errors = json.errors.filter((e) => typeof e?.code === 'string');
    } catch {
      // Not a distribution error body (HTML from a proxy, empty HEAD body): status alone tells.
    }
    const init: ConstructorParameters<typeof RegistryError>[0] = {
      status: res.status,
      method: req.method,
      url: this.#url(req).toString(),
      errors,
    };
    if (message) init.message = message;
    throw new RegistryError(init);
  }

  #url(req: Pick<EngineRequest, 'endpoint' | 'path'>): URL {
    return req.path instanceof URL ? req.path : endpointUrl(req.endpoint, req.path);
  }

  async #authenticated(req: EngineRequest): Promise<HttpResponse> {
    const { auth } = this.#o;
    const registry = req.endpoint.registry;
    if (!auth.knowsChallenge(registry)) {
      // One probe per registry, shared by the requests that start together.
      let probe = this.#probes.get(registry);
      if (!probe) {
        probe = this.#probe(req).finally(() => this.#probes.delete(registry));
        this.#probes.set(registry, probe);
      }
      await probe;
    }
    let header = await auth.header(registry, req.scopes, req.signal);
    let res = await this.#withRedirects(req, header);
    if (res.status === 401) {
      const challenge = pickChallenge(parseChallenges(res.headers.get('www-authenticate')));
      discard(res.body);
      auth.setChallenge(registry, challenge);
      auth.invalidate(registry, req.scopes);
      header = await auth.header(registry, req.scopes, req.signal);
      res = await this.#withRedirects(req, header);
    }
    return res;
  }

  /** #probe: `GET /v2/` once per registry to learn its challenge (the spec's version check). */
  async #probe(req: EngineRequest): Promise<void> {
    const url = endpointUrl(req.endpoint, '/v2/');
    const res = await this.#once({ method: 'GET', url, headers: {}, body: null, signal: req.signal });
    discard(res.body);
    if (res.status === 401) {
      this.#o.auth.setChallenge(
        req.endpoint.registry,
        pickChallenge(parseChallenges(res.headers.get('www-authenticate'))),
      );
    } else if (res.status < 500 && res.status !== 429) {
      this.#o.auth.setChallenge(req.endpoint.registry, null);
    }
  }

  async #withRedirects(req: EngineRequest, authorization: string | undefined): Promise<HttpResponse> {
    let url = this.#url(req);
    const originHost = url.host;
    for (let hop = 0; hop <= 5; hop++) {
      const headers: Record<string, string> = { ...req.headers };
      // Credentials go only to the registry's own host: a redirect to blob storage gets none.
      if (authorization && url.host === originHost) headers.authorization = authorization;
      const body = typeof req.body === 'function' ? await req.body() : (req.body ?? null);
      const res = await this.#once({ method: req.method, url, headers, body, signal: req.signal });
      // A reply that came before the body was sent (an early error) leaves the source open: close it.
      if (body instanceof Readable && !body.readableEnded) body.destroy();
      const location = res.headers.get('location');
      if (req.followRedirects && location && [301, 302, 303, 307, 308].includes(res.status)) {
        discard(res.body);
        url = new URL(location, url);
        continue;
      }
      return res;
    }
    throw new RegistryError({
      status: 0,
      method: req.method,
      url: url.toString(),
      message: 'too many redirects',
      code: 'KILN_REGISTRY_PROTOCOL',
    });
  }

  async #once(r: {
    method: string;
    url: URL;
    headers: Record<string, string>;
    body: Buffer | Readable | null;
    signal?: AbortSignal | undefined;
  }): Promise<HttpResponse> {
    const { timeoutMs } = this.#o;
    const transport = this.#o.transportFor(r.url);
    const redacted = redactUrl(r.url);
    // Transports that enforce the stall limit themselves (undici: its headers timer is refreshed
    // while the request body is written, its body timer between response chunks) get no extra
    // timers. For the others (fetch), one timer is refreshed by every request-body chunk sent and
    // every response-body chunk received, so a slow but moving transfer is never cut.
    const own = !transport.enforcesTimeouts;
    const ctrl = new AbortController();
    const signal = r.signal ? AbortSignal.any([r.signal, ctrl.signal]) : ctrl.signal;
    let timer: NodeJS.Timeout | undefined;
    let body = r.body;
    if (own) {
      timer = setTimeout(() => ctrl.abort(new StallError(`no progress for ${timeoutMs} ms`)), timeoutMs);
      if (body instanceof Readable) body = body.pipe(refreshing(() => timer?.refresh()));
    }
    try {
      const res = await transport({
        method: r.method,
        url: r.url,
        headers: r.headers,
        body,
        signal,
        timeoutMs,
      });
      clearTimeout(timer);
      log('%s %s -> %d', r.method, redacted, res.status);
      if (requestChannel.hasSubscribers)
        requestChannel.publish({ method: r.method, url: redacted, status: res.status });
      if (!own) return res;
      const watchdog = refreshing(() => watchdogTimer.refresh());
      const watchdogTimer = setTimeout(() => {
        const err = new StallError(`no data for ${timeoutMs} ms`);
        watchdog.destroy(err);
        res.body.destroy(err);
        ctrl.abort(err);
      }, timeoutMs);
      const clear = () => clearTimeout(watchdogTimer);
      watchdog.on('close', clear);
      watchdog.on('end', clear);
      res.body.on('error', (e) => watchdog.destroy(e));
      res.body.pipe(watchdog);
      return { status: res.status, headers: res.headers, body: watchdog };
    } catch (e) {
      clearTimeout(timer);
      if (r.body instanceof Readable) r.body.destroy();
      const err = ctrl.signal.aborted && !r.signal?.aborted ? ctrl.signal.reason : e;
      log('%s %s failed: %s', r.method, redacted, describeNetworkError(err));
      if (requestChannel.hasSubscribers) {
        requestChannel.publish({
          method: r.method,
          url: redacted,
          status: 0,
          error: describeNetworkError(err),
        });
      }
      throw err;
    }
  }
}

/** refreshing: a pass-through stream that calls `onChunk` for every chunk (progress-based timers). */
function refreshing(onChunk: () => void): Transform {
  return new Transform({
    transform(chunk, _enc, cb) {
      onChunk();
      cb(null, chunk);
    },
  });
}

class RetryAfter {
  constructor(readonly retryAfter: string | null) {}
}

function pickChallenge(list: Challenge[]): Challenge | null {
  return list.find((c) => c.scheme === 'bearer') ?? list.find((c) => c.scheme === 'basic') ?? null;
}

/** describeNetworkError: a short cause text for a transport failure (code and message, no URLs with secrets). */
export function describeNetworkError(e: unknown): string {
  const parts: string[] = [];
  let cur: unknown = e;
  for (let i = 0; i < 3 && cur; i++) {
    const code = (cur as { code?: string }).code;
    const msg = (cur as Error).message;
    parts.push(code && !msg?.includes(code) ? `${code}: ${msg}` : String(msg));
    cur = (cur as { cause?: unknown }).cause;
  }
  return parts.join(' <- ');
}

/** readAll: a whole response body as a Buffer (manifests, JSON). */
export async function readAll(res: HttpResponse, limit?: number): Promise<Buffer> {
  return readBody(res.body, limit);
}
