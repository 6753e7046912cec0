import { randomUUID } from 'node:crypto';
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { SnapshotError, throwIfAborted } from '../errors.js';
import { layerPathComponents, MAX_SYMLINKS, symlinkLoop } from '../extract/root-resolver.js';
import { decompressAuto } from '../layer/compression.js';
import { classifyWhiteout } from '../layer/whiteout.js';
import type { TarEntryType } from '../tar/tar-header.js';
import { readTar } from '../tar/tar-reader.js';

/** IndexEntry: what the file index knows about one path, from tar headers only. */
export interface IndexEntry {
  type: TarEntryType;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /**
   * Symlink target, or the path (relative to the root, no symlink in it) of the file a hardlink shares
   * its inode with: the first of its names in {@link FileIndex.entries} order, which is shown as the
   * file. A hardlink's mode, owner, size and time are the file's. A hardlink to a symlink is a symlink.
   */
  linkname: string;
  mtimeMs: number;
  /** True for a directory no layer listed, implied by a path below it (root-owned, 0755). */
  implicit?: boolean;
}

/** One layer for {@link buildFileIndex}: its digest (the cache key) and an opener of its blob. */
export interface IndexLayer {
  digest: string;
  /** A fresh stream of the (compressed or plain) layer blob; verified by the caller. */
  open: () => Promise<Readable>;
}

/** Options of {@link buildFileIndex}. */
export interface FileIndexOptions {
  /** Selects small regular files whose content is kept (e.g. `etc/passwd`, `etc/group`). Paths have no leading `/`. */
  capture?: (path: string) => boolean;
  /** Largest file `capture` keeps; bigger ones are indexed without content. Default 1 MiB. */
  maxCaptureSize?: number;
  /** Directory for per-layer summaries as JSON (`<algorithm>-<hex>.json`), so a rebuild never re-reads a layer. */
  cacheDir?: string;
  signal?: AbortSignal;
}

/**
 * One entry of a layer summary, in tar order: `[path, type, mode, uid, gid, size, linkname, mtimeMs]`,
 * or a whiteout as `[path, 'whiteout']` (`.wh.<name>`: `path` is `<dir>/<name>`) or `[dir, 'opaque']`
 * (`.wh..wh..opq`). Whiteouts stay in place because, as in extraction, they resolve their directory
 * through the symlinks of the moment and spare only what the layer wrote before them.
 */
type SummaryRecord =
  | [string, TarEntryType, number, number, number, number, string, number]
  | [string, 'whiteout' | 'opaque'];

/** What one layer contributes, cached per digest. */
interface LayerSummary {
  /** 2: whiteouts in tar order among the entries, captures keyed by record number (1 applied them apart). */
  version: 2;
  records: SummaryRecord[];
  /** Content (base64) of captured files, by record number. */
  captured: Record<string, string>;
  /** Record numbers of files that were candidates for capture but too big; a later capture need not re-read them. */
  tooBig: number[];
}

const SUMMARY_VERSION = 2;

// Summaries of layers already read in this process, by digest; bounded only by the number of
// distinct layers a process sees (each costs its header list, not its content).
const memoryCache = new Map<string, LayerSummary>();

interface Node {
  entry: IndexEntry;
  children?: Map<string, Node>;
  content?: Buffer;
  /** Shared by the names of one inode (hardlinks); the first name in walk order is shown as the file. */
  inode?: object;
}

function implicitDir(): Node {
  return {
    entry: { type: 'dir', mode: 0o755, uid: 0, gid: 0, size: 0, linkname: '', mtimeMs: 0, implicit: true },
    children: new Map(),
  };
}

/**
 * FileIndex: the merged view of a stack of layers (whiteouts and opaque directories applied),
 * answering path questions without a root file system. Paths are image paths, with or
 * without a leading `/`.
 */
export class FileIndex {
  /** @internal */
  constructor(private readonly root: Node) {}

  private node(parts: readonly string[]): Node | undefined {
    let n: Node | undefined = this.root;
    for (const p of parts) {
      n = n.children?.get(p);
      if (!n) return undefined;
    }
    return n;
  }

  /** The entry at exactly this path (no symlink followed, not even in parent directories). */
  get(p: string): IndexEntry | undefined {
    return this.node(splitPath(p))?.entry;
  }

  /**
   * Resolves a path as the kernel would inside the image root (chroot): symlinks in directory
   * components are followed (`lib/x` → `usr/lib/x` when `lib -> usr/lib`), absolute targets start
   * at the root, `..` stops at the root; the final symlink is followed when `followFinal`
   * (default true). Returns the resolved path (no leading `/`) and its entry, `entry: undefined`
   * when only the last component is missing, or undefined when a directory on the way is missing.
   * Throws `KILN_SYMLINK_LOOP` after 40 links.
   */
  resolve(
    p: string,
    options: { followFinal?: boolean } = {},
  ): { path: string; entry: IndexEntry | undefined } | undefined {
    const r = follow(this.root, splitPath(p, true), {
      followFinal: options.followFinal !== false,
      entry: `/${splitPath(p).join('/')}`,
    });
    return r && { path: r.path.join('/'), entry: r.node?.entry };
  }

  /** True when the path resolves to an entry (final symlink not followed: a dangling link exists). */
  exists(p: string): boolean {
    return this.resolve(p, { followFinal: false })?.entry !== undefined;
  }

  /** The kept content of a captured file, following symlinks (`etc/passwd` may be one); undefined if not captured. */
  readCaptured(p: string): Buffer | undefined {
    const r = this.resolve(p);
    if (!r?.entry) return undefined;
    // Every name of a hardlinked file holds its content.
    return this.node(splitPath(r.path))?.content;
  }

  /** Every entry, depth first with names sorted, as `[path, entry]` (root excluded). */
  *entries(): Generator<[string, IndexEntry]> {
    function* walk(n: Node, prefix: string): Generator<[string, IndexEntry]> {
      if (!n.children) return;
      for (const name of [...n.children.keys()].sort()) {
        const child = n.children.get(name)!;
        const p = prefix ? `${prefix}/${name}` : name;
        yield [p, child.entry];
        yield* walk(child, p);
      }
    }
    yield* walk(this.root, '');
  }
}

function splitPath(p: string, keepDotDot = false): string[] {
  return p.split('/').filter((s) => s !== '' && s !== '.' && (keepDotDot || s !== '..'));
}

function cachePath(cacheDir: string, digest: string): string {
  const safe = digest.replace(/[^A-Za-z0-9_-]/g, '-');
  return path.join(cacheDir, `${safe}.json`);
}

async function summarize(layer: IndexLayer, options: FileIndexOptions): Promise<LayerSummary> {
  const max = options.maxCaptureSize ?? 1024 * 1024;
  const summary: LayerSummary = { version: SUMMARY_VERSION, records: [], captured: {}, tooBig: [] };
  const tar = await decompressAuto(await layer.open());
  for await (const { header: h, body } of readTar(tar)) {
    throwIfAborted(options.signal);
    const parts = layerPathComponents(h.name);
    if (parts.length === 0) continue; // the root's own entry: extraction applies only its times
    const p = parts.join('/');
    const wh = classifyWhiteout(parts[parts.length - 1]!);
    if (wh?.kind === 'opaque') summary.records.push([parts.slice(0, -1).join('/'), 'opaque']);
    else if (wh) {
      if (wh.target === '' || wh.target === '.' || wh.target === '..') throw badWhiteout(h.name);
      summary.records.push([[...parts.slice(0, -1), wh.target].join('/'), 'whiteout']);
    } else {
      const linkname =
        h.type === 'hardlink' ? layerPathComponents(h.linkname, 'hardlink target').join('/') : h.linkname;
      const n = summary.records.push([p, h.type, h.mode, h.uid, h.gid, h.size, linkname, h.mtimeMs]) - 1;
      if (h.type === 'file' && options.capture?.(p)) {
        if (h.size > max) summary.tooBig.push(n);
        else {
          const chunks: Buffer[] = [];
          for await (const c of body()) chunks.push(c);
          summary.captured[n] = Buffer.concat(chunks).toString('base64');
        }
      }
    }
  }
  return summary;
}

/** True when a cached summary lacks the content of a file `capture` now selects. */
function missingCapture(s: LayerSummary, capture: FileIndexOptions['capture']): boolean {
  if (!capture) return false;
  return s.records.some(
    (r, n) => r[1] === 'file' && capture(r[0]) && !(n in s.captured) && !s.tooBig.includes(n),
  );
}

async function loadSummary(layer: IndexLayer, options: FileIndexOptions): Promise<LayerSummary> {
  let s = memoryCache.get(layer.digest);
  if (!s && options.cacheDir) {
    const file = cachePath(options.cacheDir, layer.digest);
    try {
      s = JSON.parse(await fsp.readFile(file, 'utf8')) as LayerSummary;
      // An older format (or a corrupt file) is rebuilt rather than trusted.
      if (s.version !== SUMMARY_VERSION || !Array.isArray(s.records)) throw new Error('unknown format');
    } catch {
      s = undefined;
    }
  }
  if (!s || missingCapture(s, options.capture)) {
    s = await summarize(layer, options);
    if (options.cacheDir) {
      // Best effort: an unwritable cache costs a re-read next time, never a failed build.
      const file = cachePath(options.cacheDir, layer.digest);
      const tmp = `${file}.${randomUUID()}.tmp`;
      try {
        await fsp.mkdir(options.cacheDir, { recursive: true });
        await fsp.writeFile(tmp, JSON.stringify(s));
        await fsp.rename(tmp, file);
      } catch {
        await fsp.rm(tmp, { force: true }).catch(() => undefined);
      }
    }
  }
  memoryCache.set(layer.digest, s);
  return s;
}

function badWhiteout(entry: string): SnapshotError {
  return new SnapshotError('KILN_PATH_ESCAPE', 'a whiteout must name one entry of its own directory', {
    entry,
  });
}

/**
 * Follows path components from `root` through symlinks as the kernel does after chroot: absolute targets
 * start at the root, `..` stops there, more than {@link MAX_SYMLINKS} links is `KILN_SYMLINK_LOOP`
 * naming `entry`; a final symlink only with `followFinal`. Lenient: a missing last component gives its
 * path and no node; anything else missing, or a non-directory on the way, gives undefined. `strict`, as
 * extraction resolves an entry's directory: missing directories are made when `create` (else undefined),
 * a non-directory on the way is `KILN_ENTRY_INVALID`.
 */
function follow(
  root: Node,
  components: readonly string[],
  opts: { followFinal: boolean; entry: string; strict?: boolean; create?: boolean },
): { path: string[]; node: Node | undefined } | undefined {
  const queue = [...components];
  const path: string[] = [];
  const nodes: Node[] = [root];
  let links = 0;
  while (queue.length > 0) {
    const part = queue.shift()!;
    if (part === '..') {
      if (path.length > 0) {
        path.pop();
        nodes.pop();
      }
      continue;
    }
    const dir = nodes[nodes.length - 1]!;
    if (dir.entry.type !== 'dir') return undefined;
    let child = dir.children!.get(part);
    const last = queue.length === 0;
    if (!child) {
      if (!opts.strict) return last ? { path: [...path, part], node: undefined } : undefined;
      if (!opts.create) return undefined;
      child = implicitDir();
      dir.children!.set(part, child);
    } else if (child.entry.type === 'symlink' && (opts.followFinal || !last)) {
      if (++links > MAX_SYMLINKS) throw symlinkLoop(opts.entry);
      const target = child.entry.linkname;
      if (target.startsWith('/')) {
        path.length = 0;
        nodes.length = 1;
      }
      queue.unshift(...splitPath(target, true));
      continue;
    } else if (opts.strict && child.entry.type !== 'dir') {
      throw new SnapshotError(
        'KILN_ENTRY_INVALID',
        `/${[...path, part].join('/')} is a ${child.entry.type}, not a directory`,
        { entry: opts.entry },
      );
    }
    path.push(part);
    nodes.push(child);
  }
  return { path, node: nodes[nodes.length - 1] };
}

/** A directory reached by {@link Stack.resolveDir}: its real path (no symlink in it) and node. */
interface Located {
  path: string[];
  node: Node;
}

/**
 * The index being built, changed one layer entry at a time exactly as `extractLayer` changes a root
 * directory (see its RootResolver): an entry's parent is resolved through the symlinks already there
 * (absolute targets restart at the root, `..` stops at it, {@link MAX_SYMLINKS} at most), missing
 * directories on the way are made (0755, root's), and the entry is put where that leads, replacing
 * what was there (a directory merges with a directory). So `etc -> /x/etc` then `etc/passwd` leaves
 * `etc` a symlink and `x/etc/passwd` a file, as on disk. Any disagreement with the extractor is a bug:
 * `test/index-extract-equivalence.test.ts` compares both on a corpus and on random stacks.
 */
class Stack {
  readonly root = implicitDir();
  /** Real paths written by the layer being applied (and their parents): its whiteouts spare them. */
  private touched = new Set<string>();
  private linked = false;

  /**
   * Resolves directory components to a directory, following symlinks; missing ones are made when
   * `create`, else the answer is undefined. A non-directory in the way is `KILN_ENTRY_INVALID`.
   */
  private resolveDir(components: readonly string[], entry: string, create: boolean): Located | undefined {
    // Most paths name directories that are there: no link to follow, nothing to make.
    let n = this.root;
    for (const part of components) {
      const child = n.children!.get(part);
      if (child?.entry.type !== 'dir' || part === '..') {
        const r = follow(this.root, components, { followFinal: true, entry, strict: true, create });
        return r && { path: r.path, node: r.node! };
      }
      n = child;
    }
    return { path: components as string[], node: n };
  }

  /** Applies one layer's summary, in tar order. */
  apply(s: LayerSummary): void {
    this.touched = new Set();
    // Only entries before a whiteout need to be remembered.
    const lastWhiteout = s.records.findLastIndex((r) => r.length === 2);
    for (const [n, r] of s.records.entries()) {
      if (r.length === 2) this.whiteout(r[0], r[1]);
      else this.entry(r, s.captured[n], n < lastWhiteout);
    }
  }

  private whiteout(p: string, kind: 'whiteout' | 'opaque'): void {
    const parts = p === '' ? [] : p.split('/');
    const dirParts = kind === 'opaque' ? parts : parts.slice(0, -1);
    const dir = this.resolveDir(dirParts, p, false);
    if (!dir) return; // nothing below to hide
    const names = kind === 'opaque' ? [...dir.node.children!.keys()] : [parts[parts.length - 1]!];
    for (const name of names) {
      // A whiteout hides lower layers only: what this layer wrote stays.
      if (!this.touched.has([...dir.path, name].join('/'))) dir.node.children!.delete(name);
    }
  }

  private entry(
    r: Extract<SummaryRecord, { length: 8 }>,
    captured: string | undefined,
    track: boolean,
  ): void {
    const [p, type, mode, uid, gid, size, linkname, mtimeMs] = r;
    const parts = p.split('/');
    const name = parts[parts.length - 1]!;
    const dir = this.resolveDir(parts.slice(0, -1), p, true)!;
    const real = [...dir.path, name];
    for (let i = track ? real.length : 0; i > 0; i--) {
      const key = real.slice(0, i).join('/');
      if (this.touched.has(key)) break; // and so are its parents
      this.touched.add(key);
    }
    const siblings = dir.node.children!;
    const old = siblings.get(name);
    // What is there is replaced, never written through; a directory merges with a directory.
    if (old && !(old.entry.type === 'dir' && type === 'dir')) siblings.delete(name);
    if (type === 'hardlink') {
      siblings.set(name, this.link(linkname, p));
      return;
    }
    const node: Node = { entry: { type, mode, uid, gid, size, linkname, mtimeMs } };
    if (type === 'dir') node.children = old?.entry.type === 'dir' ? old.children : new Map();
    if (captured !== undefined) node.content = Buffer.from(captured, 'base64');
    siblings.set(name, node);
  }

  /**
   * A new name for the object `target` names (its directories resolved, a final symlink not followed,
   * as link(2) does), which must be there and not a directory (`KILN_BAD_HARDLINK`).
   */
  private link(target: string, entry: string): Node {
    const parts = target === '' ? [] : target.split('/');
    const name = parts.pop();
    // link(2) resolves the directories of the target path, not a final symlink.
    const node =
      name === undefined ? this.root : this.resolveDir(parts, entry, false)?.node.children?.get(name);
    if (!node || node.entry.type === 'dir') {
      throw new SnapshotError(
        'KILN_BAD_HARDLINK',
        `hardlink target ${JSON.stringify(target)} is ${node ? 'a directory' : 'not in the root'}`,
        { entry },
      );
    }
    // A symlink's other name is a symlink; only files and special files are shown as hardlinks.
    if (node.entry.type === 'symlink') return { entry: { ...node.entry } };
    this.linked = true;
    node.inode ??= {};
    const copy: Node = { entry: { ...node.entry }, inode: node.inode };
    if (node.content) copy.content = node.content;
    return copy;
  }

  /**
   * The finished index. The names of each inode left are told apart as a tar writer would: the first
   * in walk order is shown as the file, the others as hardlinks to it.
   */
  finish(): FileIndex {
    if (this.linked) {
      const first = new Map<object, string>();
      const walk = (n: Node, prefix: string) => {
        for (const name of [...n.children!.keys()].sort()) {
          const child = n.children!.get(name)!;
          const p = prefix ? `${prefix}/${name}` : name;
          if (child.inode) {
            const primary = first.get(child.inode);
            if (primary === undefined) first.set(child.inode, p);
            else child.entry = { ...child.entry, type: 'hardlink', linkname: primary };
          }
          if (child.children) walk(child, p);
        }
      };
      walk(this.root, '');
    }
    return new FileIndex(this.root);
  }
}

/**
 * buildFileIndex: reads the tar headers of each layer (bottom first) — never extracting, and
 * skipping content except `capture`d small files — and merges them into a {@link FileIndex}
 * the way `extractLayer` applies them to a directory (symlinked parents followed inside the
 * root, whiteouts resolved likewise, hardlinks resolved to what they name), refusing what it
 * refuses (`KILN_ENTRY_INVALID`, `KILN_SYMLINK_LOOP`, `KILN_BAD_HARDLINK`, `KILN_PATH_ESCAPE`).
 * Each layer's summary is cached by digest in memory and, with `cacheDir`, on disk, so an
 * index over known layers costs no download at all.
 */
export async function buildFileIndex(
  layers: readonly IndexLayer[],
  options: FileIndexOptions = {},
): Promise<FileIndex> {
  const summaries = await Promise.all(layers.map((l) => loadSummary(l, options)));
  const stack = new Stack();
  for (const s of summaries) stack.apply(s);
  return stack.finish();
}
