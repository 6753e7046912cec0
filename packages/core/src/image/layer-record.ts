import type { Readable } from 'node:stream';

/** One layer of an image being built: a base layer (still in its registry) or one kiln wrote to disk. */
export interface LayerRecord {
  mediaType: string;
  digest: string;
  size: number;
  diffId: string;
  /** Opens the compressed blob; base layers are fetched and verified on the fly. */
  open(): Promise<Readable>;
  /** Base layers with a blob cache: downloads the blob into it ahead of `open()` (see BlobCache.prefetch). */
  prefetch?(): Promise<void>;
  /** Set for layers kiln wrote: the blob file on disk. */
  file?: string;
  /** Set for base layers: where the blob already lives, for cross-repository mounts and existence checks. */
  origin?: { registry: string; repository: string };
  /** Annotations of the layer descriptor, kept from the base manifest. */
  annotations?: Record<string, string>;
}
