import { mkdtemp } from 'node:fs/promises';
import path from 'node:path';
import { buildFileIndex, extractLayer } from '@kiln/snapshot';
import { openInRoot } from '../executors/root-path.js';
import { FileTree, type TreeNode } from '../fs/tree.js';
import type { LayerRecord } from '../image/layer-record.js';
import type { StageFilesystem } from './stage-state.js';

/** Files whose content kiln needs from a base image without extracting it: user and group names. */
const CAPTURE = new Set(['etc/passwd', 'etc/group']);

/**
 * The filesystem of a base image, known lazily: the tree comes from the layers' tar headers (the file index,
 * cached on disk per layer digest), and file contents are extracted into the work directory only when a
 * `COPY --from` needs them.
 */
export function baseFilesystem(
  layers: LayerRecord[],
  opts: { workDir: string; cacheDir?: string; signal?: AbortSignal },
): StageFilesystem {
  let tree: Promise<FileTree> | undefined;
  let index: Awaited<ReturnType<typeof buildFileIndex>> | undefined;
  let rootfs: Promise<string> | undefined;
  const loadTree = async () => {
    index = await buildFileIndex(
      layers.map((l) => ({ digest: l.digest, open: () => l.open() })),
      { capture: (p: string) => CAPTURE.has(p), ...(opts.cacheDir ? { cacheDir: opts.cacheDir } : {}) },
    );
    const t = new FileTree();
    for (const [p, e] of index.entries()) {
      if (p === '') continue;
      const node: TreeNode = {
        type: e.type,
        mode: e.mode,
        uid: e.uid,
        gid: e.gid,
        size: e.size,
        mtime: e.mtimeMs,
      };
      if (e.linkname) node.linkname = e.linkname;
      if (e.type === 'hardlink') {
        // The index lists a file's first name before its hardlinks, which name it.
        const first = t.get(e.linkname);
        if (first) node.inode = first.inode ??= {};
      }
      t.set(p, node);
    }
    return t;
  };
  const extractAll = async () => {
    const dir = await mkdtemp(path.join(opts.workDir, 'base-'));
    for (const l of layers)
      await extractLayer(await l.open(), dir, {
        ownership: 'ignore',
        ...(opts.signal ? { signal: opts.signal } : {}),
      });
    return dir;
  };
  return {
    tree: () => (tree ??= loadTree()),
    base: {
      async open(p) {
        rootfs ??= extractAll();
        // The tree already resolved symlinks, but the extracted root's own (which the tree may see otherwise:
        // a layer writing through a symlinked directory) are resolved again inside it, never on the host.
        return openInRoot(await rootfs, p);
      },
      captured(p) {
        return index?.readCaptured(p);
      },
    },
  };
}
