import path from 'node:path/posix';
import { type FileStat, type FileSystem, listDir, type Xattrs } from '../fs/file-system.js';
import { nodeFileSystem } from '../fs/node-file-system.js';
import type { LayerEntry } from './layer-entry.js';

/** Options of {@link entriesFromDirectory}. */
export interface EntriesFromDirectoryOptions {
  /** Default {@link nodeFileSystem}. */
  fs?: FileSystem;
  /** Layer path under which the tree goes (`app` puts `dir/x` at `app/x`). Default: the layer root. */
  prefix?: string;
  /** Return false to leave a path (relative to `dir`, POSIX) and, for a directory, its whole subtree out. */
  filter?: (relPath: string, stat: FileStat) => boolean;
  /** Replace every owner with this one (e.g. COPY --chown). Default: the owners on disk. */
  owner?: { uid: number; gid: number };
  /** Read xattrs (one GNU tar process per directory; regular files are read once more). Default false. */
  xattrs?: boolean;
  signal?: AbortSignal;
}

/** Files up to this size are read whole (one call) instead of through a stream. */
const WHOLE_READ_MAX = 256 * 1024;

/** Per-walk state that turns stats into entries and detects hardlinks. */
export class EntryMaker {
  /** First layer path seen for each dev:ino with more than one link. */
  private readonly inodes = new Map<string, string>();
  constructor(
    private readonly fs: FileSystem,
    private readonly owner?: { uid: number; gid: number },
  ) {}

  /** The entry for `host` (already lstat'ed) at `layerPath`; a later path of the same inode becomes a hardlink. */
  async make(
    host: string,
    layerPath: string,
    st: FileStat,
    xattrs?: Xattrs,
  ): Promise<LayerEntry | undefined> {
    const base: LayerEntry = {
      path: layerPath,
      type: 'file',
      mode: st.mode,
      uid: this.owner?.uid ?? st.uid,
      gid: this.owner?.gid ?? st.gid,
      mtime: st.mtimeMs,
    };
    if (xattrs && Object.keys(xattrs).length > 0) base.xattrs = xattrs;
    switch (st.kind) {
      case 'dir':
        return { ...base, type: 'dir' };
      case 'symlink':
        return { ...base, type: 'symlink', linkname: await this.fs.readlink(host) };
      case 'char':
      case 'block':
        return { ...base, type: st.kind, devmajor: st.rdevMajor, devminor: st.rdevMinor };
      case 'fifo':
        return { ...base, type: 'fifo' };
      case 'socket':
        return undefined; // sockets cannot be archived (GNU tar skips them too)
      case 'file': {
        if (st.nlink > 1) {
          const key = `${st.dev}:${st.ino}`;
          const first = this.inodes.get(key);
          if (first !== undefined) return { ...base, type: 'hardlink', linkname: first, size: 0 };
          this.inodes.set(key, layerPath);
        }
        const fs = this.fs;
        return {
          ...base,
          size: st.size,
          open: () => (st.size <= WHOLE_READ_MAX ? fs.readFile(host) : fs.createReadStream(host)),
        };
      }
    }
  }
}

/**
 * entriesFromDirectory: walks a directory tree (depth first, names sorted, symlinks never
 * followed) and yields one {@link LayerEntry} per object, the root excluded. A regular file
 * whose inode was already yielded in this walk (same dev+ino) becomes a `hardlink` entry to the
 * first path. Content is opened only when the layer writer asks for it.
 */
export async function* entriesFromDirectory(
  dir: string,
  options: EntriesFromDirectoryOptions = {},
): AsyncGenerator<LayerEntry> {
  const fs = options.fs ?? nodeFileSystem;
  const maker = new EntryMaker(fs, options.owner);
  const prefix = options.prefix ? options.prefix.replace(/^\/+|\/+$/g, '') : '';
  async function* walk(hostDir: string, rel: string): AsyncGenerator<LayerEntry> {
    options.signal?.throwIfAborted();
    const list = (await listDir(fs, hostDir)).sort((a, b) =>
      a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
    );
    const names = list.map((l) => l.name);
    const hosts = names.map((n) => path.join(hostDir, n));
    const stats = list.map((l) => l.stat);
    const xattrs = options.xattrs && fs.readXattrs ? await fs.readXattrs(hosts) : undefined;
    for (let i = 0; i < names.length; i++) {
      const relPath = rel ? `${rel}/${names[i]}` : names[i]!;
      const st = stats[i]!;
      if (options.filter && !options.filter(relPath, st)) continue;
      const layerPath = prefix ? `${prefix}/${relPath}` : relPath;
      const entry = await maker.make(hosts[i]!, layerPath, st, xattrs?.get(hosts[i]!));
      if (entry) yield entry;
      if (st.kind === 'dir') yield* walk(hosts[i]!, relPath);
    }
  }
  yield* walk(dir, '');
}
