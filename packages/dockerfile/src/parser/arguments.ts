/**
 * Per-instruction argument rules of the parser (BuildKit's "line parsers"): which text becomes
 * which argument list. They only split; quote removal and expansion happen later.
 */
import { DockerfileError } from '../errors.js';

/** Go's unicode.IsSpace on one UTF-16 unit. */
export function isSpaceCode(c: number): boolean {
  return (
    c === 32 ||
    (c >= 9 && c <= 13) ||
    (c > 127 &&
      (c === 0x85 ||
        c === 0xa0 ||
        c === 0x1680 ||
        (c >= 0x2000 && c <= 0x200a) ||
        c === 0x2028 ||
        c === 0x2029 ||
        c === 0x202f ||
        c === 0x205f ||
        c === 0x3000))
  );
}

/** The separator between keyword and arguments: `[\t\v\f\r ]+`. */
const isTokenSpace = (c: number): boolean => c === 32 || c === 9 || c === 11 || c === 12 || c === 13;

/** Trims Go-style (unicode.IsSpace) whitespace from both ends. */
export function trimSpace(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && isSpaceCode(s.charCodeAt(a))) a++;
  while (b > a && isSpaceCode(s.charCodeAt(b - 1))) b--;
  return a === 0 && b === s.length ? s : s.slice(a, b);
}

/** Splits on runs of `[\t\v\f\r ]`, keeping empty pieces at the ends like Go's regexp Split. */
export function splitTokenSpace(s: string, limit = -1): string[] {
  const out: string[] = [];
  let start = 0;
  let i = 0;
  while (i < s.length) {
    if (isTokenSpace(s.charCodeAt(i))) {
      if (limit > 0 && out.length === limit - 1) break;
      out.push(s.slice(start, i));
      while (i < s.length && isTokenSpace(s.charCodeAt(i))) i++;
      start = i;
    } else i++;
  }
  out.push(s.slice(start));
  return out;
}

/** The keyword, flags and argument text of one logical line. */
export interface SplitLine {
  keyword: string;
  flags: string[];
  rest: string;
}

/** Splits `KEYWORD [--flags] rest`; flags end at the first word not starting with `--`. */
export function splitCommand(line: string): SplitLine {
  const trimmed = trimSpace(line);
  let i = 0;
  while (i < trimmed.length && !isTokenSpace(trimmed.charCodeAt(i))) i++;
  const keyword = trimmed.slice(0, i);
  while (i < trimmed.length && isTokenSpace(trimmed.charCodeAt(i))) i++;
  if (i >= trimmed.length) return { keyword, flags: [], rest: '' };
  const { rest, flags } = extractFlags(trimmed.slice(i));
  return { keyword, flags, rest: trimSpace(rest) };
}

/**
 * Reads leading `--name[=value]` words. Quotes group (and are removed), `\` escapes the next
 * character whatever the escape directive says; a bare `--` ends the flags.
 */
function extractFlags(line: string): { rest: string; flags: string[] } {
  const flags: string[] = [];
  let pos = 0;
  const n = line.length;
  for (;;) {
    while (pos < n && isSpaceCode(line.charCodeAt(pos))) pos++;
    if (pos >= n) return { rest: '', flags };
    if (line[pos] !== '-' || line[pos + 1] !== '-') return { rest: line.slice(pos), flags };
    let word = '';
    let blankOK = false;
    let quote = '';
    for (; pos < n; pos++) {
      let ch = line[pos]!;
      if (quote === '') {
        if (isSpaceCode(line.charCodeAt(pos))) break;
        if (ch === "'" || ch === '"') {
          quote = ch;
          blankOK = true;
          continue;
        }
      } else if (ch === quote) {
        quote = '';
        continue;
      }
      if (ch === '\\') {
        if (pos + 1 === n) continue;
        ch = line[++pos]!;
      }
      word += ch;
    }
    if (word === '--') return { rest: pos >= n ? '' : line.slice(pos), flags };
    if (blankOK || word.length > 0) flags.push(word);
    if (pos >= n) return { rest: '', flags };
  }
}

/**
 * Splits on unquoted whitespace keeping quotes and escapes in the words (ENV, LABEL, ARG);
 * an escape token at the very end is dropped.
 */
export function parseWords(rest: string, escapeToken: string): string[] {
  const words: string[] = [];
  const n = rest.length;
  let pos = 0;
  while (pos < n) {
    while (pos < n && isSpaceCode(rest.charCodeAt(pos))) pos++;
    if (pos >= n) break;
    let word = '';
    let blankOK = false;
    let quote = '';
    for (; pos < n; pos++) {
      let ch = rest[pos]!;
      if (quote === '') {
        if (isSpaceCode(rest.charCodeAt(pos))) break;
        if (ch === "'" || ch === '"') {
          quote = ch;
          blankOK = true;
        }
        if (ch === escapeToken) {
          if (pos + 1 === n) continue;
          word += ch;
          ch = rest[++pos]!;
        }
        word += ch;
      } else {
        if (ch === quote) quote = '';
        if (ch === escapeToken && quote !== "'") {
          if (pos + 1 === n) {
            quote = '';
            continue;
          }
          word += ch;
          ch = rest[++pos]!;
        }
        word += ch;
      }
    }
    if (blankOK || word.length > 0) words.push(word);
  }
  return words;
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/** The JSON array of strings `rest` holds, `undefined` if it is not valid JSON. */
export function parseJsonArray(rest: string, where: { line: number; column: number }): string[] | undefined {
  let i = 0;
  while (i < rest.length && isSpaceCode(rest.charCodeAt(i))) i++;
  if (rest[i] !== '[') return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(i === 0 ? rest : rest.slice(i));
  } catch {
    return undefined;
  }
  if (!Array.isArray(parsed)) return undefined;
  // Go's decoder fails (so BuildKit falls back to shell form) on numbers out of float64 range.
  if (parsed.some((v) => typeof v === 'number' && !Number.isFinite(v))) return undefined;
  for (let i = 0; i < parsed.length; i++) {
    const v: unknown = parsed[i];
    // Go decodes a lone surrogate escape (\ud800) as U+FFFD.
    if (typeof v === 'string') parsed[i] = v.replace(LONE_SURROGATE, '\ufffd');
    else {
      throw new DockerfileError(
        'INVALID_JSON_ARRAY',
        `when using JSON array syntax, arrays must be comprised of strings only: ${rest.trim()}`,
        where,
      );
    }
  }
  return parsed as string[];
}

/** The parsed arguments of one instruction. */
export interface ParsedArgs {
  args: string[];
  json: boolean;
}

const NONE: ParsedArgs = { args: [], json: false };

function maybeJson(rest: string, where: { line: number; column: number }): ParsedArgs {
  if (rest === '') return NONE;
  const arr = parseJsonArray(rest, where);
  return arr ? { args: arr, json: true } : { args: [rest], json: false };
}

function maybeJsonToList(rest: string, where: { line: number; column: number }): ParsedArgs {
  const arr = parseJsonArray(rest, where);
  if (arr) return { args: arr, json: true };
  return rest === '' ? NONE : { args: splitTokenSpace(rest), json: false };
}

function nameVal(
  rest: string,
  keyword: string,
  escapeToken: string,
  where: { line: number; column: number },
): ParsedArgs {
  const words = parseWords(rest, escapeToken);
  if (words.length === 0) return NONE;
  if (!words[0]!.includes('=')) {
    const parts = splitTokenSpace(rest, 2);
    if (parts.length < 2) {
      throw new DockerfileError(
        'INVALID_ARGUMENTS',
        `${keyword} must have two arguments: ${JSON.stringify(rest)}`,
        where,
      );
    }
    return { args: [parts[0]!, parts[1]!, ''], json: false };
  }
  const args: string[] = [];
  for (const word of words) {
    const eq = word.indexOf('=');
    if (eq < 0) {
      throw new DockerfileError(
        'INVALID_ARGUMENTS',
        `syntax error - can't find = in ${JSON.stringify(word)}, must be of the form name=value`,
        where,
      );
    }
    args.push(word.slice(0, eq), word.slice(eq + 1), '=');
  }
  return { args, json: false };
}

function healthConfig(rest: string, where: { line: number; column: number }): ParsedArgs {
  let sep = 0;
  while (sep < rest.length && !isSpaceCode(rest.charCodeAt(sep))) sep++;
  if (sep === 0) return NONE;
  let next = sep;
  while (next < rest.length && isSpaceCode(rest.charCodeAt(next))) next++;
  const cmd = maybeJson(rest.slice(next), where);
  return { args: [rest.slice(0, sep), ...cmd.args], json: cmd.json };
}

/** Argument rule per keyword; unknown keywords keep one empty argument, like BuildKit. */
export function parseArguments(
  keyword: string,
  rest: string,
  escapeToken: string,
  where: { line: number; column: number },
): ParsedArgs {
  switch (keyword) {
    case 'add':
    case 'copy':
    case 'volume':
      return maybeJsonToList(rest, where);
    case 'arg': {
      const words = parseWords(rest, escapeToken);
      return { args: words, json: false };
    }
    case 'cmd':
    case 'entrypoint':
    case 'run':
    case 'shell':
      return maybeJson(rest, where);
    case 'env':
      return nameVal(rest, 'ENV', escapeToken, where);
    case 'label':
      return nameVal(rest, 'LABEL', escapeToken, where);
    case 'expose':
    case 'from':
      return rest === '' ? NONE : { args: splitTokenSpace(rest), json: false };
    case 'healthcheck':
      return healthConfig(rest, where);
    case 'maintainer':
    case 'stopsignal':
    case 'user':
    case 'workdir':
      return rest === '' ? NONE : { args: [rest], json: false };
    default:
      return { args: [''], json: false };
  }
}
