import { PassThrough } from 'node:stream';
import { type CreateLayerOptions, createLayer, type LayerEntry } from '../../src/index.js';

/** Writes a layer to a Buffer (tests only: layers are streamed in real use). */
export async function layerBytes(
  entries: Iterable<LayerEntry> | AsyncIterable<LayerEntry>,
  options: Omit<CreateLayerOptions, 'out'> = {},
) {
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on('data', (c: Buffer) => chunks.push(c));
  const desc = await createLayer(entries, { out, ...options });
  return { desc, bytes: Buffer.concat(chunks) };
}
