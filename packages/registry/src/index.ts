export type { Challenge } from './auth/challenge.js';
export { parseChallenges } from './auth/challenge.js';
export type { Credential, CredentialProvider } from './auth/credentials.js';
export { chainCredentials, normaliseRegistryKey, staticCredentials } from './auth/credentials.js';
export type { DockerConfigOptions, ExecFunction, ExecResult } from './auth/docker-config.js';
export { containersAuthCredentials, dockerConfigCredentials, spawnExec } from './auth/docker-config.js';
export type { Endpoint } from './client/endpoint.js';
export { parseRegistryMap } from './client/endpoint.js';
export type {
  RegistryClientOptions,
  RegistryHostOptions,
  ResolvedRemoteImage,
} from './client/registry-client.js';
export { RegistryClient } from './client/registry-client.js';
export { requestChannel } from './client/request-engine.js';
export { verifiedStream, verifyBytes } from './client/verified-download.js';
export type { DistributionErrorEntry, RegistryErrorCode } from './errors.js';
export {
  DigestMismatchError,
  ImageError,
  InvalidReferenceError,
  isKilnRegistryError,
  KilnRegistryBaseError,
  RegistryError,
  redactUrl,
} from './errors.js';
export type { Digest } from './image/digest.js';
export { assertDigest, digestHex, isDigest, sha256Digest } from './image/digest.js';
export type {
  Descriptor,
  ImageConfig,
  ImageIndex,
  ImageManifest,
  ParsedManifest,
  Platform,
} from './image/manifest.js';
export {
  descriptorFor,
  formatPlatform,
  parseManifest,
  parsePlatform,
  platformMatches,
  selectPlatform,
  serializeJson,
} from './image/manifest.js';
export type { ManifestMediaType } from './image/media-types.js';
export {
  isImageManifestMediaType,
  isIndexMediaType,
  MANIFEST_ACCEPT,
  MediaType,
} from './image/media-types.js';
export type { Reference } from './reference/reference.js';
export {
  DEFAULT_REGISTRY,
  makeReference,
  parseReference,
  referenceIdentifier,
} from './reference/reference.js';
export type { CopyImageOptions } from './stores/copy-image.js';
export { copyImage } from './stores/copy-image.js';
export type { DockerArchiveManifestEntry } from './stores/docker-archive.js';
export { DockerArchive } from './stores/docker-archive.js';
export type {
  ImageDestination,
  ImageSource,
  ImageStore,
  PutBlobOptions,
  PutBlobResult,
  ResolvedImage,
  ResolveOptions,
} from './stores/image-store.js';
export { OciLayout, REF_NAME_ANNOTATION } from './stores/oci-layout.js';
export type { ImageStoreSpec } from './stores/open-image-store.js';
export { openImageStore, parseImageStoreSpec } from './stores/open-image-store.js';
export { RegistryImage } from './stores/registry-image.js';
export type { ValidateResult } from './stores/validate-image.js';
export { validateImage } from './stores/validate-image.js';
export type { FetchInit, FetchLike, HttpRequest, HttpResponse, HttpTransport } from './transport/http.js';
export { dispatcherTransport, fetchTransport } from './transport/http.js';
export type { RetryOptions } from './transport/retry.js';
