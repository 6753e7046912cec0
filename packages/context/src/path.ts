/**
 * Context paths: POSIX, relative to the context root, cleaned, `.` for the root.
 *
 * Provenance: BuildKit resolves a COPY source as `join("/", src)` inside the context mount,
 * so `..` at the root stays at the root (`COPY ../x .` reads `x`; moby/buildkit#2131). kiln
 * matches that rather than the classic builder's "forbidden path outside the build context".
 */

/** cleanContextPath: `p` cleaned and clamped inside the root (`/a/../../b/` → `b`, `` → `.`). */
export function cleanContextPath(p: string): string {
  const out: string[] = [];
  for (const seg of p.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') out.pop();
    else out.push(seg);
  }
  return out.length === 0 ? '.' : out.join('/');
}

/**
 * cleanStrictPath: `p` cleaned like {@link cleanContextPath}, or `undefined` when a `..` would
 * climb above the root. For paths a program wrote (memory-context keys), where such a path is a
 * mistake to report rather than something to resolve.
 */
export function cleanStrictPath(p: string): string | undefined {
  const out: string[] = [];
  for (const seg of p.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') {
      if (out.length === 0) return undefined;
      out.pop();
    } else out.push(seg);
  }
  return out.length === 0 ? '.' : out.join('/');
}

/** parentPath: the directory holding `p` (`.` for top-level entries and for the root). */
export function parentPath(p: string): string {
  const i = p.lastIndexOf('/');
  return i < 0 ? '.' : p.slice(0, i);
}

/** baseName: the last segment of `p`. */
export function baseName(p: string): string {
  return p.slice(p.lastIndexOf('/') + 1);
}

/** joinContextPath: `child` appended to the cleaned directory `dir` (either may be `.`). */
export function joinContextPath(dir: string, child: string): string {
  if (dir === '.') return child;
  if (child === '.') return dir;
  return `${dir}/${child}`;
}

/** isUnder: true when `p` is a strict descendant of `dir` (every path is under `.` except `.`). */
export function isUnder(p: string, dir: string): boolean {
  if (dir === '.') return p !== '.';
  return p.length > dir.length && p.startsWith(dir) && p.charCodeAt(dir.length) === 47;
}

/** relativeTo: `p` relative to its ancestor `dir` (`.` when equal). */
export function relativeTo(p: string, dir: string): string {
  if (dir === '.') return p;
  return p === dir ? '.' : p.slice(dir.length + 1);
}

/** compareNames: the sibling order of listings (UTF-16 code units, like `Array.prototype.sort`). */
export function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
