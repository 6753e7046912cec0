import { readFile } from 'node:fs/promises';
import { isAbsolute } from 'node:path';
import { ContextError } from '../errors.js';
import { resolveInContext } from '../match-sources.js';
import { cleanContextPath } from '../path.js';
import type { ContextSource } from '../types.js';
import { DockerignoreMatcher } from './dockerignore.js';

/**
 * loadDockerignore: the ignore rules of a build, as BuildKit picks them: when the Dockerfile is
 * `<dir>/<name>`, a `<dir>/<name>.dockerignore` next to it wins; otherwise `.dockerignore` at the
 * context root; otherwise an empty matcher. The chosen file is recorded in `matcher.file`.
 *
 * `dockerfilePath` is relative to the context root, or an absolute host path for a Dockerfile
 * kept outside the context (`-f /elsewhere/Dockerfile`), in which case its sibling ignore file
 * is read from the host: the caller named that location explicitly.
 */
export async function loadDockerignore(
  source: ContextSource,
  dockerfilePath?: string,
): Promise<DockerignoreMatcher> {
  const matcher = new DockerignoreMatcher();
  if (dockerfilePath !== undefined && dockerfilePath !== '') {
    const candidate = `${dockerfilePath}.dockerignore`;
    const text = isAbsolute(candidate)
      ? await readHostFile(candidate)
      : await readContextFile(source, candidate);
    if (text !== undefined) {
      const file = isAbsolute(candidate) ? candidate : cleanContextPath(candidate);
      addFrom(matcher, text, file);
      return matcher;
    }
  }
  const text = await readContextFile(source, '.dockerignore');
  if (text !== undefined) addFrom(matcher, text, '.dockerignore');
  return matcher;
}

/** addFrom adds an ignore file's text, naming the file in errors (`.dockerignore line 3: bad pattern …`). */
function addFrom(matcher: DockerignoreMatcher, text: string, file: string): void {
  try {
    matcher.add(text).file = file;
  } catch (e) {
    if (e instanceof ContextError) throw new ContextError(e.code, `${file}: ${e.message}`, { cause: e });
    throw e;
  }
}

async function readContextFile(source: ContextSource, path: string): Promise<string | undefined> {
  let entry = await source.stat(path);
  // a symlinked ignore file is followed inside the context, as BuildKit does (observed with 20.10)
  if (entry?.type === 'symlink') entry = await resolveInContext(source, path);
  if (entry?.type !== 'file') return undefined;
  return (await source.readFile(entry.path)).toString('utf8');
}

async function readHostFile(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}
