import { execFile } from 'node:child_process';
import { lstat, mkdtemp, realpath, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ContextError, redactUrl } from '../errors.js';
import { cleanContextPath } from '../path.js';
import type { ContextSource } from '../types.js';
import { dirContext } from './dir-context.js';
import { type GitPullMethod, parseGitContextUrl } from './git-url.js';

/** Options of {@link gitContext}. */
export interface GitContextOptions {
  /** Protocol for kaniko-style `git://` specs (kaniko's `GIT_PULL_METHOD`). Default `https`. */
  pullMethod?: GitPullMethod;
  /** Where the checkout is made; it is removed by `close()`. Default: `os.tmpdir()`. */
  tmpDir?: string;
  /** Extra environment for git (e.g. `GIT_SSH_COMMAND`); `GIT_TERMINAL_PROMPT=0` is always set. */
  env?: Record<string, string>;
  /** The git program. Default `git` from PATH. */
  gitBinary?: string;
  /** Check out submodules (shallow) when the repository has any. Default true, as Docker does. */
  submodules?: boolean;
  /** Keep `.git` in the context (BuildKit's `BUILDKIT_CONTEXT_KEEP_GIT_DIR`). Default false. */
  keepGitDir?: boolean;
  /**
   * Basic-auth credentials for an http(s) remote (kaniko's `GIT_USERNAME`/`GIT_PASSWORD`, or a
   * token as the password). Passed to git through `GIT_CONFIG_*` environment variables as a header
   * scoped to the remote's origin: never on the command line, in `.git/config`, or in messages.
   */
  auth?: { username: string; password: string };
  signal?: AbortSignal;
}

/**
 * gitContext: a git repository as a build context, through the git CLI. Fetches only the wanted
 * ref with `--depth 1` (a commit id too, when the server allows it; otherwise a full fetch then
 * checkout), checks out submodules, deletes `.git` (BuildKit does not send it by default), and
 * serves the chosen sub-directory as a directory context of kind `git`. Failures are
 * `KILN_CONTEXT_GIT_FAILED` quoting git's message; URLs in messages have credentials removed.
 */
export async function gitContext(url: string, opts: GitContextOptions = {}): Promise<ContextSource> {
  const spec = parseGitContextUrl(url, opts.pullMethod);
  const git = gitRunner(opts, redactUrl(url), spec.remote);
  const base = await mkdtemp(join(opts.tmpDir ?? tmpdir(), 'kiln-git-context-'));
  const repo = join(base, 'checkout');
  try {
    await git(['init', '-q', repo], base);
    await git(['remote', 'add', 'origin', spec.remote], repo);
    const shallowTarget = spec.commit ?? spec.ref ?? 'HEAD';
    const shallow = await git(
      ['fetch', '-q', '--depth', '1', '--no-tags', 'origin', shallowTarget],
      repo,
    ).then(
      () => true,
      (e: unknown) => {
        // a commit id the server will not serve directly: fall back to a full fetch below
        if (spec.commit || /^[0-9a-f]{4,64}$/i.test(spec.ref ?? '')) return false;
        throw e;
      },
    );
    if (shallow) await git(['checkout', '-q', 'FETCH_HEAD'], repo);
    else {
      const refspecs = spec.commit && spec.ref ? [spec.ref] : ['+refs/heads/*:refs/remotes/origin/*'];
      await git(['fetch', '-q', '--tags', 'origin', ...refspecs], repo);
      await git(['checkout', '-q', spec.commit ?? spec.ref!], repo);
    }
    let submodules: string[] = [];
    if (opts.submodules !== false && (await exists(join(repo, '.gitmodules')))) {
      await git(['submodule', 'update', '-q', '--init', '--recursive', '--depth', '1'], repo);
      const listed = await git(
        ['submodule', 'foreach', '--quiet', '--recursive', 'printf "%s\\n" "$displaypath"'],
        repo,
      );
      submodules = listed.split('\n').filter((l) => l !== '');
    }
    if (!opts.keepGitDir) {
      // each submodule's `.git` is a file pointing into the top-level `.git`: both go
      for (const dir of ['.', ...submodules])
        await rm(join(repo, cleanContextPath(dir), '.git'), { recursive: true, force: true });
    }
    const root = join(repo, spec.subdir);
    const st = await lstat(root).catch(() => undefined);
    // the sub-directory must be a real directory of the checkout, not a symlink leading elsewhere
    if (!st?.isDirectory() || (await realpath(root)) !== join(await realpath(repo), spec.subdir))
      throw new ContextError(
        'KILN_CONTEXT_NOT_A_DIRECTORY',
        `git context ${redactUrl(url)}: ${JSON.stringify(spec.subdir)} is not a directory of the repository`,
      );
    return dirContext(root, { kind: 'git', onClose: () => rm(base, { recursive: true, force: true }) });
  } catch (e) {
    await rm(base, { recursive: true, force: true });
    throw e;
  }
}

function gitRunner(opts: GitContextOptions, label: string, remote: string) {
  // never wait for a human: no password prompts, and ssh in batch mode unless the caller set it up
  const env: Record<string, string | undefined> = { ...process.env, ...opts.env, GIT_TERMINAL_PROMPT: '0' };
  if (env.GIT_SSH === undefined && env.GIT_SSH_COMMAND === undefined)
    env.GIT_SSH_COMMAND = 'ssh -o BatchMode=yes';
  if (opts.auth) {
    if (!/^https?:\/\//.test(remote))
      throw new ContextError(
        'KILN_CONTEXT_BAD_SPEC',
        `git context ${label}: credentials are only sent to http(s) remotes`,
      );
    const origin = `${new URL(remote).origin}/`;
    const basic = Buffer.from(`${opts.auth.username}:${opts.auth.password}`).toString('base64');
    const n = Number(env.GIT_CONFIG_COUNT ?? 0);
    env[`GIT_CONFIG_KEY_${n}`] = `http.${origin}.extraHeader`;
    env[`GIT_CONFIG_VALUE_${n}`] = `Authorization: Basic ${basic}`;
    env.GIT_CONFIG_COUNT = String(n + 1);
  }
  return (args: string[], cwd: string) =>
    new Promise<string>((resolve, reject) => {
      execFile(
        opts.gitBinary ?? 'git',
        ['-c', 'advice.detachedHead=false', ...args],
        { cwd, env, signal: opts.signal, maxBuffer: 16 * 1024 * 1024 },
        (err, stdout, stderr) => {
          if (!err) return resolve(String(stdout));
          const shown = args.map((a) => redactUrl(a)).join(' ');
          const detail = String(stderr).trim().split('\n').slice(-3).join('; ') || err.message;
          reject(
            new ContextError(
              'KILN_CONTEXT_GIT_FAILED',
              `git context ${label}: \`git ${shown}\` failed: ${detail}`,
              {
                cause: err,
              },
            ),
          );
        },
      );
    });
}

async function exists(p: string): Promise<boolean> {
  return lstat(p).then(
    () => true,
    () => false,
  );
}
