import type { Directive } from '../ast.js';
import { DockerfileError } from '../errors.js';
import { parseGoBool } from '../go-bool.js';

/** The parsed `# check=` directive (or `BUILDKIT_DOCKERFILE_CHECK` build arg). */
export interface CheckConfig {
  /** Rule names to skip; `all` skips every rule. */
  skip: Set<string>;
  /** Warnings fail the plan. */
  error: boolean;
}

/** Parses `skip=A,B;error=true;experimental=C` (keys case-insensitive). */
export function parseCheckConfig(value: string, directive?: Directive): CheckConfig {
  const cfg: CheckConfig = { skip: new Set(), error: false };
  const where = directive
    ? { line: directive.range.start.line, column: directive.range.start.column }
    : undefined;
  for (const part of value.split(';')) {
    const p = part.trim();
    if (p === '') continue;
    const eq = p.indexOf('=');
    const key = (eq < 0 ? p : p.slice(0, eq)).trim().toLowerCase();
    const v = eq < 0 ? '' : p.slice(eq + 1).trim();
    if (key === 'skip') {
      for (const name of v.split(','))
        if (name.trim()) cfg.skip.add(name.trim().toLowerCase() === 'all' ? 'all' : name.trim());
    } else if (key === 'error') {
      const b = parseGoBool(v);
      if (b === undefined) {
        throw new DockerfileError(
          'INVALID_DIRECTIVE',
          `invalid check option ${JSON.stringify(p)}: error takes true or false`,
          where,
        );
      }
      cfg.error = b;
    } else if (key !== 'experimental') {
      throw new DockerfileError('INVALID_DIRECTIVE', `invalid check option ${JSON.stringify(p)}`, where);
    }
  }
  return cfg;
}
