/**
 * Retry policy: bounded exponential backoff with full jitter. Retried: connection failures
 * (reset, refused, socket closed), timeouts, 5xx except 501/505, and 429 (honouring
 * `Retry-After`). Never retried: other 4xx (the request itself is wrong or not allowed).
 */

/** RetryOptions: how many times and how long to back off. */
export interface RetryOptions {
  /** Extra attempts after the first. Default 4: five tries ride out a registry restart of a few seconds. */
  retries?: number;
  /** First backoff in ms. Default 200: short enough not to be noticed on a transient reset. */
  minDelayMs?: number;
  /** Backoff cap in ms (also caps Retry-After). Default 10 000: long waits belong to the caller, not to us. */
  maxDelayMs?: number;
}

/** Defaults for {@link RetryOptions}, with reasons above. */
export const DEFAULT_RETRY: Required<RetryOptions> = { retries: 4, minDelayMs: 200, maxDelayMs: 10_000 };

const retryableCodes = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'KILN_TIMEOUT',
  'ERR_STREAM_PREMATURE_CLOSE',
]);

/** isRetryableStatus: true for statuses worth another attempt. */
export function isRetryableStatus(status: number): boolean {
  return status === 429 || status === 408 || (status >= 500 && status !== 501 && status !== 505);
}

/** isRetryableError: true for network-level failures (not for aborts by the caller). */
export function isRetryableError(e: unknown): boolean {
  let cur: unknown = e;
  for (let i = 0; i < 4 && cur; i++) {
    const code = (cur as { code?: string }).code;
    if (code && retryableCodes.has(code)) return true;
    if ((cur as Error).name === 'AbortError') return false;
    if (cur instanceof TypeError && /fetch failed|terminated|other side closed/i.test(cur.message))
      return true;
    cur = (cur as { cause?: unknown }).cause;
  }
  return false;
}

/** backoffDelay: ms to wait before attempt `attempt` (1-based retry count), honouring a Retry-After value. */
export function backoffDelay(
  attempt: number,
  opts: Required<RetryOptions>,
  retryAfter?: string | null,
): number {
  if (retryAfter) {
    const secs = Number(retryAfter);
    const ms = Number.isFinite(secs) ? secs * 1000 : Date.parse(retryAfter) - Date.now();
    if (Number.isFinite(ms) && ms >= 0) return Math.min(ms, opts.maxDelayMs);
  }
  const ceiling = Math.min(opts.maxDelayMs, opts.minDelayMs * 2 ** (attempt - 1));
  return ceiling / 2 + Math.random() * (ceiling / 2);
}

/** sleep: waits `ms`, rejecting early with the signal's reason when aborted. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
