import type { Readable } from 'node:stream';
import { type Dispatcher, request } from 'undici';
import { ContextError, redactUrl } from '../errors.js';
import type { ContextSource } from '../types.js';
import { memoryContext } from './memory-context.js';
import { type TarContextOptions, tarContext } from './tar-context.js';

/** Options of {@link httpContext}. */
export interface HttpContextOptions extends Pick<TarContextOptions, 'tmpDir' | 'memoryBytes'> {
  /** The undici dispatcher every request goes through. Default: undici's global dispatcher. */
  dispatcher?: Dispatcher;
  /** Extra request headers (e.g. `authorization`); never echoed in errors. */
  headers?: Record<string, string>;
  /** Redirects followed before giving up. Default 5, like common HTTP clients. */
  maxRedirects?: number;
  signal?: AbortSignal;
}

const redirectStatuses = new Set([301, 302, 303, 307, 308]);

/**
 * httpContext: an http(s) URL serving a tar archive (plain or compressed) as a build context.
 * Downloads once, streaming into {@link tarContext}. As in Docker, a `text/plain` answer is a
 * Dockerfile alone: the context then holds just `Dockerfile`. A status other than 200 after redirects is
 * `KILN_CONTEXT_HTTP_STATUS` naming the URL (user-info removed) and the status.
 */
export async function httpContext(url: string, opts: HttpContextOptions = {}): Promise<ContextSource> {
  let current = url;
  let headers = opts.headers;
  const maxRedirects = opts.maxRedirects ?? 5;
  for (let hop = 0; ; hop++) {
    let res: Dispatcher.ResponseData;
    try {
      res = await request(current, {
        method: 'GET',
        headers,
        signal: opts.signal,
        ...(opts.dispatcher ? { dispatcher: opts.dispatcher } : {}),
      });
    } catch (e) {
      throw new ContextError(
        'KILN_CONTEXT_HTTP_STATUS',
        `GET ${redactUrl(current)} failed: ${(e as Error).message}`,
        { cause: e },
      );
    }
    const location = res.headers.location;
    if (redirectStatuses.has(res.statusCode) && typeof location === 'string' && hop < maxRedirects) {
      await res.body.dump();
      const next = new URL(location, current);
      // credentials are for the origin they were given for, never for where it redirects to
      if (next.origin !== new URL(current).origin) headers = withoutCredentials(headers);
      current = next.toString();
      continue;
    }
    if (res.statusCode !== 200) {
      await res.body.dump();
      throw new ContextError(
        'KILN_CONTEXT_HTTP_STATUS',
        `GET ${redactUrl(current)} answered HTTP ${res.statusCode}; a context URL must serve a tar archive with status 200`,
      );
    }
    const type = String(res.headers['content-type'] ?? '');
    if (/^text\/plain\b/i.test(type)) {
      // Docker's rule: a text/plain URL is a Dockerfile alone, with an empty context
      const text = await res.body.text();
      return memoryContext({ Dockerfile: text }, { kind: 'http' });
    }
    return tarContext(res.body as unknown as Readable, {
      kind: 'http',
      label: redactUrl(current),
      tmpDir: opts.tmpDir,
      memoryBytes: opts.memoryBytes,
      signal: opts.signal,
    });
  }
}

function withoutCredentials(headers: Record<string, string> | undefined): Record<string, string> | undefined {
  if (!headers) return headers;
  return Object.fromEntries(
    Object.entries(headers).filter(
      ([k]) => !['authorization', 'cookie', 'proxy-authorization'].includes(k.toLowerCase()),
    ),
  );
}
