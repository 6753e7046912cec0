import { ContextError } from '../errors.js';
import { classRegex, literalRegex, tokenizeGlob } from '../glob/glob-syntax.js';
import { compileSegmentGlob } from '../glob/segment-match.js';

/**
 * One compiled `.dockerignore` line.
 *
 * Semantics (Docker's documented behaviour, as implemented by moby/patternmatcher; kiln's own
 * code): the pattern is anchored at the context root and matched against the whole path;
 * `*` and `?` stay inside one segment; `**` matches any number of segments (`**` + `/` may match
 * zero segments, a trailing `**` matches anything, `a**b` means `a`, any directories, `b`);
 * a path also matches when one of its parent directories matches.
 */
export interface DockerignorePattern {
  /** The cleaned pattern, without its `!`. */
  readonly pattern: string;
  /** True for a `!` exception, which re-includes what it matches. */
  readonly exception: boolean;
  /** Matches the whole path (not its parents). */
  readonly regex: RegExp;
  /** Per-segment matchers of the part before the first `**`, for the "could anything below match" test. */
  readonly prefix: RegExp[];
  /** True when the pattern contains `**` (after `prefix`, anything may follow). */
  readonly openEnded: boolean;
}

/**
 * goClean: Go's `path.Clean` on a POSIX path: collapse `//`, drop `.`, resolve `..` against what
 * precedes it; a rooted `/..` stays at `/`; leading `..` of a relative path is kept.
 */
export function goClean(p: string): string {
  const rooted = p.startsWith('/');
  const out: string[] = [];
  for (const seg of p.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') {
      if (out.length > 0 && out[out.length - 1] !== '..') out.pop();
      else if (!rooted) out.push('..');
    } else out.push(seg);
  }
  const body = out.join('/');
  if (rooted) return `/${body}`;
  return body === '' ? '.' : body;
}

/**
 * normalizeDockerignoreLine: one line of a `.dockerignore` as Docker reads it, or `undefined`
 * for comments and blank lines. `#` starts a comment only in column 1; surrounding whitespace is
 * trimmed, also after `!`; the path is cleaned and a leading `/` dropped.
 */
export function normalizeDockerignoreLine(line: string): string | undefined {
  if (line.startsWith('#')) return undefined;
  let p = line.trim();
  if (p === '') return undefined;
  const exception = p.startsWith('!');
  if (exception) p = p.slice(1).trim();
  if (p !== '') {
    p = goClean(p);
    if (p.length > 1 && p.startsWith('/')) p = p.slice(1);
  }
  return exception ? `!${p}` : p;
}

/** compileDockerignorePattern: a normalized line (see {@link normalizeDockerignoreLine}) compiled. */
export function compileDockerignorePattern(line: string): DockerignorePattern | undefined {
  let p = line.trim();
  const exception = p.startsWith('!');
  if (exception) p = p.slice(1);
  if (exception && p === '')
    throw new ContextError('KILN_CONTEXT_BAD_PATTERN', 'illegal exclusion pattern: "!"');
  if (p === '' || p === '.') return undefined;
  p = goClean(p);
  const tokens = tokenizeGlob(p);
  let re = '';
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (t.kind === 'doublestar') {
      // `**/` is treated as `**`: the slash is consumed with it.
      const next = tokens[i + 1];
      if (next?.kind === 'literal' && next.text.startsWith('/')) {
        next.text = next.text.slice(1);
        if (next.text === '') tokens.splice(i + 1, 1);
      }
      re += i + 1 >= tokens.length ? '.*' : '(?:.*/)?';
    } else if (t.kind === 'literal') re += literalRegex(t.text);
    else if (t.kind === 'star') re += '[^/]*';
    else if (t.kind === 'any') re += '[^/]';
    else re += classRegex(t);
  }
  const ds = p.indexOf('**');
  const segments = (ds < 0 ? p : p.slice(0, ds)).split('/');
  let openEnded = ds >= 0;
  if (openEnded) segments.pop(); // the segment holding `**` is open-ended
  const prefix: RegExp[] = [];
  for (const segment of segments) {
    try {
      prefix.push(compileSegmentGlob(segment));
    } catch {
      // a class spanning a `/` (`[a/b]`) has no per-segment form: stop here, conservatively
      openEnded = true;
      break;
    }
  }
  return { pattern: p, exception, regex: new RegExp(`^${re}$`, 'u'), prefix, openEnded };
}
