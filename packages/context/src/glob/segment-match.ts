import { classRegex, literalRegex, tokenizeGlob } from './glob-syntax.js';

/**
 * compileSegmentGlob: a RegExp with Go `filepath.Match` semantics for ONE path segment
 * (`*` and `?` never match `/`; `**` is simply two stars). Throws `KILN_CONTEXT_BAD_PATTERN`.
 */
export function compileSegmentGlob(segment: string): RegExp {
  let re = '';
  for (const t of tokenizeGlob(segment)) {
    if (t.kind === 'literal') re += literalRegex(t.text);
    else if (t.kind === 'star' || t.kind === 'doublestar') re += '[^/]*';
    else if (t.kind === 'any') re += '[^/]';
    else re += classRegex(t);
  }
  return new RegExp(`^${re}$`, 'u');
}
