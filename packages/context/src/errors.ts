/**
 * The error class of `@kiln/context`. Every error has a stable `code` and a `Symbol.for`
 * brand so that {@link isContextError} works across duplicate installs. Messages name the
 * context path, pattern, URL (credentials removed) or command that failed.
 */

const brand = Symbol.for('kiln.context.error');

/** Stable error codes raised by this package. */
export type ContextErrorCode =
  /** A path named by the caller (COPY source, stat, open) does not exist or is excluded. */
  | 'KILN_CONTEXT_NOT_FOUND'
  /** A COPY/ADD source pattern with wildcards matched nothing. */
  | 'KILN_CONTEXT_NO_SOURCES'
  /** `open`/`readFile` on something that is not a regular file. */
  | 'KILN_CONTEXT_NOT_A_FILE'
  /** A sub-path or git sub-directory that is not a directory. */
  | 'KILN_CONTEXT_NOT_A_DIRECTORY'
  /** A memory-context key that would leave the context root. */
  | 'KILN_CONTEXT_UNSAFE_PATH'
  /** A malformed `.dockerignore` or COPY source pattern. */
  | 'KILN_CONTEXT_BAD_PATTERN'
  /** A context spec or URL kiln cannot interpret. */
  | 'KILN_CONTEXT_BAD_SPEC'
  /** An http(s) context URL answered with something other than 200. */
  | 'KILN_CONTEXT_HTTP_STATUS'
  /** A downloaded file whose digest is not the `--checksum` asked for (or a malformed checksum). */
  | 'KILN_CONTEXT_CHECKSUM'
  /** A git command failed (clone, fetch, checkout). */
  | 'KILN_CONTEXT_GIT_FAILED'
  /** A tar context that cannot be read (truncated, not a tar, decompressor failed). */
  | 'KILN_CONTEXT_TAR_INVALID'
  /** A source used after `close()`. */
  | 'KILN_CONTEXT_CLOSED';

/** ContextError: the only error class this package throws for bad input or failed sources. */
export class ContextError extends Error {
  /** Stable machine-readable code. */
  readonly code: ContextErrorCode;
  readonly [brand] = true;
  constructor(code: ContextErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = 'ContextError';
  }
}

/** isContextError: true for any error raised by this package, even from another copy of it. */
export function isContextError(e: unknown): e is ContextError {
  return typeof e === 'object' && e !== null && (e as Record<symbol, unknown>)[brand] === true;
}

/** redactUrl: the URL with any user-info (tokens, passwords) replaced by `***`, for messages. */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@]*@/i, '$1***@');
}
