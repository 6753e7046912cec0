import { createReadStream } from 'node:fs';
import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { verifiedStream, verifyBytes } from '../client/verified-download.js';
import { ImageError } from '../errors.js';
import { type Digest, digestHex, isDigest, sha256Digest } from '../image/digest.js';
import {
  type Descriptor,
  type ImageConfig,
  type ImageIndex,
  type Platform,
  parseManifest,
  selectPlatform,
} from '../image/manifest.js';
import { isIndexMediaType, type ManifestMediaType, MediaType } from '../image/media-types.js';
import { tempPath, writeVerifiedFile } from './blob-file.js';
import type {
  ImageStore,
  PutBlobOptions,
  PutBlobResult,
  ResolvedImage,
  ResolveOptions,
} from './image-store.js';

/** The annotation an OCI layout's index.json uses to name (tag) a manifest. */
export const REF_NAME_ANNOTATION = 'org.opencontainers.image.ref.name';

/**
 * OciLayout: an OCI image layout directory (image-spec `image-layout.md`): `oci-layout`,
 * `index.json` (tags as `org.opencontainers.image.ref.name` annotations, as skopeo and umoci write
 * them) and `blobs/<alg>/<hex>`. Writes are atomic: each file is written to a temp file and renamed;
 * blobs are verified before the rename; `index.json` is rewritten last, after the manifest blob.
 * Updates of index.json within one process are serialised.
 */
export class OciLayout implements ImageStore {
  readonly kind = 'oci-layout';
  /** The layout directory. */
  readonly dir: string;
  /** Default tag for `resolve` and `putManifest(undefined, …)`. */
  readonly tag: string | undefined;
  #indexLock: Promise<unknown> = Promise.resolve();

  constructor(dir: string, tag?: string) {
    this.dir = dir;
    this.tag = tag;
  }

  get name(): string {
    return `oci:${this.dir}${this.tag ? `:${this.tag}` : ''}`;
  }

  /** blobPath: where a blob lives in the layout. */
  blobPath(digest: Digest): string {
    return join(this.dir, 'blobs', digest.slice(0, digest.indexOf(':')), digestHex(digest));
  }

  /** readIndex: index.json, or an empty index when the layout does not exist yet. */
  async readIndex(): Promise<ImageIndex> {
    let text: string;
    try {
      text = await readFile(join(this.dir, 'index.json'), 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT')
        return { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [] };
      throw e;
    }
    const parsed = parseManifest(Buffer.from(text), MediaType.OciIndex, join(this.dir, 'index.json'));
    if (parsed.kind !== 'index')
      throw new ImageError('KILN_STORE_INVALID', `${join(this.dir, 'index.json')} is not an image index`);
    return parsed.manifest;
  }

  /** tags: the ref names in index.json. */
  async tags(): Promise<string[]> {
    return (await this.readIndex()).manifests
      .map((d) => d.annotations?.[REF_NAME_ANNOTATION])
      .filter((t): t is string => !!t);
  }

  async #findTop(ref: string | undefined): Promise<Descriptor> {
    const index = await this.readIndex();
    let found: Descriptor | undefined;
    if (ref && isDigest(ref))
      found = index.manifests.find((d) => d.digest === ref) ?? {
        mediaType: MediaType.OciManifest,
        digest: ref,
        size: -1,
      };
    else if (ref) found = index.manifests.find((d) => d.annotations?.[REF_NAME_ANNOTATION] === ref);
    else if (index.manifests.length === 1) found = index.manifests[0];
    if (!found) {
      const tags = index.manifests.map((d) => d.annotations?.[REF_NAME_ANNOTATION] ?? d.digest).join(', ');
      throw new ImageError(
        'KILN_STORE_NOT_FOUND',
        ref
          ? `${this.dir}: no image tagged ${JSON.stringify(ref)} (has: ${tags || 'nothing'})`
          : `${this.dir}: holds ${index.manifests.length} images; name a tag (has: ${tags || 'nothing'})`,
      );
    }
    return found;
  }

  async #readVerified(desc: Descriptor): Promise<Buffer> {
    let bytes: Buffer;
    try {
      bytes = await readFile(this.blobPath(desc.digest));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT')
        throw new ImageError('KILN_STORE_INVALID', `${this.dir}: blob ${desc.digest} is missing`);
      throw e;
    }
    verifyBytes(bytes, desc.size >= 0 ? desc : { digest: desc.digest }, `${this.dir}: blob`);
    return bytes;
  }

  async resolve(opts: ResolveOptions = {}): Promise<ResolvedImage> {
    const platform: Platform = opts.platform ?? { os: 'linux', architecture: 'amd64' };
    let desc = await this.#findTop(opts.reference ?? this.tag);
    let index: ResolvedImage['index'];
    for (let depth = 0; ; depth++) {
      const bytes = await this.#readVerified(desc);
      const m = parseManifest(
        bytes,
        desc.size >= 0 ? desc.mediaType : undefined,
        `${this.dir}@${desc.digest}`,
      );
      if (m.kind === 'index') {
        if (depth > 2) throw new ImageError('KILN_MANIFEST_INVALID', `${this.dir}: indexes nested too deep`);
        index ??= { digest: m.digest, mediaType: m.mediaType };
        desc = selectPlatform(m.manifest, platform, `${this.name}`);
        continue;
      }
      const configBytes = await this.#readVerified(m.manifest.config);
      const out: ResolvedImage = {
        manifest: m.manifest,
        manifestBytes: bytes,
        manifestDigest: m.digest,
        mediaType: m.mediaType,
        config: JSON.parse(configBytes.toString('utf8')) as ImageConfig,
        configBytes,
        configDigest: m.manifest.config.digest,
        configDescriptor: m.manifest.config,
        layers: m.manifest.layers,
      };
      if (index) out.index = index;
      return out;
    }
  }

  async openBlob(desc: Descriptor): Promise<Readable> {
    const path = this.blobPath(desc.digest);
    try {
      await stat(path);
    } catch {
      throw new ImageError('KILN_STORE_INVALID', `${this.dir}: blob ${desc.digest} is missing`);
    }
    return verifiedStream(
      desc,
      async (offset) => ({ body: createReadStream(path, { start: offset }), skip: 0 }),
      path,
      0,
    );
  }

  async hasBlob(desc: Descriptor): Promise<boolean> {
    try {
      const s = await stat(this.blobPath(desc.digest));
      return s.size === desc.size;
    } catch {
      return false;
    }
  }

  async #ensureLayout(): Promise<void> {
    await mkdir(join(this.dir, 'blobs', 'sha256'), { recursive: true });
    const marker = join(this.dir, 'oci-layout');
    try {
      await stat(marker);
    } catch {
      await atomicWrite(marker, Buffer.from(JSON.stringify({ imageLayoutVersion: '1.0.0' })));
    }
  }

  async putBlob(
    desc: Descriptor,
    open: () => Readable | Promise<Readable>,
    opts: PutBlobOptions = {},
  ): Promise<PutBlobResult> {
    if (await this.hasBlob(desc)) return 'exists';
    await this.#ensureLayout();
    await mkdir(join(this.blobPath(desc.digest), '..'), { recursive: true });
    await writeVerifiedFile(this.blobPath(desc.digest), desc, await open(), opts.signal);
    return 'uploaded';
  }

  async putManifest(tagOrDigest: string | undefined, bytes: Buffer, mediaType: string): Promise<Digest> {
    const parsed = parseManifest(bytes, mediaType, `manifest for ${this.name}`);
    const children =
      parsed.kind === 'index'
        ? parsed.manifest.manifests
        : [parsed.manifest.config, ...parsed.manifest.layers];
    for (const child of children) {
      if (!(await this.hasBlob(child))) {
        throw new ImageError(
          'KILN_STORE_INVALID',
          `${this.dir}: manifest references ${child.digest}, which is not in the layout; put blobs before the manifest`,
        );
      }
    }
    const digest = sha256Digest(bytes);
    const desc: Descriptor = { mediaType, digest, size: bytes.length };
    await this.putBlob(desc, () => Readable.from([bytes]));
    // Put by digest (the children of an index): stored as a blob only; index.json lists roots.
    if (tagOrDigest && isDigest(tagOrDigest)) {
      if (tagOrDigest !== digest) {
        throw new ImageError(
          'KILN_DIGEST_MISMATCH',
          `${this.dir}: manifest bytes have digest ${digest}, not ${tagOrDigest}`,
        );
      }
      return digest;
    }
    const tag = tagOrDigest ?? this.tag;
    const run = this.#indexLock.then(() => this.#addToIndex(desc, tag, mediaType as ManifestMediaType));
    this.#indexLock = run.catch(() => {});
    await run;
    return digest;
  }

  async #addToIndex(desc: Descriptor, tag: string | undefined, mediaType: ManifestMediaType): Promise<void> {
    const index = await this.readIndex();
    const entry: Descriptor = { mediaType, digest: desc.digest, size: desc.size };
    if (tag) entry.annotations = { [REF_NAME_ANNOTATION]: tag };
    // A tag moves: the entry that held it before is dropped. Untagged entries are kept once per digest.
    index.manifests = index.manifests.filter((d) =>
      tag
        ? d.annotations?.[REF_NAME_ANNOTATION] !== tag
        : !(d.digest === desc.digest && !d.annotations?.[REF_NAME_ANNOTATION]),
    );
    index.manifests.push(entry);
    if (isIndexMediaType(index.mediaType) === false) index.mediaType = MediaType.OciIndex;
    await atomicWrite(
      join(this.dir, 'index.json'),
      Buffer.from(
        JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: index.manifests }),
      ),
    );
  }
}

/** atomicWrite: writes a whole file through a temp file and a rename. */
export async function atomicWrite(path: string, bytes: Buffer): Promise<void> {
  const tmp = tempPath(path);
  await writeFile(tmp, bytes);
  await rename(tmp, path);
}
