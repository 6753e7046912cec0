import { ImageError } from '../errors.js';
import { type Digest, isDigest, sha256Digest } from './digest.js';
import {
  isImageManifestMediaType,
  isIndexMediaType,
  isSchema1MediaType,
  type ManifestMediaType,
  MediaType,
} from './media-types.js';

/** Platform: the OCI platform object of an index entry or image config. */
export interface Platform {
  /** `amd64`, `arm64`, … (GOARCH values). */
  architecture: string;
  /** `linux`, `windows`, … (GOOS values). */
  os: string;
  /** CPU variant: `v7`, `v8`, … */
  variant?: string;
  /** OS version (Windows). */
  'os.version'?: string;
  /** Required OS features. */
  'os.features'?: string[];
}

/** Descriptor: a content-addressed pointer (OCI image spec, descriptor.md). */
export interface Descriptor {
  /** Media type of the referenced content. */
  mediaType: string;
  /** Digest of the referenced bytes. */
  digest: Digest;
  /** Size in bytes of the referenced content. */
  size: number;
  /** Alternative URLs (foreign layers). */
  urls?: string[];
  /** Arbitrary metadata. */
  annotations?: Record<string, string>;
  /** Platform (index entries only). */
  platform?: Platform;
  /** Artifact type (OCI 1.1). */
  artifactType?: string;
}

/** ImageManifest: an OCI image manifest or a Docker schema 2 manifest (same shape). */
export interface ImageManifest {
  schemaVersion: 2;
  mediaType?: typeof MediaType.OciManifest | typeof MediaType.DockerManifest;
  artifactType?: string;
  config: Descriptor;
  layers: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

/** ImageIndex: an OCI image index or a Docker manifest list (same shape). */
export interface ImageIndex {
  schemaVersion: 2;
  mediaType?: typeof MediaType.OciIndex | typeof MediaType.DockerManifestList;
  artifactType?: string;
  manifests: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

/** ImageConfig: the OCI image configuration (the subset kiln reads/writes, plus anything else kept as-is). */
export interface ImageConfig {
  created?: string;
  author?: string;
  architecture: string;
  os: string;
  variant?: string;
  'os.version'?: string;
  config?: {
    User?: string;
    ExposedPorts?: Record<string, object>;
    Env?: string[];
    Entrypoint?: string[] | null;
    Cmd?: string[] | null;
    Volumes?: Record<string, object>;
    WorkingDir?: string;
    Labels?: Record<string, string>;
    StopSignal?: string;
    Shell?: string[];
    Healthcheck?: Record<string, unknown>;
    OnBuild?: string[] | null;
    ArgsEscaped?: boolean;
    [key: string]: unknown;
  };
  rootfs: { type: 'layers'; diff_ids: Digest[] };
  history?: {
    created?: string;
    created_by?: string;
    author?: string;
    comment?: string;
    empty_layer?: boolean;
  }[];
  [key: string]: unknown;
}

/** ParsedManifest: a manifest's bytes, digest, media type and parsed body. */
export type ParsedManifest =
  | { kind: 'image'; mediaType: ManifestMediaType; digest: Digest; bytes: Buffer; manifest: ImageManifest }
  | { kind: 'index'; mediaType: ManifestMediaType; digest: Digest; bytes: Buffer; manifest: ImageIndex };

/**
 * parseManifest: parses manifest bytes, deciding the type from the body's `mediaType`, else the
 * transport's Content-Type, else the shape (`manifests` → index). Refuses Docker schema 1 with
 * `KILN_MANIFEST_UNSUPPORTED` and malformed JSON/shapes with `KILN_MANIFEST_INVALID`. `where` names
 * the source (URL or file) in errors.
 */
export function parseManifest(bytes: Buffer, contentType: string | undefined, where: string): ParsedManifest {
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(bytes.toString('utf8'));
  } catch (e) {
    throw new ImageError(
      'KILN_MANIFEST_INVALID',
      `manifest from ${where} is not valid JSON: ${(e as Error).message}`,
    );
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new ImageError('KILN_MANIFEST_INVALID', `manifest from ${where} is not a JSON object`);
  }
  const ct = contentType?.split(';')[0]?.trim();
  const declared = typeof body.mediaType === 'string' ? body.mediaType : undefined;
  if (
    body.schemaVersion === 1 ||
    isSchema1MediaType(declared) ||
    (isSchema1MediaType(ct) && ct !== 'application/json')
  ) {
    throw new ImageError(
      'KILN_MANIFEST_UNSUPPORTED',
      `manifest from ${where} is Docker schema 1, which kiln does not support (deprecated since 2017); ` +
        're-push the image with a current tool to get a schema 2 or OCI manifest',
    );
  }
  if (body.schemaVersion !== 2) {
    throw new ImageError(
      'KILN_MANIFEST_INVALID',
      `manifest from ${where} has schemaVersion ${JSON.stringify(body.schemaVersion)}, expected 2`,
    );
  }
  let mediaType =
    declared ?? (ct && ct !== 'application/json' && ct !== 'application/octet-stream' ? ct : undefined);
  if (!mediaType) mediaType = Array.isArray(body.manifests) ? MediaType.OciIndex : MediaType.OciManifest;
  const digest = sha256Digest(bytes);
  if (isIndexMediaType(mediaType)) {
    if (!Array.isArray(body.manifests)) {
      throw new ImageError('KILN_MANIFEST_INVALID', `index from ${where} has no "manifests" array`);
    }
    (body.manifests as unknown[]).forEach((d, i) => {
      checkDescriptor(d, `${where}: manifests[${i}]`);
    });
    return {
      kind: 'index',
      mediaType: mediaType as ManifestMediaType,
      digest,
      bytes,
      manifest: body as unknown as ImageIndex,
    };
  }
  if (isImageManifestMediaType(mediaType)) {
    checkDescriptor(body.config, `${where}: config`);
    if (!Array.isArray(body.layers))
      throw new ImageError('KILN_MANIFEST_INVALID', `manifest from ${where} has no "layers" array`);
    (body.layers as unknown[]).forEach((d, i) => {
      checkDescriptor(d, `${where}: layers[${i}]`);
    });
    return {
      kind: 'image',
      mediaType: mediaType as ManifestMediaType,
      digest,
      bytes,
      manifest: body as unknown as ImageManifest,
    };
  }
  throw new ImageError(
    'KILN_MANIFEST_UNSUPPORTED',
    `manifest from ${where} has unsupported media type ${JSON.stringify(mediaType)}`,
  );
}

function checkDescriptor(d: unknown, where: string): asserts d is Descriptor {
  const o = d as Partial<Descriptor> | null;
  if (!o || typeof o !== 'object')
    throw new ImageError('KILN_MANIFEST_INVALID', `${where} is not a descriptor object`);
  if (typeof o.mediaType !== 'string')
    throw new ImageError('KILN_MANIFEST_INVALID', `${where} has no mediaType`);
  if (!isDigest(o.digest))
    throw new ImageError(
      'KILN_MANIFEST_INVALID',
      `${where} has an invalid digest ${JSON.stringify(o.digest)}`,
    );
  if (typeof o.size !== 'number' || !Number.isSafeInteger(o.size) || o.size < 0) {
    throw new ImageError('KILN_MANIFEST_INVALID', `${where} has an invalid size ${JSON.stringify(o.size)}`);
  }
}

/**
 * serializeJson: canonical-enough bytes for a manifest or config kiln writes: `JSON.stringify`
 * without whitespace (as skopeo/containerd do). The digest of a written manifest is the digest of
 * exactly these bytes; readers must always keep the bytes they received, never re-serialise.
 */
export function serializeJson(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value), 'utf8');
}

/** descriptorFor: a descriptor (media type, sha256 digest, size) for some bytes. */
export function descriptorFor(bytes: Uint8Array, mediaType: string, extra?: Partial<Descriptor>): Descriptor {
  return { mediaType, digest: sha256Digest(bytes), size: bytes.byteLength, ...extra };
}

/** formatPlatform: `os/arch[/variant]`, as used in CLI flags and error messages. */
export function formatPlatform(p: Partial<Platform> | undefined): string {
  if (!p) return 'unknown';
  return [p.os ?? '?', p.architecture ?? '?', p.variant].filter(Boolean).join('/');
}

/** parsePlatform: parses `os/arch[/variant]` (e.g. `linux/arm64/v8`); throws `KILN_OPTIONS_INVALID`. */
export function parsePlatform(s: string): Platform {
  const parts = s.split('/');
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => p === '')) {
    throw new ImageError(
      'KILN_OPTIONS_INVALID',
      `platform ${JSON.stringify(s)} must be os/arch[/variant], e.g. linux/amd64`,
    );
  }
  const [os, architecture, variant] = parts as [string, string, string | undefined];
  return variant ? { os, architecture, variant } : { os, architecture };
}

// Default variants, as containerd's platform normaliser assumes them when an index omits one.
const defaultVariant: Record<string, string> = { arm64: 'v8', arm: 'v7' };

/** platformMatches: true when an index entry's platform satisfies the wanted one (variant defaults considered). */
export function platformMatches(have: Platform | undefined, want: Platform): boolean {
  if (!have) return false;
  if (have.os !== want.os || have.architecture !== want.architecture) return false;
  if (!want.variant) return true;
  return (have.variant ?? defaultVariant[have.architecture]) === want.variant;
}

/**
 * selectPlatform: picks the index entry for `want` (image manifests only, attestation entries with
 * `unknown/unknown` skipped). Throws `KILN_PLATFORM_NOT_FOUND` listing the platforms that are available.
 */
export function selectPlatform(index: ImageIndex, want: Platform, where: string): Descriptor {
  const candidates = index.manifests.filter(
    (d) => isImageManifestMediaType(d.mediaType) || isIndexMediaType(d.mediaType),
  );
  const exact = candidates.filter((d) => platformMatches(d.platform, want));
  // Prefer an entry whose variant is stated and equal over one matched by default variant.
  const best = exact.find((d) => d.platform?.variant === want.variant) ?? exact[0];
  if (best) return best;
  const available = candidates
    .map((d) => formatPlatform(d.platform))
    .filter((p) => p !== 'unknown/unknown')
    .join(', ');
  throw new ImageError(
    'KILN_PLATFORM_NOT_FOUND',
    `${where} has no image for platform ${formatPlatform(want)}; available: ${available || 'none'}`,
  );
}
