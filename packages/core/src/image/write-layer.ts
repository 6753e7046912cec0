import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { createLayer, type LayerEntry } from '@kiln/snapshot';
import type { PlannedEntry } from '../instructions/copy-plan.js';
import type { LayerRecord } from './layer-record.js';

/** How new layers are written. */
export interface LayerWriteOptions {
  workDir: string;
  level?: number;
  /** Same bytes for the same inputs: sorted entries, clamped mtimes. */
  deterministic: boolean;
  sourceDateEpoch?: number;
  signal?: AbortSignal;
}

/** Layer entries for planned tree entries (COPY/ADD/WORKDIR). */
export function plannedToLayerEntries(entries: PlannedEntry[]): LayerEntry[] {
  return entries.map(({ path: p, node }) => {
    const e: LayerEntry = { path: p, type: node.type, mode: node.mode, uid: node.uid, gid: node.gid };
    if (node.type === 'file') e.size = node.size;
    if (node.mtime !== undefined) e.mtime = node.mtime;
    if (node.linkname !== undefined) e.linkname = node.linkname;
    if (node.devmajor !== undefined) e.devmajor = node.devmajor;
    if (node.devminor !== undefined) e.devminor = node.devminor;
    if (node.open) e.open = node.open;
    return e;
  });
}

/**
 * Writes entries as one gzip layer into the work directory (streamed: file contents are read when their
 * entry is written) and returns its record. The blob file is named by its digest once complete.
 */
export async function writeLayer(layerEntries: LayerEntry[], opts: LayerWriteOptions): Promise<LayerRecord> {
  const tmp = path.join(opts.workDir, `layer-${randomUUID()}.tmp`);
  const out = createWriteStream(tmp);
  // The file's error (its directory gone, a full disk) may come before anyone waits on the stream: keep it
  // from the start, so the layer fails instead of waiting forever for a 'finish' that never comes.
  const failed = new Promise<never>((_, reject) => out.once('error', reject));
  failed.catch(() => {});
  try {
    return await Promise.race([failed, finishLayer(layerEntries, opts, out, tmp)]);
  } catch (e) {
    out.destroy();
    await rm(tmp, { force: true });
    throw e;
  }
}

async function finishLayer(
  layerEntries: LayerEntry[],
  opts: LayerWriteOptions,
  out: WriteStream,
  tmp: string,
): Promise<LayerRecord> {
  const d = await createLayer(layerEntries, {
    out,
    compression: 'gzip',
    deterministic: opts.deterministic,
    ...(opts.level === undefined ? {} : { level: opts.level }),
    ...(opts.sourceDateEpoch === undefined ? {} : { sourceDateEpoch: opts.sourceDateEpoch }),
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  if (!out.writableFinished) await once(out, 'finish');
  const file = path.join(opts.workDir, `${d.digest.replace(':', '-')}.tar.gz`);
  await rename(tmp, file);
  return {
    mediaType: d.mediaType,
    digest: d.digest,
    diffId: d.diffId,
    size: d.size,
    file,
    open: async () => createReadStream(file),
  };
}
