import { ContextError } from './errors.js';
import { hasGlobMeta, unescapeGlob } from './glob/glob-syntax.js';
import { compileSegmentGlob } from './glob/segment-match.js';
import { cleanContextPath, compareNames } from './path.js';
import type { ContextEntry, ContextSource, PathFilter } from './types.js';
import { indexContext } from './walk/context-index.js';
import type { EntryTree, TreeNode } from './walk/entry-tree.js';

/** Options of {@link matchSources} and {@link resolveInContext}. */
export interface MatchSourcesOptions {
  /** Exclusions (`.dockerignore`): excluded entries are invisible, as if absent. */
  ignore?: PathFilter;
  /**
   * What a wildcard matching nothing gives. Default `false`: `KILN_CONTEXT_NO_SOURCES`, as
   * kaniko and Docker's classic builder do. `true`: an empty list, as BuildKit does (observed
   * with dockerd 20.10's BuildKit and documented in moby/moby#26332); the literal directories
   * before the first wildcard must still exist (`missing/*.txt` is `"/missing": not found`).
   */
  allowEmptyWildcard?: boolean;
}

/**
 * matchSources: the context entries a COPY/ADD source names, the way BuildKit resolves them.
 *
 * The source is cleaned inside the root (`../x` and `/x` mean `x`, BuildKit's `join("/", src)`).
 * Without wildcards it names one entry: missing or excluded is `KILN_CONTEXT_NOT_FOUND`
 * (`"/x": not found`). With wildcards each segment is matched with Go's `filepath.Match`
 * (`*`, `?`, `[...]`, `\` escapes; `*` matches dot-files; `**` is just `*`), results sorted by path;
 * no match is `KILN_CONTEXT_NO_SOURCES` ("no source files were specified") unless
 * `allowEmptyWildcard` asks for BuildKit's empty result. Symlinked
 * directories met on the way are followed inside the context (results carry the resolved
 * path); a matched entry that is itself a symlink is returned as the symlink, see
 * {@link resolveInContext}. A matched directory is returned as the directory: core copies its
 * contents. `.` names the root.
 */
export async function matchSources(
  source: ContextSource,
  pattern: string,
  opts: MatchSourcesOptions = {},
): Promise<ContextEntry[]> {
  const index = await indexContext(source, opts.ignore);
  const cleaned = cleanContextPath(pattern);
  if (!hasGlobMeta(cleaned)) {
    const literal = unescapeGlob(cleaned);
    const node = index.resolve(literal, false);
    if (!node) throw new ContextError('KILN_CONTEXT_NOT_FOUND', `"/${literal}": not found`);
    return [node.entry];
  }
  let candidates: TreeNode<never>[] = [index.root];
  const segments = cleaned.split('/');
  const firstWild = segments.findIndex((s) => hasGlobMeta(s));
  if (opts.allowEmptyWildcard && firstWild > 0) {
    const prefix = segments.slice(0, firstWild).map(unescapeGlob).join('/');
    if (!index.resolve(prefix, true))
      throw new ContextError('KILN_CONTEXT_NOT_FOUND', `"/${prefix}": not found`);
  }
  segments.forEach((segment, i) => {
    const last = i === segments.length - 1;
    const next: TreeNode<never>[] = [];
    const re = hasGlobMeta(segment) ? compileSegmentGlob(segment) : undefined;
    const literal = re ? undefined : unescapeGlob(segment);
    for (const dir of candidates) {
      const names = re
        ? index.childNames(dir).filter((n) => re.test(n))
        : dir.children?.has(literal!)
          ? [literal!]
          : [];
      for (const name of names) {
        const path = dir.entry.path === '.' ? name : `${dir.entry.path}/${name}`;
        // like Go's filepath.Glob, a wildcard passing through a broken link or a loop skips it
        const child = re ? tryResolve(index, path, !last) : index.resolve(path, !last);
        if (child && (last || child.children)) next.push(child);
      }
    }
    candidates = next;
  });
  if (candidates.length === 0 && !opts.allowEmptyWildcard)
    throw new ContextError(
      'KILN_CONTEXT_NO_SOURCES',
      `no source files were specified: ${JSON.stringify(pattern)} matches nothing in the build context`,
    );
  const seen = new Set<string>();
  return candidates
    .map((n) => n.entry)
    .filter((e) => !seen.has(e.path) && seen.add(e.path))
    .sort((a, b) => compareNames(a.path, b.path));
}

function tryResolve(index: EntryTree, path: string, followLast: boolean): TreeNode<never> | undefined {
  try {
    return index.resolve(path, followLast);
  } catch {
    return undefined;
  }
}

/**
 * followSource: the entry a matched COPY/ADD source stands for. BuildKit copies what a source
 * symlink points to (observed: `COPY file-link /out/` writes a regular file named `file-link`;
 * a linked directory contributes its contents), so a symlink is resolved inside the context,
 * chroot-style; a dangling one is `KILN_CONTEXT_NOT_FOUND` naming where it led, in BuildKit's
 * words (`link -> ../../etc` gives `"/etc": not found`). Other entries are returned unchanged.
 */
export async function followSource(
  source: ContextSource,
  entry: ContextEntry,
  opts: MatchSourcesOptions = {},
): Promise<ContextEntry> {
  if (entry.type !== 'symlink') return entry;
  const index = await indexContext(source, opts.ignore);
  const { node, path } = index.trace(entry.path, true);
  if (!node) throw new ContextError('KILN_CONTEXT_NOT_FOUND', `"/${path}": not found`);
  return node.entry;
}

/**
 * resolveInContext: the entry at `path` with every symlink followed inside the context, as
 * `chroot` would (absolute targets start at the context root, `..` stops there), or `undefined`
 * when the chain ends outside what exists. Core uses it when a COPY source is itself a symlink.
 */
export async function resolveInContext(
  source: ContextSource,
  path: string,
  opts: MatchSourcesOptions = {},
): Promise<ContextEntry | undefined> {
  const index = await indexContext(source, opts.ignore);
  return index.resolve(path, true)?.entry;
}
