import type { Compression } from './compression.js';

/** Which family of media types a layer descriptor uses. */
export type MediaTypeFamily = 'oci' | 'docker';

/**
 * The layer media type for a compression: OCI image-spec (`application/vnd.oci.image.layer.v1.tar`
 * `+gzip`/`+zstd`) or Docker schema 2 (`application/vnd.docker.image.rootfs.diff.tar[.gzip]`).
 * Docker has no zstd layer type, so zstd is always the OCI type.
 */
export function layerMediaType(compression: Compression, family: MediaTypeFamily = 'oci'): string {
  if (family === 'docker' && compression !== 'zstd') {
    return compression === 'gzip'
      ? 'application/vnd.docker.image.rootfs.diff.tar.gzip'
      : 'application/vnd.docker.image.rootfs.diff.tar';
  }
  const suffix = compression === 'none' ? '' : `+${compression}`;
  return `application/vnd.oci.image.layer.v1.tar${suffix}`;
}
