const brand = Symbol.for('kiln.error');

/**
 * KilnError is the error every build failure surfaces as (errors from the lower packages are wrapped only
 * when context has to be added). `code` is stable; the message says what to do next.
 */
export class KilnError extends Error {
  readonly [brand] = true;
  /** Stable machine-readable code, e.g. `KILN_SOURCE_NOT_FOUND`. */
  readonly code: string;
  /** Where in the Dockerfile the failing instruction is, when known. */
  readonly location?: { file?: string; line: number; column: number };

  constructor(code: string, message: string, opts?: { cause?: unknown; location?: KilnError['location'] }) {
    super(message, opts?.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'KilnError';
    this.code = code;
    if (opts?.location) this.location = opts.location;
  }

  /** True for any KilnError, even one from a second copy of this package. */
  static is(e: unknown): e is KilnError {
    return typeof e === 'object' && e !== null && (e as Record<symbol, unknown>)[brand] === true;
  }
}
