import { type ExtractOptions, extractLayer } from '@kiln/snapshot';
import pLimit from 'p-limit';
import type { LayerRecord } from './layer-record.js';

/** How many layers download at once while earlier ones are unpacked. */
const DOWNLOADS = 3;

/**
 * Unpacks `layers` into `dir`, in order, with the safe extractor. The first streams straight from its source
 * into extraction; the others download at the same time (a few at once) into the blob cache, so each is
 * there — or arriving — when its turn comes. A failed download surfaces when its layer is opened.
 */
export async function extractLayers(layers: LayerRecord[], dir: string, opts: ExtractOptions): Promise<void> {
  const limit = pLimit(DOWNLOADS);
  for (const l of layers.slice(1)) if (l.prefetch) limit(() => l.prefetch!()).catch(() => {});
  for (const l of layers) await extractLayer(await l.open(), dir, opts);
}
