import { createHash, randomUUID } from 'node:crypto';
import { chmod, mkdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { currentIdMaps, inUserNamespace } from '../user-namespace.js';
import { extractLayers } from './extract-layers.js';
import type { LayerRecord } from './layer-record.js';

/**
 * The base layers of an image, unpacked once per machine under `<cacheDir>/rootfs/<key>` (the key is a
 * sha256 over the layers' diff IDs, so equal stacks share one tree). It is only ever used as an overlay's
 * read-only lower directory, never written. The tree is unpacked beside its final name and renamed into place
 * when complete, so a crash or a concurrent build never sees half a tree.
 */
export async function unpackedBase(
  cacheDir: string,
  layers: LayerRecord[],
  signal?: AbortSignal,
): Promise<string> {
  // In a user namespace the owners on disk depend on its id maps (unmapped ids cannot be set at all), so a
  // tree unpacked under other maps is another tree.
  const maps = inUserNamespace() ? JSON.stringify(currentIdMaps()) : '';
  const key = createHash('sha256')
    .update(layers.map((l) => l.diffId).join('\n') + maps)
    .digest('hex');
  const root = path.join(cacheDir, 'rootfs');
  const final = path.join(root, key);
  if ((await stat(final).catch(() => undefined))?.isDirectory()) return final;
  await mkdir(root, { recursive: true });
  const tmp = path.join(root, `.tmp-${randomUUID()}`);
  await mkdir(tmp);
  await chmod(tmp, 0o755);
  try {
    await extractLayers(layers, tmp, { allowDevices: 'skip', ...(signal ? { signal } : {}) });
    await rename(tmp, final).catch(async (e: NodeJS.ErrnoException) => {
      // Another build finished the same tree first: use theirs.
      if (e.code !== 'ENOTEMPTY' && e.code !== 'EEXIST') throw e;
      await rm(tmp, { recursive: true, force: true });
    });
    return final;
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    throw e;
  }
}
