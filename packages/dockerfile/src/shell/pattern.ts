/**
 * Shell patterns of `${v#p}`, `${v%p}` and `${v/p/r}`: `*` and `?` wildcards, `\` escaping
 * `*`, `?` and `\` (and `}`/`/`, whose escape is dropped). No bracket expressions, matching
 * BuildKit's Dockerfile frontend. Compiled to a RegExp; lazy `*` gives the shortest match.
 */

/** Thrown for a pattern with an invalid escape; the lexer wraps it in a DockerfileError. */
export class PatternError extends Error {}

const REGEX_SPECIAL = new Set(['[', ']', '{', '}', '.', '+', '(', ')', '|', '^', '$']);

function compile(pattern: string, greedy: boolean, anchored: boolean, global: boolean): RegExp {
  const star = greedy ? '.*' : '.*?';
  let out = anchored ? '^' : '';
  const chars = Array.from(pattern);
  for (let i = 0; i < chars.length; i++) {
    const ch = chars[i]!;
    if (ch === '*') out += star;
    else if (ch === '?') out += '.';
    else if (ch === '\\') {
      const next = chars[i + 1];
      if (next === '}' || next === '/') continue;
      if (next !== '*' && next !== '?' && next !== '\\') {
        throw new PatternError(`invalid escape '\\${next ?? ''}'`);
      }
      out += `\\${next}`;
      i++;
    } else if (REGEX_SPECIAL.has(ch)) out += `\\${ch}`;
    else out += ch;
  }
  return new RegExp(out, global ? 'gu' : 'u');
}

/** Removes the shortest (or, greedy, the longest) prefix of `value` matching `pattern`. */
export function trimPatternPrefix(pattern: string, value: string, greedy: boolean): string {
  const m = compile(pattern, greedy, true, false).exec(value);
  return m ? value.slice(m[0].length) : value;
}

/** Reverses a pattern keeping each `\x` escape pair in order (`a\*c` → `c\*a`). */
function reversePattern(pattern: string): string {
  const chars = Array.from(pattern);
  const out: string[] = new Array(chars.length);
  const last = chars.length - 1;
  for (let i = 0; i <= last; ) {
    const ch = chars[i]!;
    const at = last - i;
    if (ch === '\\' && i !== last) {
      out[at - 1] = ch;
      out[at] = chars[i + 1]!;
      i += 2;
    } else {
      out[at] = ch;
      i++;
    }
  }
  return out.join('');
}

const reverse = (s: string): string => Array.from(s).reverse().join('');

/**
 * Removes the shortest (or longest) suffix matching `pattern`: both strings are reversed so the
 * leftmost-match engine finds the rightmost suffix, as BuildKit does.
 */
export function trimPatternSuffix(pattern: string, value: string, greedy: boolean): string {
  return reverse(trimPatternPrefix(reversePattern(pattern), reverse(value), greedy));
}

/** Replaces the first (or every) match of `pattern` in `value`; `*` is greedy here. */
export function replacePattern(pattern: string, replacement: string, value: string, all: boolean): string {
  const re = compile(pattern, true, false, all);
  return value.replace(re, () => replacement);
}
