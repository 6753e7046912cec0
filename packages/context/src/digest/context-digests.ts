import { createHash } from 'node:crypto';
import pLimit from 'p-limit';
import { ContextError } from '../errors.js';
import { cleanContextPath } from '../path.js';
import type { ContextEntry, ContextSource, PathFilter } from '../types.js';
import { indexContext } from '../walk/context-index.js';
import type { EntryTree, TreeNode } from '../walk/entry-tree.js';

/**
 * Files up to this size are hashed from one `readFile` (one read, no stream machinery); larger
 * ones are streamed, so memory stays bounded by `concurrency` × this size.
 */
const wholeReadBytes = 1024 * 1024;

/** Options of {@link contextDigests}. */
export interface ContextDigestsOptions {
  /** Exclusions (`.dockerignore`): excluded entries take no part in any digest. */
  ignore?: PathFilter;
  /** Files hashed at once. Default 16: enough to hide disk and temp-file latency, few open fds. */
  concurrency?: number;
}

/**
 * ContextDigests: memoised content digests of one context for one build (`sha256:<hex>`).
 * Each file is read at most once, however many COPY steps ask.
 */
export interface ContextDigests {
  /** contentDigest: sha256 of a regular file's bytes alone. */
  contentDigest(path: string): Promise<string>;
  /**
   * fileDigest: one entry as it would land in a layer: its path, type, mode, symlink target,
   * and its content (a file's bytes; a directory's {@link ContextDigests.treeDigest}).
   */
  fileDigest(path: string): Promise<string>;
  /**
   * treeDigest: the contents of a directory (what `COPY dir/ dst` copies): for every descendant
   * its path relative to `path`, type, mode, symlink target and content. The directory's own
   * metadata is not part of it (its parent's digest covers that).
   */
  treeDigest(path: string): Promise<string>;
}

/**
 * contextDigests: digests for COPY/ADD cache keys. The metadata that reaches a layer is hashed
 * (path, type, mode incl. setuid/setgid/sticky, symlink target); the context files' mtime, uid
 * and gid are not, since COPY writes root:root and kiln's layers normalise times, so a fresh
 * clone of the same tree gives the same digests. Files are streamed through sha256 in parallel
 * (p-limit); results are memoised per path, trees as a Merkle tree of their children. Calls with
 * the same source and filter return the same instance (the first call's `concurrency` holds).
 */
export function contextDigests(source: ContextSource, opts: ContextDigestsOptions = {}): ContextDigests {
  let byFilter = instances.get(source);
  if (!byFilter) instances.set(source, (byFilter = new WeakMap()));
  const key = opts.ignore ?? noFilter;
  let digests = byFilter.get(key);
  if (!digests) byFilter.set(key, (digests = createDigests(source, opts)));
  return digests;
}

const noFilter: PathFilter = { ignores: () => false };
/** One instance per source and filter: repeated calls in a build share every digest already computed. */
const instances = new WeakMap<ContextSource, WeakMap<PathFilter, ContextDigests>>();
/** File content digests do not depend on the filter: shared by all instances of a source. */
const contentsBySource = new WeakMap<ContextSource, Map<string, Promise<string>>>();

function createDigests(source: ContextSource, opts: ContextDigestsOptions): ContextDigests {
  const limit = pLimit(opts.concurrency ?? 16);
  let contents = contentsBySource.get(source);
  if (!contents) contentsBySource.set(source, (contents = new Map()));
  const trees = new Map<string, Promise<string>>();
  const index = () => indexContext(source, opts.ignore);

  const node = async (path: string): Promise<{ tree: EntryTree; node: TreeNode<never> }> => {
    const tree = await index();
    const found = tree.get(path);
    if (!found) throw new ContextError('KILN_CONTEXT_NOT_FOUND', `"/${cleanContextPath(path)}": not found`);
    return { tree, node: found };
  };

  const contentOf = (entry: ContextEntry): Promise<string> => {
    let digest = contents.get(entry.path);
    if (!digest) {
      digest = limit(async () => {
        const hash = createHash('sha256');
        if (entry.size <= wholeReadBytes) hash.update(await source.readFile(entry.path));
        else for await (const chunk of await source.open(entry.path)) hash.update(chunk as Buffer);
        return `sha256:${hash.digest('hex')}`;
      });
      contents.set(entry.path, digest);
      digest.catch(() => contents.delete(entry.path)); // a failed read is retried by the next caller
    }
    return digest;
  };

  // the digest standing for an entry's content inside its parent's listing
  const payloadOf = (tree: EntryTree, n: TreeNode<never>): Promise<string> =>
    n.entry.type === 'file'
      ? contentOf(n.entry)
      : n.entry.type === 'dir'
        ? treeOf(tree, n)
        : Promise.resolve('');

  const treeOf = (tree: EntryTree, dir: TreeNode<never>): Promise<string> => {
    let digest = trees.get(dir.entry.path);
    if (!digest) {
      digest = (async () => {
        const children = tree.childNames(dir).map((name) => dir.children!.get(name)!);
        const payloads = await Promise.all(children.map((c) => payloadOf(tree, c)));
        const hash = createHash('sha256').update('kiln.context.tree.v1\n');
        children.forEach((c, i) => {
          hash.update(line(c.entry, c.entry.path.slice(c.entry.path.lastIndexOf('/') + 1), payloads[i]!));
        });
        return `sha256:${hash.digest('hex')}`;
      })();
      trees.set(dir.entry.path, digest);
    }
    return digest;
  };

  return {
    async contentDigest(path) {
      const { node: n } = await node(path);
      if (n.entry.type !== 'file')
        throw new ContextError(
          'KILN_CONTEXT_NOT_A_FILE',
          `"/${n.entry.path}" is a ${n.entry.type}, not a regular file`,
        );
      return contentOf(n.entry);
    },
    async fileDigest(path) {
      const { tree, node: n } = await node(path);
      const payload = await payloadOf(tree, n);
      const hash = createHash('sha256')
        .update('kiln.context.entry.v1\n')
        .update(line(n.entry, n.entry.path, payload));
      return `sha256:${hash.digest('hex')}`;
    },
    async treeDigest(path) {
      const { tree, node: n } = await node(path);
      if (n.entry.type !== 'dir')
        throw new ContextError(
          'KILN_CONTEXT_NOT_A_DIRECTORY',
          `"/${n.entry.path}" is a ${n.entry.type}, not a directory`,
        );
      return treeOf(tree, n);
    },
  };
}

/** One canonical line per entry; JSON quoting keeps names with spaces or newlines unambiguous. */
function line(e: ContextEntry, name: string, payload: string): string {
  const link = e.type === 'symlink' ? (e.linkname ?? '') : '';
  return `${e.type} ${e.mode.toString(8)} ${JSON.stringify(name)} ${JSON.stringify(link)} ${payload}\n`;
}
