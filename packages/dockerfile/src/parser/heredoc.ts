import { DockerfileError } from '../errors.js';
import { expandWordWithMatches } from '../shell/lexer.js';

/** A heredoc header found on an instruction line, before its body is read. */
export interface HeredocHeader {
  name: string;
  fileDescriptor: number;
  expand: boolean;
  chomp: boolean;
}

const HEREDOC_WORD = /^(\d*)<<(-?)\s*([^<]*)$/;
const NO_ENV: Record<string, string> = {};

const countQuotes = (s: string): number => {
  let n = 0;
  for (let i = 0; i < s.length; i++) if (s[i] === '"' || s[i] === "'") n++;
  return n;
};

/**
 * Parses one word as a heredoc header (`<<EOF`, `<<-EOF`, `3<<"EOF"`), or returns undefined.
 * The delimiter is lexed with `\` as escape; when quoting changes it, the body is not expanded.
 */
export function parseHeredocWord(word: string): HeredocHeader | undefined {
  const m = HEREDOC_WORD.exec(word);
  if (!m || m[3] === '') return undefined;
  const rest = m[3]!;
  const plain = expandWordWithMatches(rest, NO_ENV, { skipUnsetEnv: true }).words;
  if (plain.length !== 1) return undefined;
  const raw = expandWordWithMatches(rest, NO_ENV, { skipUnsetEnv: true, rawQuotes: true }).words;
  if (raw.length !== 1) {
    throw new DockerfileError('INVALID_ARGUMENTS', `inconsistent heredoc delimiter ${JSON.stringify(rest)}`);
  }
  const name = plain[0]!;
  return {
    name,
    fileDescriptor: m[1] ? Number.parseInt(m[1], 10) : 0,
    expand: countQuotes(name) === countQuotes(raw[0]!),
    chomp: m[2] === '-',
  };
}

/** Every heredoc header on an instruction line, in order. Lines that do not lex have none. */
export function heredocsFromLine(line: string): HeredocHeader[] {
  let words: string[];
  try {
    words = expandWordWithMatches(line, NO_ENV, {
      rawQuotes: true,
      rawEscapes: true,
      skipUnsetEnv: true,
    }).words;
  } catch {
    return [];
  }
  const out: HeredocHeader[] = [];
  for (const w of words) {
    if (!w.includes('<<')) continue;
    const h = parseHeredocWord(w);
    if (h) out.push(h);
  }
  return out;
}

/** Strips leading tabs from every line of a `<<-` body. */
export function chompHeredocContent(content: string): string {
  return content.replace(/^\t+/gm, '');
}
