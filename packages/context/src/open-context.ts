import { stat } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { ContextError } from './errors.js';
import { dirContext } from './sources/dir-context.js';
import { type GitContextOptions, gitContext } from './sources/git-context.js';
import { httpContext } from './sources/http-context.js';
import { subContext } from './sources/sub-context.js';
import { tarContext } from './sources/tar-context.js';
import type { ContextSource } from './types.js';

/** Options of {@link openContext}. */
export interface OpenContextOptions {
  /** A directory inside the context used as its root (kaniko's `--context-sub-path`), for every kind. */
  contextSubPath?: string;
  /** The stream read for `tar://stdin`. Default: `process.stdin`. */
  stdin?: Readable;
  /** Transport of `https://` tarball contexts. */
  dispatcher?: Dispatcher;
  /** Options of git contexts (`pullMethod` is kaniko's `GIT_PULL_METHOD`). */
  git?: GitContextOptions;
  /** Where tar, http and git contexts keep temporary files. Default: `os.tmpdir()`. */
  tmpDir?: string;
  signal?: AbortSignal;
}

/** A git spec by Docker's rule: a URL whose path ends in `.git` (before any `#fragment`), or scp-like `git@…`. */
const gitLike = /^(?:[A-Za-z0-9._-]+@[^:/]+:|ssh:\/\/|git:\/\/)|^https?:\/\/[^#]*\.git(?:#.*)?$/;

/**
 * openContext: the build context named by a kaniko-style `--context` spec: a plain path (a
 * directory; a regular file is read as a tar archive), `dir://<path>`, `tar://<path>`,
 * `tar://stdin` or Docker's `-` (read from `opts.stdin`), `http(s)://…` (a tarball; a URL ending
 * in `.git` is a git repository), kaniko's `git://host/repo.git#ref#commit`,
 * `git@host:repo.git#ref:dir`, `ssh://…` and Docker's `github.com/org/repo` shorthand.
 * `contextSubPath` then narrows any of them. Other schemes (`s3://`, `gs://`, …) are
 * `KILN_CONTEXT_BAD_SPEC`.
 */
export async function openContext(spec: string, opts: OpenContextOptions = {}): Promise<ContextSource> {
  const source = await openRoot(spec, opts);
  if (!opts.contextSubPath) return source;
  try {
    return await subContext(source, opts.contextSubPath);
  } catch (e) {
    await source.close?.();
    throw e;
  }
}

async function openRoot(spec: string, opts: OpenContextOptions): Promise<ContextSource> {
  const tar = { tmpDir: opts.tmpDir, signal: opts.signal };
  const git = { tmpDir: opts.tmpDir, signal: opts.signal, ...opts.git };
  if (gitLike.test(spec)) return gitContext(spec, git);
  // Docker's shorthand: `github.com/org/repo` is a git repository over https
  if (spec.startsWith('github.com/')) return gitContext(`https://${spec}`, git);
  if (/^https?:\/\//i.test(spec)) return httpContext(spec, { ...tar, dispatcher: opts.dispatcher });
  if (spec.startsWith('dir://')) return dirContext(spec.slice('dir://'.length));
  // `-` is Docker's spelling of a tar context on stdin (`docker build - < ctx.tar`)
  if (spec === 'tar://stdin' || spec === '-')
    return tarContext(opts.stdin ?? process.stdin, { ...tar, label: 'stdin' });
  if (spec.startsWith('tar://')) return tarContext(spec.slice('tar://'.length), tar);
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(spec);
  if (scheme)
    throw new ContextError(
      'KILN_CONTEXT_BAD_SPEC',
      `unsupported build context ${JSON.stringify(spec)}: kiln reads dir://, tar://, http(s):// and git contexts, not ${scheme[1]}://`,
    );
  const st = await stat(spec).catch(() => undefined);
  if (st?.isFile()) return tarContext(spec, tar);
  return dirContext(spec);
}
