import type { Directive } from '../ast.js';
import { DockerfileError } from '../errors.js';

const DIRECTIVE = /^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$/;
const KNOWN = new Set(['syntax', 'escape', 'check']);

/**
 * Tracks parser directives: they count only in the comment lines at the very top of the file;
 * the first other line (blank, instruction, unrelated comment, unknown key) ends the search.
 */
export class DirectiveScanner {
  done = false;
  escape: '\\' | '`' = '\\';
  readonly found: Directive[] = [];

  /** Looks at one left-trimmed physical line (1-based `line`, `column` of its first character). */
  scan(text: string, line: number, column: number): void {
    if (this.done) return;
    const m = DIRECTIVE.exec(text);
    const key = m?.[1]?.toLowerCase();
    if (!m || !key || !KNOWN.has(key)) {
      this.done = true;
      return;
    }
    const where = { line, column };
    if (this.found.some((d) => d.name === key)) {
      throw new DockerfileError(
        'DUPLICATE_DIRECTIVE',
        `only one ${key} parser directive can be used: ${text}`,
        where,
      );
    }
    const value = m[2]!;
    if (key === 'escape') {
      if (value !== '\\' && value !== '`') {
        throw new DockerfileError(
          'INVALID_ESCAPE',
          `invalid escape token '${value}' does not match \` or \\`,
          where,
        );
      }
      this.escape = value;
    }
    this.found.push({
      name: key as Directive['name'],
      value,
      range: { start: where, end: { line, column: column + text.length } },
    });
  }
}
