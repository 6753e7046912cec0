import { createReadStream } from 'node:fs';
import { lstat, readFile, readlink } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { KilnError } from '../errors.js';

/** Linux gives up after 40 symlinks in one lookup (ELOOP); so do we. */
const MAX_SYMLINKS = 40;

/** One step of a lookup: the path inside the root so far, and what is there on the host (absent: `undefined`). */
export interface RootPathStep {
  /** Absolute path inside the root, without symlinks. */
  inner: string;
  /** The same path on the host (`root` + `inner`). */
  host: string;
}

/**
 * Called for a missing component while resolving; returns true once it has created it (the walk then goes on
 * through it), false to stop and report the path as missing.
 */
export type CreateMissing = (step: RootPathStep, last: boolean) => Promise<boolean>;

/**
 * resolveInRoot resolves `target` (an absolute path as seen inside the root) against the directory `root` the
 * way the kernel would after a chroot into it: symlinks are followed, absolute ones and `..` never leave the
 * root. The result has no symlink in it, so a tool handed `root + inner` cannot be led outside the root by a
 * malicious image. Missing components are handed to `create`; without it (or when it declines) the result has
 * `exists: false` and `inner` is the resolved path up to and including the first missing name plus the rest.
 * Components that exist but are not directories where a directory is needed give `KILN_RUN_PATH_NOT_DIR`.
 */
export async function resolveInRoot(
  root: string,
  target: string,
  create?: CreateMissing,
): Promise<{ inner: string; host: string; exists: boolean }> {
  const todo = splitPath(target);
  const done: string[] = [];
  let links = 0;
  while (todo.length > 0) {
    const name = todo.shift()!;
    if (name === '..') {
      done.pop();
      continue;
    }
    const inner = `/${[...done, name].join('/')}`;
    const host = path.join(root, inner);
    const last = todo.length === 0;
    const st = await lstat(host).catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return undefined;
      throw e;
    });
    if (!st) {
      if (create && (await create({ inner, host }, last))) {
        done.push(name);
        continue;
      }
      const rest = [...done, name, ...todo];
      return { inner: `/${rest.join('/')}`, host: path.join(root, ...rest), exists: false };
    }
    if (st.isSymbolicLink()) {
      if (++links > MAX_SYMLINKS)
        throw new KilnError('KILN_RUN_PATH_LOOP', `too many symlinks resolving ${target} inside ${root}`);
      const link = await readlink(host);
      if (link.startsWith('/')) done.length = 0;
      todo.unshift(...splitPath(link));
      continue;
    }
    if (!last && !st.isDirectory())
      throw new KilnError(
        'KILN_RUN_PATH_NOT_DIR',
        `${inner} is not a directory in ${root}, so ${target} cannot be reached`,
      );
    done.push(name);
  }
  const inner = `/${done.join('/')}`;
  return { inner, host: path.join(root, inner), exists: true };
}

function splitPath(p: string): string[] {
  return p.split('/').filter((s) => s !== '' && s !== '.');
}

/**
 * openInRoot opens a file of the root for reading, its path resolved with {@link resolveInRoot}. Callers that
 * found the path in their own view of the image (a file index, a tree) use it so that the image's real symlinks
 * on disk, where that view is wrong or incomplete, still never lead outside the root.
 */
export async function openInRoot(root: string, file: string): Promise<Readable> {
  return createReadStream((await resolveInRoot(root, file)).host);
}

/** readInRoot reads a text file of the root through {@link resolveInRoot}; undefined when it is missing or unreadable. */
export async function readInRoot(root: string, file: string): Promise<string | undefined> {
  const at = await resolveInRoot(root, file);
  return at.exists ? readFile(at.host, 'utf8').catch(() => undefined) : undefined;
}
