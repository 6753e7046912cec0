const BRAND = Symbol.for('kiln.dockerfile.error');

/** Stable codes carried by {@link DockerfileError}. */
export type DockerfileErrorCode =
  | 'EMPTY_DOCKERFILE'
  | 'LINE_TOO_LONG'
  | 'INVALID_DIRECTIVE'
  | 'DUPLICATE_DIRECTIVE'
  | 'INVALID_ESCAPE'
  | 'UNTERMINATED_HEREDOC'
  | 'INVALID_JSON_ARRAY'
  | 'INVALID_ARGUMENTS'
  | 'UNKNOWN_INSTRUCTION'
  | 'UNKNOWN_FLAG'
  | 'DUPLICATE_FLAG'
  | 'INVALID_FLAG'
  | 'INVALID_MOUNT'
  | 'INVALID_HEALTHCHECK'
  | 'INVALID_ONBUILD'
  | 'NO_STAGE'
  | 'MISSING_FROM'
  | 'INVALID_STAGE_NAME'
  | 'DUPLICATE_STAGE_NAME'
  | 'FROM_LATER_STAGE'
  | 'UNKNOWN_STAGE'
  | 'CIRCULAR_DEPENDENCY'
  | 'TARGET_NOT_FOUND'
  | 'EXPANSION_ERROR'
  | 'INVALID_PLATFORM'
  | 'CHECK_FAILED';

/** Where a {@link DockerfileError} points: 1-based line and column, optional end line. */
export interface DockerfileErrorLocation {
  line: number;
  column: number;
  endLine?: number;
}

/**
 * DockerfileError is the only error the package throws for bad input. `code` is stable,
 * `line`/`column` are 1-based (0 when the error concerns no line, e.g. an unknown target),
 * and the message quotes the offending text without repeating the location, so callers can
 * prefix `file:line:column: ` themselves. `instanceof` works across duplicate installs.
 */
export class DockerfileError extends Error {
  readonly code: DockerfileErrorCode;
  readonly line: number;
  readonly column: number;
  readonly endLine: number;

  constructor(
    code: DockerfileErrorCode,
    message: string,
    where: DockerfileErrorLocation = { line: 0, column: 0 },
  ) {
    super(message);
    this.name = 'DockerfileError';
    this.code = code;
    this.line = where.line;
    this.column = where.column;
    this.endLine = where.endLine ?? where.line;
  }

  /** Brand check that survives two copies of the package in one process. */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BRAND] === true;
  }

  get [BRAND](): true {
    return true;
  }
}

/** Quotes offending text for a message, shortened to 120 characters so huge lines stay readable. */
export function excerpt(text: string): string {
  return JSON.stringify(text.length > 120 ? `${text.slice(0, 117)}...` : text);
}

/**
 * Runs `fn`; a DockerfileError it throws without a location (from the lexer, say) is rethrown
 * with the start of `range`, so every error names its line.
 */
export function withLocation<T>(
  fn: () => T,
  range: { start: { line: number; column: number }; end: { line: number } },
): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof DockerfileError && err.line === 0) {
      throw new DockerfileError(err.code, err.message, {
        line: range.start.line,
        column: range.start.column,
        endLine: range.end.line,
      });
    }
    throw err;
  }
}
