import { ContextError } from '../errors.js';

/**
 * The glob grammar shared by `.dockerignore` patterns and COPY/ADD sources: Go's
 * `path/filepath.Match` syntax (`*`, `?`, `[...]` with ranges and `^` negation, `\` escapes),
 * plus `**`, which only `.dockerignore` gives a meaning to.
 *
 * Written from Go's documented grammar: a class needs at least one range, `-` and `]` must be
 * escaped where they would be ambiguous (`[]a]`, `[-a]`, `[a-]`, `[a-b-c]` are malformed), and a
 * trailing lone `\` is malformed. Malformed patterns are `KILN_CONTEXT_BAD_PATTERN` up front.
 */

/** A compiled piece of a glob. `class` ranges are inclusive code-point pairs. */
export type GlobToken =
  | { kind: 'literal'; text: string }
  | { kind: 'star' }
  | { kind: 'doublestar' }
  | { kind: 'any' }
  | { kind: 'class'; negated: boolean; ranges: [number, number][] };

function bad(pattern: string, why: string): ContextError {
  return new ContextError('KILN_CONTEXT_BAD_PATTERN', `bad pattern ${JSON.stringify(pattern)}: ${why}`);
}

/** tokenizeGlob: `pattern` as tokens; `**` becomes `doublestar` (callers without `**` treat it as two stars). */
export function tokenizeGlob(pattern: string): GlobToken[] {
  const cps = Array.from(pattern);
  const out: GlobToken[] = [];
  const pushLiteral = (ch: string) => {
    const last = out[out.length - 1];
    if (last?.kind === 'literal') last.text += ch;
    else out.push({ kind: 'literal', text: ch });
  };
  let i = 0;
  while (i < cps.length) {
    const ch = cps[i]!;
    if (ch === '*') {
      if (cps[i + 1] === '*') {
        out.push({ kind: 'doublestar' });
        i += 2;
      } else {
        out.push({ kind: 'star' });
        i++;
      }
    } else if (ch === '?') {
      out.push({ kind: 'any' });
      i++;
    } else if (ch === '\\') {
      if (i + 1 >= cps.length) throw bad(pattern, 'trailing backslash');
      pushLiteral(cps[i + 1]!);
      i += 2;
    } else if (ch === '[') {
      i = readClass(pattern, cps, i + 1, out);
    } else {
      pushLiteral(ch);
      i++;
    }
  }
  return out;
}

/** readClass parses a class starting after `[`; returns the index after the closing `]`. */
function readClass(pattern: string, cps: string[], start: number, out: GlobToken[]): number {
  let i = start;
  let negated = false;
  if (cps[i] === '^') {
    negated = true;
    i++;
  }
  const ranges: [number, number][] = [];
  const readChar = (): number => {
    const c = cps[i];
    if (c === undefined) throw bad(pattern, 'unterminated character class');
    if (c === '-' || c === ']') throw bad(pattern, `unescaped ${JSON.stringify(c)} in character class`);
    if (c === '\\') {
      const e = cps[i + 1];
      if (e === undefined) throw bad(pattern, 'unterminated character class');
      i += 2;
      return e.codePointAt(0)!;
    }
    i++;
    return c.codePointAt(0)!;
  };
  for (;;) {
    if (cps[i] === ']' && ranges.length > 0) {
      out.push({ kind: 'class', negated, ranges });
      return i + 1;
    }
    const lo = readChar();
    let hi = lo;
    if (cps[i] === '-') {
      i++;
      hi = readChar();
      if (hi < lo) throw bad(pattern, 'character range out of order');
    }
    ranges.push([lo, hi]);
  }
}

const cp = (n: number) => `\\u{${n.toString(16)}}`;

/** literalRegex: `text` as a regex source matching itself literally (`u` flag). */
export function literalRegex(text: string): string {
  let s = '';
  for (const ch of text) s += /[A-Za-z0-9_/]/.test(ch) ? ch : cp(ch.codePointAt(0)!);
  return s;
}

/** classRegex: a `class` token as a regex source (`u` flag). Like Go, a class may match `/`. */
export function classRegex(t: Extract<GlobToken, { kind: 'class' }>): string {
  const body = t.ranges.map(([lo, hi]) => (lo === hi ? cp(lo) : `${cp(lo)}-${cp(hi)}`)).join('');
  return `[${t.negated ? '^' : ''}${body}]`;
}

/** hasGlobMeta: true when `pattern` uses any wildcard (an escaped character does not count). */
export function hasGlobMeta(pattern: string): boolean {
  return tokenizeGlob(pattern).some((t) => t.kind !== 'literal');
}

/** unescapeGlob: the literal path a meta-free pattern denotes (`a\*b` → `a*b`). */
export function unescapeGlob(pattern: string): string {
  return tokenizeGlob(pattern)
    .map((t) => (t.kind === 'literal' ? t.text : ''))
    .join('');
}
