/**
 * Error classes of `@kiln/registry`. Every error has a stable `code` (`KILN_…`) and a
 * `Symbol.for` brand so that `isKilnRegistryError` works across duplicate installs.
 * Messages never contain credentials: URLs are passed through {@link redactUrl} first.
 */

const brand = Symbol.for('kiln.registry.error');

/** Stable error codes raised by this package. */
export type RegistryErrorCode =
  | 'KILN_INVALID_REFERENCE'
  | 'KILN_INVALID_DIGEST'
  | 'KILN_DIGEST_MISMATCH'
  | 'KILN_SIZE_MISMATCH'
  | 'KILN_MANIFEST_INVALID'
  | 'KILN_MANIFEST_UNSUPPORTED'
  | 'KILN_PLATFORM_NOT_FOUND'
  | 'KILN_REGISTRY_UNAUTHORIZED'
  | 'KILN_REGISTRY_DENIED'
  | 'KILN_REGISTRY_NOT_FOUND'
  | 'KILN_REGISTRY_RATE_LIMITED'
  | 'KILN_REGISTRY_SERVER_ERROR'
  | 'KILN_REGISTRY_CLIENT_ERROR'
  | 'KILN_REGISTRY_NETWORK'
  | 'KILN_REGISTRY_PROTOCOL'
  | 'KILN_CREDENTIALS'
  | 'KILN_STORE_INVALID'
  | 'KILN_STORE_NOT_FOUND'
  | 'KILN_OPTIONS_INVALID';

/** KilnRegistryBaseError: the base class of every error this package throws. */
export class KilnRegistryBaseError extends Error {
  /** Stable machine-readable code. */
  readonly code: RegistryErrorCode;
  readonly [brand] = true;
  constructor(code: RegistryErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** isKilnRegistryError: true for any error raised by this package, even from another copy of it. */
export function isKilnRegistryError(e: unknown): e is KilnRegistryBaseError {
  return typeof e === 'object' && e !== null && (e as Record<symbol, unknown>)[brand] === true;
}

/** InvalidReferenceError: an image reference that does not follow distribution/reference's grammar. */
export class InvalidReferenceError extends KilnRegistryBaseError {
  /** The text that failed to parse. */
  readonly input: string;
  constructor(input: string, reason: string) {
    super('KILN_INVALID_REFERENCE', `invalid image reference ${JSON.stringify(input)}: ${reason}`);
    this.input = input;
  }
}

/** DigestMismatchError: content whose sha256 (or size) is not the one its descriptor promised. */
export class DigestMismatchError extends KilnRegistryBaseError {
  /** Digest the descriptor promised. */
  readonly expected: string;
  /** Digest (or size, as `size:N`) actually computed. */
  readonly actual: string;
  constructor(
    what: string,
    expected: string,
    actual: string,
    code: 'KILN_DIGEST_MISMATCH' | 'KILN_SIZE_MISMATCH',
  ) {
    super(code, `${what}: expected ${expected}, got ${actual}; the content was discarded`);
    this.expected = expected;
    this.actual = actual;
  }
}

/** ImageError: a manifest, index, config or store that kiln cannot use (invalid, unsupported, platform missing). */
export class ImageError extends KilnRegistryBaseError {}

/** One entry of an OCI/distribution error body: `{ errors: [{ code, message, detail }] }`. */
export interface DistributionErrorEntry {
  /** Error code from the spec, e.g. `MANIFEST_UNKNOWN`, `BLOB_UNKNOWN`, `DENIED`. */
  code: string;
  /** Human-readable text from the registry. */
  message?: string;
  /** Free-form detail from the registry. */
  detail?: unknown;
}

/**
 * RegistryError: a registry (or token server) answered with an error, or could not be reached.
 * `status` is 0 when no HTTP answer arrived (connection refused, reset, timeout).
 */
export class RegistryError extends KilnRegistryBaseError {
  /** HTTP status, or 0 for network failures. */
  readonly status: number;
  /** Error codes from the distribution error body (`MANIFEST_UNKNOWN`, `DENIED`, …). */
  readonly codes: string[];
  /** The request URL, with userinfo and credential-like query parameters removed. */
  readonly url: string;
  /** HTTP method of the failed request. */
  readonly method: string;
  /** The parsed error entries from the body, if any. */
  readonly errors: DistributionErrorEntry[];
  constructor(init: {
    status: number;
    method: string;
    url: string;
    errors?: DistributionErrorEntry[];
    message?: string;
    code?: RegistryErrorCode;
    cause?: unknown;
  }) {
    const url = redactUrl(init.url);
    const errors = init.errors ?? [];
    const codes = errors.map((e) => e.code);
    const detail = errors.length
      ? `: ${errors.map((e) => `${e.code}${e.message ? ` (${e.message})` : ''}`).join(', ')}`
      : '';
    const head = init.status
      ? `${init.method} ${url} answered ${init.status}`
      : `${init.method} ${url} failed`;
    super(
      init.code ?? codeForStatus(init.status),
      `${head}${detail}${init.message ? `; ${init.message}` : ''}`,
      {
        cause: init.cause,
      },
    );
    this.status = init.status;
    this.codes = codes;
    this.url = url;
    this.method = init.method;
    this.errors = errors;
  }
}

function codeForStatus(status: number): RegistryErrorCode {
  if (status === 0) return 'KILN_REGISTRY_NETWORK';
  if (status === 401) return 'KILN_REGISTRY_UNAUTHORIZED';
  if (status === 403) return 'KILN_REGISTRY_DENIED';
  if (status === 404) return 'KILN_REGISTRY_NOT_FOUND';
  if (status === 429) return 'KILN_REGISTRY_RATE_LIMITED';
  if (status >= 500) return 'KILN_REGISTRY_SERVER_ERROR';
  if (status >= 400) return 'KILN_REGISTRY_CLIENT_ERROR';
  return 'KILN_REGISTRY_PROTOCOL';
}

const secretParams =
  /^(?:access_token|token|password|passwd|secret|signature|x-amz-signature|x-amz-credential|sig|code|refresh_token|_state)$/i;

/**
 * redactUrl: removes userinfo and credential-like query parameters (tokens, signatures, upload
 * state) from a URL so it can be put in an error or a log line.
 */
export function redactUrl(input: string | URL): string {
  let u: URL;
  try {
    u = new URL(String(input));
  } catch {
    return '<unparsable url>';
  }
  u.username = '';
  u.password = '';
  for (const key of [...u.searchParams.keys()]) {
    if (secretParams.test(key)) u.searchParams.set(key, 'REDACTED');
  }
  return u.toString();
}
