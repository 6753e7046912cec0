import { DockerfileError, excerpt } from '../errors.js';
import { PatternError, replacePattern, trimPatternPrefix, trimPatternSuffix } from './pattern.js';

/** Variables for expansion: a plain record or a Map. Names are case-sensitive. */
export type Env = Readonly<Record<string, string>> | ReadonlyMap<string, string>;

/** Options of the shell-word lexer. */
export interface LexOptions {
  /** The escape character: `\` (default) or a backtick after `# escape=\``. */
  escape?: '\\' | '`';
  /** Keep quote characters in the output (used to detect quoted heredoc delimiters). */
  rawQuotes?: boolean;
  /** Keep escape characters in the output. */
  rawEscapes?: boolean;
  /** Leave references to unset variables as written instead of expanding them to "". */
  skipUnsetEnv?: boolean;
  /** Treat quotes as ordinary characters (COPY heredoc bodies). */
  skipProcessQuotes?: boolean;
}

/** The result of expanding one word, with the variables it referenced. */
export interface ExpansionResult {
  /** The word with variables expanded and quotes removed. */
  result: string;
  /** The same, split into words on unquoted whitespace. */
  words: string[];
  /** Referenced variables that were set. */
  matched: string[];
  /** Referenced variables that were not set (feeds the UndefinedVar check). */
  unmatched: string[];
}

class LexError extends Error {}

const isSpace = (ch: string): boolean =>
  ch === ' ' ||
  ch === '\t' ||
  ch === '\n' ||
  ch === '\r' ||
  ch === '\v' ||
  ch === '\f' ||
  (ch > '\x7f' && /\s/.test(ch));

const NAME_CHAR = /[\p{L}\p{Nd}_]/u;
const DIGIT = /\p{Nd}/u;
const isNameChar = (ch: string): boolean =>
  (ch >= 'a' && ch <= 'z') ||
  (ch >= 'A' && ch <= 'Z') ||
  (ch >= '0' && ch <= '9') ||
  ch === '_' ||
  (ch > '\x7f' && NAME_CHAR.test(ch));
const isDigit = (ch: string): boolean => (ch >= '0' && ch <= '9') || (ch > '\x7f' && DIGIT.test(ch));
const SPECIAL_PARAMS = '@*#?-$!0';
const MAX_DEPTH = 256;
const MISSING_SLASH = "syntax error: missing '/' in $" + '{}';

/** Collects the split words while the expanded string is built. */
class WordCollector {
  words: string[] = [];
  buf = '';
  inWord = false;

  addChar(ch: string): void {
    if (isSpace(ch)) {
      if (this.inWord && this.buf.length > 0) {
        this.words.push(this.buf);
        this.buf = '';
        this.inWord = false;
      }
    } else this.addRaw(ch);
  }

  addRaw(s: string): void {
    this.buf += s;
    this.inWord = true;
  }

  addString(s: string): void {
    for (const ch of s) this.addChar(ch);
  }

  finish(): string[] {
    if (this.buf.length > 0) {
      this.words.push(this.buf);
      this.buf = '';
      this.inWord = false;
    }
    return this.words;
  }
}

/** One expansion run over one word; a single pass with an index into the text. */
class ShellWord {
  private pos = 0;
  /** Nesting depth of `${…}`; bounded so hostile input cannot exhaust the stack. */
  private depth = 0;
  readonly matched = new Set<string>();
  readonly unmatched = new Set<string>();
  private readonly esc: string;

  constructor(
    private readonly src: string,
    private readonly env: Env,
    private readonly opts: LexOptions,
  ) {
    this.esc = opts.escape ?? '\\';
  }

  run(): { result: string; words: string[] } {
    return this.processStopOn(null, this.opts.rawEscapes ?? false);
  }

  private lookup(name: string): string | undefined {
    const env = this.env;
    const value =
      env instanceof Map
        ? env.get(name)
        : Object.hasOwn(env, name)
          ? (env as Record<string, string>)[name]
          : undefined;
    if (value === undefined) this.unmatched.add(name);
    else this.matched.add(name);
    return value;
  }

  private processStopOn(stop: string | null, rawEscapes: boolean): { result: string; words: string[] } {
    const src = this.src;
    const words = new WordCollector();
    let result = '';
    const quotes = !this.opts.skipProcessQuotes;
    while (this.pos < src.length) {
      let ch = src[this.pos]!;
      if (stop !== null && ch === stop) {
        this.pos++;
        return { result, words: words.finish() };
      }
      if (ch === '$') {
        const tmp = this.processDollar();
        result += tmp;
        words.addString(tmp);
      } else if (quotes && ch === "'") {
        const tmp = this.processSingleQuote();
        result += tmp;
        words.addRaw(tmp);
      } else if (quotes && ch === '"') {
        const tmp = this.processDoubleQuote(rawEscapes);
        result += tmp;
        words.addRaw(tmp);
      } else {
        this.pos++;
        if (ch === this.esc) {
          if (rawEscapes) {
            words.addRaw(ch);
            result += ch;
          }
          if (this.pos >= src.length) break;
          ch = src[this.pos++]!;
          words.addRaw(ch);
        } else words.addChar(ch);
        result += ch;
      }
    }
    if (stop !== null) throw new LexError(`unexpected end of statement while looking for matching ${stop}`);
    return { result, words: words.finish() };
  }

  private processSingleQuote(): string {
    const src = this.src;
    const raw = this.opts.rawQuotes ?? false;
    this.pos++;
    const close = src.indexOf("'", this.pos);
    if (close < 0) throw new LexError('unexpected end of statement while looking for matching single-quote');
    const body = src.slice(this.pos, close);
    this.pos = close + 1;
    return raw ? `'${body}'` : body;
  }

  private processDoubleQuote(rawEscapes: boolean): string {
    const src = this.src;
    const raw = this.opts.rawQuotes ?? false;
    let result = raw ? '"' : '';
    this.pos++;
    for (;;) {
      if (this.pos >= src.length) {
        throw new LexError('unexpected end of statement while looking for matching double-quote');
      }
      let ch = src[this.pos]!;
      if (ch === '"') {
        this.pos++;
        return raw ? `${result}"` : result;
      }
      if (ch === '$') {
        result += this.processDollar();
        continue;
      }
      this.pos++;
      if (ch === this.esc) {
        if (rawEscapes) result += ch;
        if (this.pos >= src.length) continue;
        const next = src[this.pos]!;
        if (next === '"' || next === '$' || next === this.esc) {
          ch = next;
          this.pos++;
        }
      }
      result += ch;
    }
  }

  private processDollar(): string {
    const src = this.src;
    this.pos++;
    if (src[this.pos] !== '{') {
      const name = this.processName();
      if (name === '') return '$';
      const value = this.lookup(name);
      if (value === undefined && this.opts.skipUnsetEnv) return `$${name}`;
      return value ?? '';
    }
    this.pos++;
    if (this.pos >= src.length) throw new LexError("syntax error: missing '}'");
    if (this.depth >= MAX_DEPTH) throw new LexError(`substitutions nested deeper than ${MAX_DEPTH} levels`);
    this.depth++;
    try {
      return this.processBraced();
    } finally {
      this.depth--;
    }
  }

  /** `${…}` after the brace. */
  private processBraced(): string {
    const src = this.src;
    const first = src[this.pos];
    if (first === '{' || first === '}' || first === ':') throw new LexError('syntax error: bad substitution');
    const name = this.processName();
    if (this.pos >= src.length) throw new LexError("syntax error: missing '}'");
    let ch = src[this.pos++]!;
    let chs = ch;
    let nullIsUnset = false;
    if (ch === '}') {
      const value = this.lookup(name);
      if (value === undefined && this.opts.skipUnsetEnv) return `\${${name}}`;
      return value ?? '';
    }
    if (ch === ':') {
      nullIsUnset = true;
      if (this.pos >= src.length) throw new LexError("syntax error: missing '}'");
      ch = src[this.pos++]!;
      chs += ch;
    }
    if (nullIsUnset || ch === '+' || ch === '-' || ch === '?' || ch === '#' || ch === '%') {
      const rawEscapes = ch === '#' || ch === '%';
      if (nullIsUnset && rawEscapes) throw new LexError(`unsupported modifier (${chs}) in substitution`);
      let word = this.stopOnOrMissing('}', rawEscapes, "syntax error: missing '}'");
      const value = this.lookup(name);
      if (value === undefined && this.opts.skipUnsetEnv) return `\${${name}${chs}${word}}`;
      const empty = value === undefined || (nullIsUnset && value === '');
      switch (ch) {
        case '-':
          return empty ? word : value!;
        case '+':
          return empty ? '' : word;
        case '?':
          if (value === undefined) throw new LexError(`${name}: ${word || 'is not allowed to be unset'}`);
          if (empty) throw new LexError(`${name}: ${word || 'is not allowed to be empty'}`);
          return value;
        case '#':
        case '%': {
          const greedy = word.startsWith(ch);
          if (greedy) word = word.slice(1);
          return ch === '%'
            ? trimPatternSuffix(word, value ?? '', greedy)
            : trimPatternPrefix(word, value ?? '', greedy);
        }
        default:
          throw new LexError(`unsupported modifier (${chs}) in substitution`);
      }
    }
    if (ch === '/') {
      const all = src[this.pos] === '/';
      if (all) this.pos++;
      const pattern = this.stopOnOrMissing('/', true, MISSING_SLASH);
      const replacement = this.stopOnOrMissing('}', true, "syntax error: missing '}'");
      const value = this.lookup(name);
      if (value === undefined && this.opts.skipUnsetEnv) return `\${${name}/${pattern}/${replacement}}`;
      return replacePattern(pattern, replacement, value ?? '', all);
    }
    throw new LexError(`unsupported modifier (${chs}) in substitution`);
  }

  private stopOnOrMissing(stop: string, rawEscapes: boolean, missing: string): string {
    try {
      return this.processStopOn(stop, rawEscapes).result;
    } catch (err) {
      if (this.pos >= this.src.length) throw new LexError(missing);
      throw err;
    }
  }

  private processName(): string {
    const src = this.src;
    const start = this.pos;
    if (start >= src.length) return '';
    const first = src[start]!;
    if (isDigit(first)) {
      while (this.pos < src.length && isDigit(src[this.pos]!)) this.pos++;
      return src.slice(start, this.pos);
    }
    if (SPECIAL_PARAMS.includes(first)) {
      this.pos++;
      return first;
    }
    while (this.pos < src.length && isNameChar(src[this.pos]!)) this.pos++;
    return src.slice(start, this.pos);
  }
}

/**
 * Expands `word` like BuildKit's shell lexer and also reports the variables it referenced.
 * Throws a DockerfileError (`EXPANSION_ERROR`) for bad substitutions, unmatched quotes and
 * `${VAR?msg}` on an unset variable.
 */
export function expandWordWithMatches(word: string, env: Env, opts: LexOptions = {}): ExpansionResult {
  const sw = new ShellWord(word, env, opts);
  let out: { result: string; words: string[] };
  try {
    out = sw.run();
  } catch (err) {
    if (err instanceof LexError || err instanceof PatternError || err instanceof SyntaxError) {
      throw new DockerfileError('EXPANSION_ERROR', `failed to process ${excerpt(word)}: ${err.message}`);
    }
    throw err;
  }
  return { result: out.result, words: out.words, matched: [...sw.matched], unmatched: [...sw.unmatched] };
}

/**
 * expandWord returns `word` with `$VAR`, `${VAR}` and every `${VAR<op>…}` form expanded and
 * quotes and escapes removed, as BuildKit does for ENV, COPY, WORKDIR and the other expanding
 * instructions. `opts.escape` selects `\` or the backtick.
 */
export function expandWord(word: string, env: Env, opts: LexOptions = {}): string {
  return expandWordWithMatches(word, env, opts).result;
}

/**
 * expandWords expands `word` and splits the result on unquoted whitespace (words produced
 * by a variable are split too; quoted text is kept whole).
 */
export function expandWords(word: string, env: Env, opts: LexOptions = {}): string[] {
  return expandWordWithMatches(word, env, opts).words;
}
