import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';

/**
 * A tiny, independent writer of OCI image layouts (image-spec v1.0 layout, index,
 * manifest, config). The test setup uses it to make base images without depending on
 * the kiln code under test. It writes nothing it does not need: one gzip layer per image.
 */

/** A layer blob written by {@link writeLayerBlob}. @public */
export interface LayerBlob {
  /** sha256 of the gzip bytes (the blob digest). */
  digest: string;
  /** sha256 of the uncompressed tar (the config's `rootfs.diff_ids` entry). */
  diffId: string;
  /** Size of the gzip blob in bytes. */
  size: number;
}

/** What {@link writeImage} puts in the image config. @public */
export interface ImageSpec {
  layers: LayerBlob[];
  /** The `config` section: Env, Cmd, ... (Docker/OCI capitalised field names). */
  config: Record<string, unknown>;
  /** RFC 3339 time for `created` and every history entry. */
  created: string;
  /** One `created_by` per layer. */
  createdBy: string[];
  architecture: string;
  os?: string;
}

const MEDIA = {
  index: 'application/vnd.oci.image.index.v1+json',
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
} as const;

/** Tag annotation of index entries (image-spec annotations.md). */
const REF_NAME = 'org.opencontainers.image.ref.name';

/** initLayout: makes `dir` an OCI layout (idempotent). @public */
export async function initLayout(dir: string): Promise<void> {
  await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
  await writeFile(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  try {
    await stat(join(dir, 'index.json'));
  } catch {
    await writeFile(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [] }));
  }
}

/** A pass-through stream that hashes and counts what flows through it. */
function hashing(): Transform & { digest(): string; bytes: number } {
  const h = createHash('sha256');
  const t = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      h.update(chunk);
      (t as Transform & { bytes: number }).bytes += chunk.length;
      cb(null, chunk);
    },
  }) as Transform & { digest(): string; bytes: number };
  t.bytes = 0;
  t.digest = () => `sha256:${h.digest('hex')}`;
  return t;
}

/**
 * writeLayerBlob: gzips an uncompressed layer tar stream into the layout's blobs,
 * hashing both sides in the same pass. Node's gzip header has no name and mtime 0, so
 * the same tar bytes always give the same blob (for one zlib version). Streams; memory
 * does not grow with the layer. `level` trades time for size (default 6; 1 is ~3x faster).
 * @public
 */
export async function writeLayerBlob(dir: string, tar: Readable, level = 6): Promise<LayerBlob> {
  const tmp = join(dir, 'blobs', 'sha256', `.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`);
  const raw = hashing();
  const gz = hashing();
  try {
    await pipeline(tar, raw, createGzip({ level }), gz, createWriteStream(tmp));
    const digest = gz.digest();
    await rename(tmp, blobPath(dir, digest));
    return { digest, diffId: raw.digest(), size: gz.bytes };
  } finally {
    await rm(tmp, { force: true });
  }
}

/** blobPath: where the blob with `digest` lives in the layout at `dir`. @public */
export function blobPath(dir: string, digest: string): string {
  return join(dir, 'blobs', ...digest.split(':'));
}

async function writeJsonBlob(dir: string, value: unknown): Promise<{ digest: string; size: number }> {
  const bytes = Buffer.from(JSON.stringify(value));
  const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  await writeFile(blobPath(dir, digest), bytes);
  return { digest, size: bytes.length };
}

/**
 * writeImage: writes the config and manifest of an image made of `spec.layers` (already
 * in the layout) and points `tag` at it in index.json, replacing an older entry of that
 * tag. Returns the manifest digest, which is what a registry reports after a push of
 * this layout tag without conversion.
 * @public
 */
export async function writeImage(dir: string, tag: string, spec: ImageSpec): Promise<string> {
  const config = {
    created: spec.created,
    architecture: spec.architecture,
    os: spec.os ?? 'linux',
    config: spec.config,
    rootfs: { type: 'layers', diff_ids: spec.layers.map((l) => l.diffId) },
    history: spec.createdBy.map((createdBy) => ({ created: spec.created, created_by: createdBy })),
  };
  const configBlob = await writeJsonBlob(dir, config);
  const manifest = {
    schemaVersion: 2,
    mediaType: MEDIA.manifest,
    config: { mediaType: MEDIA.config, ...configBlob },
    layers: spec.layers.map((l) => ({ mediaType: MEDIA.layerGzip, digest: l.digest, size: l.size })),
  };
  const manifestBlob = await writeJsonBlob(dir, manifest);
  const indexFile = join(dir, 'index.json');
  const index = JSON.parse(await readFile(indexFile, 'utf8')) as {
    manifests: { annotations?: Record<string, string> }[];
  };
  const others = index.manifests.filter((m) => m.annotations?.[REF_NAME] !== tag);
  const entry = { mediaType: MEDIA.manifest, ...manifestBlob, annotations: { [REF_NAME]: tag } };
  const next = { schemaVersion: 2, mediaType: MEDIA.index, manifests: [...others, entry] };
  await writeFile(`${indexFile}.tmp`, JSON.stringify(next));
  await rename(`${indexFile}.tmp`, indexFile);
  return manifestBlob.digest;
}
