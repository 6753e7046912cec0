import type { Readable } from 'node:stream';
import { redactUrl } from '../errors.js';
import type { ContextSource } from '../types.js';
import { type HttpGetOptions, httpGet } from './http-get.js';
import { memoryContext } from './memory-context.js';
import { type TarContextOptions, tarContext } from './tar-context.js';

/** Options of {@link httpContext}. */
export interface HttpContextOptions
  extends Pick<TarContextOptions, 'tmpDir' | 'memoryBytes'>,
    HttpGetOptions {}

/**
 * httpContext: an http(s) URL serving a tar archive (plain or compressed) as a build context.
 * Downloads once, streaming into {@link tarContext}. As in Docker, a `text/plain` answer is a
 * Dockerfile alone: the context then holds just `Dockerfile`. A status other than 200 after redirects is
 * `KILN_CONTEXT_HTTP_STATUS` naming the URL (user-info removed) and the status.
 */
export async function httpContext(url: string, opts: HttpContextOptions = {}): Promise<ContextSource> {
  const { res, url: current } = await httpGet(url, opts, 'a context URL must serve a tar archive');
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
