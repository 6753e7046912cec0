/**
 * Media types of the OCI image spec (v1.1) and of Docker's image manifest v2 schema 2.
 * Docker schema 1 types are listed only so they can be recognised and refused.
 */
export const MediaType = {
  /** OCI image manifest. */
  OciManifest: 'application/vnd.oci.image.manifest.v1+json',
  /** OCI image index (multi-platform). */
  OciIndex: 'application/vnd.oci.image.index.v1+json',
  /** OCI image config. */
  OciConfig: 'application/vnd.oci.image.config.v1+json',
  /** OCI layer, gzip-compressed tar. */
  OciLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  /** OCI layer, zstd-compressed tar. */
  OciLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  /** OCI layer, uncompressed tar. */
  OciLayer: 'application/vnd.oci.image.layer.v1.tar',
  /** Docker schema 2 manifest. */
  DockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  /** Docker manifest list (multi-platform). */
  DockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  /** Docker image config. */
  DockerConfig: 'application/vnd.docker.container.image.v1+json',
  /** Docker layer, gzip-compressed tar. */
  DockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  /** Docker foreign (non-distributable) layer. */
  DockerForeignLayerGzip: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
  /** Docker schema 1 manifest (refused). */
  DockerSchema1: 'application/vnd.docker.distribution.manifest.v1+json',
  /** Docker schema 1 signed manifest (refused). */
  DockerSchema1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
} as const;

/** A manifest media type kiln reads and writes. */
export type ManifestMediaType =
  | typeof MediaType.OciManifest
  | typeof MediaType.OciIndex
  | typeof MediaType.DockerManifest
  | typeof MediaType.DockerManifestList;

/** The Accept header value sent for manifest requests: all four supported types, no schema 1. */
export const MANIFEST_ACCEPT: readonly ManifestMediaType[] = [
  MediaType.OciIndex,
  MediaType.OciManifest,
  MediaType.DockerManifestList,
  MediaType.DockerManifest,
];

/** isIndexMediaType: true for the OCI index and the Docker manifest list. */
export function isIndexMediaType(mt: string | undefined): boolean {
  return mt === MediaType.OciIndex || mt === MediaType.DockerManifestList;
}

/** isImageManifestMediaType: true for the OCI image manifest and the Docker schema 2 manifest. */
export function isImageManifestMediaType(mt: string | undefined): boolean {
  return mt === MediaType.OciManifest || mt === MediaType.DockerManifest;
}

/** isSchema1MediaType: true for Docker schema 1 manifests, which kiln refuses. */
export function isSchema1MediaType(mt: string | undefined): boolean {
  return mt === MediaType.DockerSchema1 || mt === MediaType.DockerSchema1Signed || mt === 'application/json';
}
