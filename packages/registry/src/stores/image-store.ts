import type { Readable } from 'node:stream';
import type { Digest } from '../image/digest.js';
import type { Descriptor, ImageConfig, ImageManifest, Platform } from '../image/manifest.js';
import type { ManifestMediaType } from '../image/media-types.js';

/**
 * The one shape every image store has, whatever the place (remote registry, OCI layout directory,
 * docker-archive tarball): an {@link ImageSource} to read a base image from and an
 * {@link ImageDestination} to write a built image to. `@kiln/core` only talks to these.
 */

/** ResolvedImage: one platform's image, with the exact bytes its digests were computed from. */
export interface ResolvedImage {
  /** The image manifest (never an index). */
  manifest: ImageManifest;
  /** The manifest's bytes as stored; `manifestDigest` is their sha256. */
  manifestBytes: Buffer;
  manifestDigest: Digest;
  mediaType: ManifestMediaType;
  /** The parsed config, and its bytes (verified against `configDigest`). */
  config: ImageConfig;
  configBytes: Buffer;
  configDigest: Digest;
  configDescriptor: Descriptor;
  /** Layer descriptors, base first. */
  layers: Descriptor[];
  /** When the reference named an index: its digest and media type (the platform entry was chosen from it). */
  index?: { digest: Digest; mediaType: ManifestMediaType };
}

/** ResolveOptions: which image to pick. */
export interface ResolveOptions {
  /** A tag or digest overriding the one the store was opened with. */
  reference?: string;
  /** Platform to select from an index. Default `linux/amd64`. */
  platform?: Platform;
  signal?: AbortSignal;
}

/** ImageSource: somewhere to read an image from. */
export interface ImageSource {
  /** `registry`, `oci-layout` or `docker-archive`. */
  readonly kind: string;
  /** Human-readable location for messages (`127.0.0.1:5000/app:1`, `oci:/tmp/x:latest`). No credentials. */
  readonly name: string;
  /** resolve: reads the manifest (choosing a platform from an index) and the config. */
  resolve(opts?: ResolveOptions): Promise<ResolvedImage>;
  /**
   * openBlob: a stream of the blob, verified against `desc` while it flows; it errors (never ends)
   * on a digest or size mismatch. Each call returns a fresh stream.
   */
  openBlob(desc: Descriptor, opts?: { signal?: AbortSignal }): Promise<Readable>;
  /** close: releases files or sessions, when the store holds any. */
  close?(): Promise<void>;
}

/** PutBlobOptions: hints for {@link ImageDestination.putBlob}. */
export interface PutBlobOptions {
  /**
   * Where the blob is known to live already, as `registry/repository` references (a base image's
   * repository): a registry destination on the same registry mounts it instead of uploading.
   */
  mountFrom?: string | string[];
  signal?: AbortSignal;
}

/** PutBlobResult: what the destination had to do. */
export type PutBlobResult = 'exists' | 'mounted' | 'uploaded';

/** ImageDestination: somewhere to write an image to. Blobs first, then manifests (the stores enforce it). */
export interface ImageDestination {
  readonly kind: string;
  readonly name: string;
  /** hasBlob: whether the blob is already there (then `putBlob` would be a no-op). */
  hasBlob(desc: Descriptor, opts?: { signal?: AbortSignal }): Promise<boolean>;
  /**
   * putBlob: stores a blob, calling `open` only if the content is needed (it may be called again to retry).
   * The content is verified against `desc`; a mismatch leaves nothing behind.
   */
  putBlob(
    desc: Descriptor,
    open: () => Readable | Promise<Readable>,
    opts?: PutBlobOptions,
  ): Promise<PutBlobResult>;
  /**
   * putManifest: stores manifest bytes under a tag (or only by digest when `tagOrDigest` is a digest or
   * undefined) and returns their digest. Refuses (`KILN_STORE_INVALID` / registry `MANIFEST_BLOB_UNKNOWN`)
   * when a blob the manifest references is missing.
   */
  putManifest(
    tagOrDigest: string | undefined,
    bytes: Buffer,
    mediaType: string,
    opts?: { signal?: AbortSignal },
  ): Promise<Digest>;
  /** close: finishes the destination (docker-archive writes manifest.json and closes the tar here). */
  close?(): Promise<void>;
}

/** ImageStore: a place that is both a source and a destination. */
export interface ImageStore extends ImageSource, ImageDestination {
  readonly kind: string;
  readonly name: string;
}
