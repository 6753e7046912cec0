import { ContextError } from '../errors.js';
import { cleanContextPath } from '../path.js';
import type { PathFilter } from '../types.js';
import {
  compileDockerignorePattern,
  type DockerignorePattern,
  normalizeDockerignoreLine,
} from './dockerignore-pattern.js';

/**
 * DockerignoreMatcher: Docker's `.dockerignore` semantics with node-ignore's shape
 * (`dockerignore().add(patterns).ignores(path)`).
 *
 * Unlike gitignore (and node-ignore), a pattern without a slash matches at the context root
 * only: `*.md` excludes `README.md`, not `docs/a.md` (write `**\/*.md` for that). The last
 * matching line wins; a `!` line re-includes; a path is matched when it or any parent
 * directory matches a line, so an excluded directory excludes its contents.
 *
 * The Dockerfile and `.dockerignore` are not special here. Docker still *reads* them when they
 * are excluded (the build needs them) but COPY/ADD never see them; core should therefore read
 * the Dockerfile and ignore files with `source.readFile` directly, and give this matcher to
 * `list`, `matchSources` and `contextDigests`.
 */
export class DockerignoreMatcher implements PathFilter {
  readonly #patterns: DockerignorePattern[] = [];
  /** The ignore file these patterns came from, when loaded by `loadDockerignore`. */
  file: string | undefined;

  /**
   * add appends patterns: a string is the text of an ignore file (split into lines, a leading
   * BOM dropped); an array holds one line per element; another matcher contributes its patterns.
   * Throws `KILN_CONTEXT_BAD_PATTERN` for a malformed line.
   */
  add(patterns: string | readonly string[] | DockerignoreMatcher): this {
    if (patterns instanceof DockerignoreMatcher) {
      this.#patterns.push(...patterns.#patterns);
      return this;
    }
    const lines = typeof patterns === 'string' ? patterns.replace(/^\uFEFF/, '').split(/\r?\n/) : patterns;
    const compiled: DockerignorePattern[] = [];
    lines.forEach((line, i) => {
      const normalized = normalizeDockerignoreLine(line);
      if (normalized === undefined) return;
      try {
        const pattern = compileDockerignorePattern(normalized);
        if (pattern) compiled.push(pattern);
      } catch (e) {
        if (!(e instanceof ContextError)) throw e;
        const where = typeof patterns === 'string' ? `line ${i + 1}` : `pattern ${i + 1}`;
        throw new ContextError(e.code, `${e.message} (${where})`, { cause: e });
      }
    });
    this.#patterns.push(...compiled); // all or nothing: a bad line leaves the matcher unchanged
    return this;
  }

  /** patterns: the effective lines, cleaned, exceptions prefixed with `!`. */
  get patterns(): string[] {
    return this.#patterns.map((p) => (p.exception ? `!${p.pattern}` : p.pattern));
  }

  /** hasExceptions: true when some line starts with `!`. */
  get hasExceptions(): boolean {
    return this.#patterns.some((p) => p.exception);
  }

  /** ignores is true when `path` (relative to the context root) is excluded from the context. */
  ignores(path: string): boolean {
    const p = cleanContextPath(path);
    if (p === '.' || this.#patterns.length === 0) return false;
    const parents = parentsOf(p);
    let excluded = false;
    for (const pat of this.#patterns) {
      if (excluded !== pat.exception) continue; // this line cannot change the outcome
      if (matches(pat, p, parents)) excluded = !pat.exception;
    }
    return excluded;
  }

  /**
   * test tells, like node-ignore's `test`, whether the last line matching `path` excludes it
   * (`ignored`) or is a `!` exception that re-includes it (`unignored`); both false when no line matches.
   */
  test(path: string): { ignored: boolean; unignored: boolean } {
    const p = cleanContextPath(path);
    let last: DockerignorePattern | undefined;
    if (p !== '.') {
      const parents = parentsOf(p);
      for (const pat of this.#patterns) if (matches(pat, p, parents)) last = pat;
    }
    return { ignored: last !== undefined && !last.exception, unignored: last?.exception === true };
  }

  /** createFilter returns a predicate keeping the paths that are not ignored (node-ignore's `createFilter`). */
  createFilter(): (path: string) => boolean {
    return (path) => !this.ignores(path);
  }

  /**
   * mayIncludeUnder is false when no `!` line could match anything strictly below `dir`, so an
   * excluded `dir` can be skipped without walking it. Conservative: true whenever unsure.
   */
  mayIncludeUnder(dir: string): boolean {
    const segs = cleanContextPath(dir).split('/');
    return this.#patterns.some((pat) => {
      if (!pat.exception) return false;
      if (!pat.openEnded && pat.prefix.length <= segs.length) return false;
      const n = Math.min(pat.prefix.length, segs.length);
      for (let i = 0; i < n; i++) if (!pat.prefix[i]!.test(segs[i]!)) return false;
      return true;
    });
  }

  /** filter keeps the paths that are not ignored (node-ignore's `filter`). */
  filter(paths: readonly string[]): string[] {
    return paths.filter((p) => !this.ignores(p));
  }
}

function parentsOf(p: string): string[] {
  const parents: string[] = [];
  for (let i = p.indexOf('/'); i >= 0; i = p.indexOf('/', i + 1)) parents.push(p.slice(0, i));
  return parents;
}

/** matches: `pat` matches `p` itself or one of its parent directories (Docker's parent rule). */
function matches(pat: DockerignorePattern, p: string, parents: string[]): boolean {
  return pat.regex.test(p) || parents.some((d) => pat.regex.test(d));
}

/** dockerignore: a new, empty `.dockerignore` matcher; chain `.add(...)`. */
export function dockerignore(): DockerignoreMatcher {
  return new DockerignoreMatcher();
}
