import { randomUUID } from 'node:crypto';
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { throwIfAborted } from '../errors.js';
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
  /** Symlink target, or the path (relative to the root) a hardlink shares its inode with. */
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

/** What one layer contributes, cached per digest. */
interface LayerSummary {
  version: 1;
  /** [path, type, mode, uid, gid, size, linkname, mtimeMs] in tar order. */
  entries: [string, TarEntryType, number, number, number, number, string, number][];
  /** Paths removed by `.wh.<name>` (lower layers only). */
  whiteouts: string[];
  /** Directories made opaque by `.wh..wh..opq` (lower layers only). */
  opaques: string[];
  /** Content (base64) of captured files. */
  captured: Record<string, string>;
  /** Files that were candidates for capture but too big; a later capture need not re-read them. */
  tooBig: string[];
}

// Summaries of layers already read in this process, by digest; bounded only by the number of
// distinct layers a process sees (each costs its header list, not its content).
const memoryCache = new Map<string, LayerSummary>();

interface Node {
  entry: IndexEntry;
  children?: Map<string, Node>;
  content?: Buffer;
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
    const followFinal = options.followFinal !== false;
    const queue = splitPath(p, true);
    const cur: string[] = [];
    const stack: Node[] = [this.root];
    let links = 0;
    while (queue.length > 0) {
      const part = queue.shift()!;
      if (part === '..') {
        if (cur.length > 0) {
          cur.pop();
          stack.pop();
        }
        continue;
      }
      const dir = stack[stack.length - 1]!;
      if (dir.entry.type !== 'dir') return undefined;
      const child = dir.children?.get(part);
      const last = queue.length === 0;
      if (!child) return last ? { path: [...cur, part].join('/'), entry: undefined } : undefined;
      if (child.entry.type === 'symlink' && (!last || followFinal)) {
        if (++links > MAX_SYMLINKS) {
          throw symlinkLoop(`/${splitPath(p).join('/')}`);
        }
        const target = child.entry.linkname;
        if (target.startsWith('/')) {
          cur.length = 0;
          stack.length = 1;
        }
        queue.unshift(...target.split('/').filter((s) => s !== '' && s !== '.'));
        continue;
      }
      cur.push(part);
      stack.push(child);
    }
    return { path: cur.join('/'), entry: stack[stack.length - 1]!.entry };
  }

  /** True when the path resolves to an entry (final symlink not followed: a dangling link exists). */
  exists(p: string): boolean {
    return this.resolve(p, { followFinal: false })?.entry !== undefined;
  }

  /** The kept content of a captured file, following symlinks (`etc/passwd` may be one); undefined if not captured. */
  readCaptured(p: string): Buffer | undefined {
    const r = this.resolve(p);
    if (!r?.entry) return undefined;
    let n = this.node(splitPath(r.path));
    if (n?.entry.type === 'hardlink') n = this.node(splitPath(n.entry.linkname));
    return n?.content;
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
  const summary: LayerSummary = {
    version: 1,
    entries: [],
    whiteouts: [],
    opaques: [],
    captured: {},
    tooBig: [],
  };
  const tar = await decompressAuto(await layer.open());
  for await (const { header: h, body } of readTar(tar)) {
    throwIfAborted(options.signal);
    const parts = layerPathComponents(h.name);
    if (parts.length === 0) continue;
    const p = parts.join('/');
    const wh = classifyWhiteout(parts[parts.length - 1]!);
    if (wh) {
      const dir = parts.slice(0, -1).join('/');
      if (wh.kind === 'opaque') summary.opaques.push(dir);
      else summary.whiteouts.push(dir ? `${dir}/${wh.target}` : wh.target);
      continue;
    }
    const linkname =
      h.type === 'hardlink' ? layerPathComponents(h.linkname, 'hardlink target').join('/') : h.linkname;
    summary.entries.push([p, h.type, h.mode, h.uid, h.gid, h.size, linkname, h.mtimeMs]);
    if (h.type === 'file' && options.capture?.(p)) {
      if (h.size > max) summary.tooBig.push(p);
      else {
        const chunks: Buffer[] = [];
        for await (const c of body()) chunks.push(c);
        summary.captured[p] = Buffer.concat(chunks).toString('base64');
      }
    }
  }
  return summary;
}

/** True when a cached summary lacks the content of a file `capture` now selects. */
function missingCapture(s: LayerSummary, capture: FileIndexOptions['capture']): boolean {
  if (!capture) return false;
  return s.entries.some(
    ([p, type]) => type === 'file' && capture(p) && !(p in s.captured) && !s.tooBig.includes(p),
  );
}

async function loadSummary(layer: IndexLayer, options: FileIndexOptions): Promise<LayerSummary> {
  let s = memoryCache.get(layer.digest);
  if (!s && options.cacheDir) {
    const file = cachePath(options.cacheDir, layer.digest);
    try {
      s = JSON.parse(await fsp.readFile(file, 'utf8')) as LayerSummary;
      if (s.version !== 1 || !Array.isArray(s.entries)) throw new Error('unknown format');
    } catch {
      // Missing, or corrupt: rebuilt rather than trusted.
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

function apply(root: Node, s: LayerSummary): void {
  const locate = (parts: string[], create: boolean): Node | undefined => {
    let n = root;
    for (const part of parts) {
      let child = n.children?.get(part);
      if (!child) {
        if (!create) return undefined;
        child = implicitDir();
        n.children ??= new Map();
        n.children.set(part, child);
      } else if (create && child.entry.type !== 'dir') {
        // A non-directory where a layer puts children: the layer replaces it (as extraction does).
        const replacement = implicitDir();
        n.children!.set(part, replacement);
        child = replacement;
      }
      n = child;
    }
    return n;
  };
  // Whiteouts and opaque markers hide lower layers only: apply them before this layer's entries.
  for (const w of s.whiteouts) {
    const parts = w.split('/');
    locate(parts.slice(0, -1), false)?.children?.delete(parts[parts.length - 1]!);
  }
  for (const o of s.opaques) {
    const n = locate(o ? o.split('/') : [], false);
    if (n?.children) n.children = new Map();
  }
  for (const [p, type, mode, uid, gid, size, linkname, mtimeMs] of s.entries) {
    const parts = p.split('/');
    const parent = locate(parts.slice(0, -1), true)!;
    const name = parts[parts.length - 1]!;
    const old = parent.children!.get(name);
    const entry: IndexEntry = { type, mode, uid, gid, size, linkname, mtimeMs };
    if (type === 'hardlink') {
      const target = locate(linkname.split('/'), false);
      if (target?.entry.type === 'dir') continue; // not a valid hardlink: extraction rejects it too
      if (target) Object.assign(entry, { mode: target.entry.mode, size: target.entry.size });
    }
    const node: Node = { entry };
    if (type === 'dir') node.children = old?.entry.type === 'dir' ? old.children : new Map();
    if (p in s.captured) node.content = Buffer.from(s.captured[p]!, 'base64');
    parent.children!.set(name, node);
  }
}

/**
 * buildFileIndex: reads the tar headers of each layer (bottom first) — never extracting, and
 * skipping content except `capture`d small files — and merges them into a {@link FileIndex}.
 * Each layer's summary is cached by digest in memory and, with `cacheDir`, on disk, so an
 * index over known layers costs no download at all.
 */
export async function buildFileIndex(
  layers: readonly IndexLayer[],
  options: FileIndexOptions = {},
): Promise<FileIndex> {
  const summaries = await Promise.all(layers.map((l) => loadSummary(l, options)));
  const root = implicitDir();
  for (const s of summaries) apply(root, s);
  return new FileIndex(root);
}
