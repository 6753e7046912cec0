import {
  type ContextEntry,
  type ContextSource,
  isContextError,
  listIndexed,
  matchSources,
  type PathFilter,
  resolveInContext,
} from '@kiln/context';
import { KilnError } from '../errors.js';
import { toImagePath } from '../fs/posix-path.js';
import type { FileTree, NodeType, TreeNode } from '../fs/tree.js';
import type { BaseContentReader } from '../stage/stage-state.js';
import type { MatchedSource, SourceEntry } from './copy-plan.js';

/** Where COPY/ADD read: the build context, or another stage's (or image's) filesystem. */
export interface CopySourceProvider {
  /** The entries a source pattern names, top-level symlinks followed, directories with their contents. */
  match(pattern: string, exclude: PathFilter | undefined, text: string): Promise<MatchedSource[]>;
}

/** Files up to this size are read into memory in one call rather than streamed. */
const SMALL_FILE = 256 * 1024;

/** Go's `filepath.Match` for one path segment, as Docker applies it to COPY sources. */
export function segmentRegex(seg: string): RegExp {
  let re = '^';
  for (let i = 0; i < seg.length; i++) {
    const ch = seg[i]!;
    if (ch === '\\' && i + 1 < seg.length) re += escapeRe(seg[++i]!);
    else if (ch === '*') re += '[^/]*';
    else if (ch === '?') re += '[^/]';
    else if (ch === '[') {
      const end = seg.indexOf(']', i + 2);
      if (end < 0) throw new KilnError('KILN_BAD_PATTERN', `syntax error in pattern "${seg}"`);
      let cls = seg.slice(i + 1, end);
      if (cls.startsWith('^')) cls = `^${cls.slice(1)}`;
      re += `[${cls.replace(/\\/g, '\\\\')}]`;
      i = end;
    } else re += escapeRe(ch);
  }
  return new RegExp(`${re}$`);
}

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
const hasMeta = (p: string) => /[*?[\\]/.test(p);

/** Whether a COPY source uses wildcards (the destination is then a directory). */
export function isWildcard(p: string): boolean {
  return /[*?[]/.test(p);
}

function fromContextEntry(source: ContextSource, e: ContextEntry): SourceEntry {
  const s: SourceEntry = { type: e.type, mode: e.mode, uid: e.uid, gid: e.gid, size: e.size, mtime: e.mtime };
  if (e.linkname !== undefined) s.linkname = e.linkname;
  // Small files are read whole: one read call instead of a stream per file (5,000 small files: ~0.5 s, not ~3 s).
  if (e.type === 'file')
    s.open = e.size <= SMALL_FILE ? () => source.readFile(e.path) : () => source.open(e.path);
  return s;
}

/**
 * COPY sources from a build context, matched with BuildKit's rules by `@kiln/context` (`.dockerignore`d files
 * are invisible; a wildcard that matches nothing copies nothing; a top-level symlink is followed inside the
 * context).
 */
export function contextProvider(source: ContextSource, ignore: PathFilter | undefined): CopySourceProvider {
  // `--exclude` patterns apply to paths relative to the source being copied, as BuildKit applies them; a
  // directory that matches takes its contents with it.
  const excluded = (exclude: PathFilter | undefined, rel: string) => {
    if (!exclude) return false;
    const parts = rel.split('/');
    for (let i = 1; i <= parts.length; i++) if (exclude.ignores(parts.slice(0, i).join('/'))) return true;
    return false;
  };
  const children = async (dir: string, exclude: PathFilter | undefined) => {
    const out: { rel: string; entry: SourceEntry }[] = [];
    // From the listing matchSources made (the same source and filter), not a second walk of the directory.
    for (const e of await listIndexed(source, dir === '' ? '.' : dir, ignore)) {
      if (ignore?.ignores(e.path)) continue;
      const rel = dir === '.' || dir === '' ? e.path : e.path.slice(dir.length + 1);
      if (excluded(exclude, rel)) continue;
      out.push({ rel, entry: fromContextEntry(source, e) });
    }
    return out;
  };
  return {
    async match(pattern, exclude, text) {
      const opts = { ...(ignore ? { ignore } : {}), allowEmptyWildcard: true };
      let matched: ContextEntry[];
      try {
        matched = await matchSources(source, pattern, opts);
      } catch (e) {
        if (isContextError(e))
          throw new KilnError(
            'KILN_SOURCE_NOT_FOUND',
            `${text}: ${e.message.replace(/"\/([^"]*)": not found/, '"$1" not found in the build context')}`,
            { cause: e },
          );
        throw e;
      }
      const out: MatchedSource[] = [];
      for (const m of matched) {
        if (m.path !== '.' && excluded(exclude, m.path)) continue;
        let entry = m;
        if (m.type === 'symlink') {
          const target = await resolveInContext(source, m.path, opts);
          if (!target)
            throw new KilnError(
              'KILN_SOURCE_NOT_FOUND',
              `${text}: "${m.path}" is a symlink to something outside the build context or missing`,
            );
          entry = target;
        }
        const ms: MatchedSource = {
          path: m.path === '.' ? '' : m.path,
          entry: fromContextEntry(source, entry),
        };
        if (entry.type === 'dir') ms.children = await children(entry.path, exclude);
        out.push(ms);
      }
      return out;
    },
  };
}

/** COPY --from sources: another stage's (or image's) filesystem, with ownership kept. */
export function treeProvider(tree: FileTree, base: BaseContentReader): CopySourceProvider {
  /** A hardlink's own kind: its first name's (a file, unless that is a special file). */
  const kindOf = (n: TreeNode): NodeType => {
    if (n.type !== 'hardlink') return n.type;
    const first = n.linkname === undefined ? undefined : tree.get(n.linkname);
    return n.inode && first?.inode === n.inode && first.type !== 'hardlink' ? first.type : 'file';
  };
  // A hardlink is copied as the file it is another name of (its first name may not be copied, and would name
  // another file at the destination); hardlinks within a copied directory are kept below (see match).
  const entryOf = (p: string): SourceEntry => {
    const n = tree.get(p)!;
    const type = kindOf(n);
    const s: SourceEntry = { type, mode: n.mode, uid: n.uid, gid: n.gid, size: n.size };
    if (n.mtime !== undefined) s.mtime = n.mtime;
    if (n.linkname !== undefined && n.type !== 'hardlink') s.linkname = n.linkname;
    if (type === 'file') s.open = n.open ?? (() => base.open(p));
    return s;
  };
  return {
    async match(pattern, exclude, text) {
      const clean = toImagePath(pattern);
      let paths: string[];
      if (!hasMeta(clean)) paths = [clean];
      else {
        const segs = clean.split('/').map(segmentRegex);
        paths = [];
        const walk = (dir: string, depth: number) => {
          for (const c of tree.children(dir)) {
            const name = c.slice(c.lastIndexOf('/') + 1);
            if (!segs[depth]!.test(name)) continue;
            if (depth === segs.length - 1) paths.push(c);
            else walk(tree.resolve(c, true), depth + 1);
          }
        };
        walk('', 0);
        if (paths.length === 0)
          throw new KilnError(
            'KILN_SOURCE_NOT_FOUND',
            `${text}: no source files were specified by "${pattern}"`,
          );
      }
      const out: MatchedSource[] = [];
      for (const p of paths) {
        const real = tree.resolve(p, true);
        if (!tree.get(real))
          throw new KilnError('KILN_SOURCE_NOT_FOUND', `${text}: "/${clean}" not found in the source stage`);
        const m: MatchedSource = { path: p, entry: entryOf(real) };
        if (tree.get(real)!.type === 'dir') {
          m.children = [];
          // The first copied name of a hardlinked file is the file, the others hardlinks to it (relative paths).
          const firsts = new Map<object, string>();
          for (const c of tree.walk(real)) {
            const rel = real === '' ? c : c.slice(real.length + 1);
            if (exclude?.ignores(rel)) continue;
            const entry = entryOf(c);
            const inode = tree.get(c)!.inode;
            const first = inode && firsts.get(inode);
            if (first) {
              entry.type = 'hardlink';
              entry.linkname = first;
              delete entry.open;
            } else if (inode) firsts.set(inode, rel);
            m.children.push({ rel, entry });
          }
        }
        out.push(m);
      }
      return out;
    },
  };
}
