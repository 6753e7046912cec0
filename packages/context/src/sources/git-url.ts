import { ContextError, redactUrl } from '../errors.js';
import { cleanContextPath } from '../path.js';

/** The parts of a git context spec. */
export interface GitContextUrl {
  /** What `git fetch` is given (a URL or `user@host:path`). */
  remote: string;
  /** Branch, tag, full ref or commit to check out. Default: the remote's HEAD. */
  ref?: string;
  /** kaniko's second fragment: the commit to check out after fetching `ref`. */
  commit?: string;
  /** Directory of the checkout used as the context root (cleaned, `.` for the top). */
  subdir: string;
}

/** How kaniko's `git://` specs are fetched (its `GIT_PULL_METHOD`): `https` unless told otherwise. */
export type GitPullMethod = 'https' | 'http' | 'git';

const remoteForms = /^(?:https?:\/\/|ssh:\/\/|git:\/\/|file:\/\/|[A-Za-z0-9._-]+@[^:/]+:)/;

/**
 * parseGitContextUrl reads the two spec dialects:
 * - Docker's `<remote>#<ref>:<subdir>` for `https://…`, `ssh://…`, `git@host:path`, `file://…`
 *   (each part optional: `#:docs`, `#v1.2`);
 * - kaniko's `git://host/org/repo.git#<ref>#<commit>`, fetched over `pullMethod` (default https,
 *   as kaniko does; `git` keeps the git:// protocol). `<ref>` may carry `:<subdir>` here too.
 * Refs and remotes starting with `-` are refused, so nothing reaches git as an option.
 */
export function parseGitContextUrl(spec: string, pullMethod: GitPullMethod = 'https'): GitContextUrl {
  const hash = spec.indexOf('#');
  let remote = hash < 0 ? spec : spec.slice(0, hash);
  const fragment = hash < 0 ? '' : spec.slice(hash + 1);
  if (!remoteForms.test(remote))
    throw new ContextError(
      'KILN_CONTEXT_BAD_SPEC',
      `${JSON.stringify(redactUrl(spec))} is not a git repository URL`,
    );
  let refPart = fragment;
  let commit: string | undefined;
  if (remote.startsWith('git://')) {
    const [first = '', second] = fragment.split('#');
    refPart = first;
    commit = second || undefined;
    if (pullMethod !== 'git') remote = `${pullMethod}://${remote.slice('git://'.length)}`;
  }
  const colon = refPart.indexOf(':');
  const ref = (colon < 0 ? refPart : refPart.slice(0, colon)) || undefined;
  const subdir = cleanContextPath(colon < 0 ? '' : refPart.slice(colon + 1));
  for (const [what, value] of [
    ['ref', ref],
    ['commit', commit],
  ] as const) {
    if (value !== undefined && (value.startsWith('-') || /\s/.test(value)))
      throw new ContextError(
        'KILN_CONTEXT_BAD_SPEC',
        `git context ${redactUrl(spec)}: invalid ${what} ${JSON.stringify(value)}`,
      );
  }
  if (commit !== undefined && !/^[0-9a-f]{4,64}$/i.test(commit))
    throw new ContextError(
      'KILN_CONTEXT_BAD_SPEC',
      `git context ${redactUrl(spec)}: ${JSON.stringify(commit)} is not a commit id`,
    );
  return { remote, subdir, ...(ref ? { ref } : {}), ...(commit ? { commit } : {}) };
}
