import { type Dispatcher, request } from 'undici';
import { ContextError, redactUrl } from '../errors.js';

/** Options of {@link httpGet}. */
export interface HttpGetOptions {
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
 * httpGet: a GET that follows redirects (credentials never follow to another origin) and insists on a 200
 * at the end: anything else is `KILN_CONTEXT_HTTP_STATUS` naming the URL (user-info removed) and the status,
 * with `what` saying what the URL should have served. Returns the response and the final URL.
 */
export async function httpGet(
  url: string,
  opts: HttpGetOptions,
  what: string,
): Promise<{ res: Dispatcher.ResponseData; url: string }> {
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
        `GET ${redactUrl(current)} answered HTTP ${res.statusCode}; ${what} with status 200`,
      );
    }
    return { res, url: current };
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
