/** A point in the Dockerfile text: 1-based line, 1-based column (UTF-16 code units). */
export interface Position {
  line: number;
  column: number;
}

/**
 * SourceRange spans from the first character of a construct to just past its last one:
 * `end.column` is exclusive, so a one-character token at column 5 ends at column 6.
 */
export interface SourceRange {
  start: Position;
  end: Position;
}

/** A here-document attached to a RUN, COPY or ADD line (`<<EOF`, `<<-EOF`, `<<"EOF"`). */
export interface Heredoc {
  /** The delimiter after quote removal. */
  name: string;
  /** The file descriptor written before `<<` (`3<<EOF`), 0 when absent. */
  fileDescriptor: number;
  /** False when any part of the delimiter was quoted: the body is then taken literally. */
  expand: boolean;
  /** `<<-`: leading tabs are stripped from body lines and from the terminator. */
  chomp: boolean;
  /** The body as written, every line with its newline, leading tabs NOT yet stripped. */
  content: string;
  /** From the first body line to the end of the terminator line. */
  range: SourceRange;
}

/** A parser directive found at the top of the file (`# syntax=`, `# escape=`, `# check=`). */
export interface Directive {
  name: 'syntax' | 'escape' | 'check';
  value: string;
  range: SourceRange;
}

/**
 * Node is one instruction as the parser sees it, before typing: the lower-cased keyword,
 * the flags as written, and the arguments split by that instruction's parsing rule
 * (the `Next` chain of BuildKit's AST).
 */
export interface Node {
  /** Lower-cased keyword (`run`, `from`, …; unknown words are kept as written, lower-cased). */
  value: string;
  /** The keyword exactly as written (`Run`, `FROM`). */
  keyword: string;
  /** The logical line after continuation joining and comment removal (heredoc bodies excluded). */
  original: string;
  /** Leading `--flag[=value]` words, quotes and escapes removed. */
  flags: string[];
  /**
   * The arguments: one entry per node of BuildKit's `Next` chain. ENV and LABEL give
   * key, value, separator triplets (separator `=` or `""` for the legacy `KEY value` form).
   */
  args: string[];
  /** True when the arguments were a JSON array (exec form). */
  json: boolean;
  /** ONBUILD's trigger instruction. */
  subcommand?: Node;
  heredocs: Heredoc[];
  /** Comment lines directly above the instruction, `#` and surrounding blanks removed. */
  comments: string[];
  range: SourceRange;
}

/** A warning with a rule name, a message and where it applies. */
export interface Warning {
  /** Rule name, e.g. `JSONArgsRecommended`. */
  rule: string;
  message: string;
  /** Documentation URL for the rule. */
  url: string;
  range: SourceRange;
  /** Set when `# check=error=true` turns warnings into a failed build. */
  level?: 'warning' | 'error';
}

/** The parsed Dockerfile. */
export interface DockerfileAst {
  directives: Directive[];
  /** `\` unless `# escape=` chose a backtick. */
  escapeToken: '\\' | '`';
  children: Node[];
  /** Parse-time warnings (empty continuation lines, instruction casing, …). */
  warnings: Warning[];
}

/** Options for `parseDockerfile`. */
export interface ParseOptions {
  /** Drop the parse-time warnings (NoEmptyContinuation); planBuild then reports none of them. Default false. */
  skipChecks?: boolean;
}
