import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { type FileHandle, open, rename, rm } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { isVerifiedFor, verifiedStream } from '../client/verified-download.js';
import { DigestMismatchError, ImageError } from '../errors.js';
import { type Digest, digestAlgorithm, digestHex, isDigest, sha256Digest } from '../image/digest.js';
import {
  type Descriptor,
  type ImageConfig,
  type ImageManifest,
  parseManifest,
  serializeJson,
} from '../image/manifest.js';
import { MediaType } from '../image/media-types.js';
import { makeReference, parseReference } from '../reference/reference.js';
import { tempPath } from './blob-file.js';
import type {
  ImageStore,
  PutBlobOptions,
  PutBlobResult,
  ResolvedImage,
  ResolveOptions,
} from './image-store.js';
import { indexTar, TAR_END, type TarEntryLocation, tarHeader, tarPadding } from './tar-format.js';

/** One entry of a docker-archive's `manifest.json`. */
export interface DockerArchiveManifestEntry {
  Config: string;
  RepoTags: string[] | null;
  Layers: string[];
}

/** The state of an archive being written: the temp file, the append position, what it holds. */
interface ArchiveWriter {
  tmp: string;
  fh: FileHandle;
  pos: number;
  /** Serialises appends (a tar is sequential). */
  lock: Promise<unknown>;
  /** digest → entry name. */
  written: Map<Digest, string>;
  images: DockerArchiveManifestEntry[];
}

const GZIP_MAGIC = Buffer.from([0x1f, 0x8b]);
const ZSTD_MAGIC = Buffer.from([0x28, 0xb5, 0x2f, 0xfd]);

/**
 * DockerArchive: a `docker save` tarball (`manifest.json`, `repositories`, `<hex>.json` config,
 * `<hex>.tar` layers) as an {@link ImageStore}, loadable by `docker load`, `podman load` and
 * `skopeo copy docker-archive:`.
 *
 * Writing: blobs are appended to a temp file next to `file` as they arrive (a tar is sequential);
 * `close()` appends `manifest.json` and `repositories` and renames the temp file into place, so
 * `file` is never left half-written. A blob that fails verification is rewound (the next entry
 * overwrites it) and `putBlob` rejects. Layers are stored as given (compressed layers stay compressed:
 * both loaders detect gzip), which keeps their digests when the archive is read back.
 *
 * Reading: the tar is indexed by seeking over headers; `resolve` builds an OCI manifest from
 * manifest.json. A layer's digest is its `<hex>` file name when it has one (checked when the blob is
 * opened), the config's diff_id for an uncompressed layer, else computed by reading it once.
 */
export class DockerArchive implements ImageStore {
  readonly kind = 'docker-archive';
  /** The archive file. */
  readonly file: string;
  /** A docker reference (`name:tag`) for RepoTags, or a tag, or undefined. */
  readonly reference: string | undefined;
  #index: Promise<{ fh: FileHandle; entries: Map<string, TarEntryLocation> }> | undefined;
  #blobs = new Map<Digest, { path: string; location?: TarEntryLocation }>();
  #writer:
    | {
        tmp: string;
        fh: FileHandle;
        pos: number;
        lock: Promise<unknown>;
        failed?: unknown;
        written: Map<Digest, string>;
        images: DockerArchiveManifestEntry[];
      }
    | undefined;

  constructor(file: string, reference?: string) {
    this.file = file;
    this.reference = reference;
  }

  get name(): string {
    return `docker-archive:${this.file}${this.reference ? `:${this.reference}` : ''}`;
  }

  async #read() {
    this.#index ??= (async () => {
      let fh: FileHandle;
      try {
        fh = await open(this.file, 'r');
      } catch (e) {
        throw new ImageError(
          'KILN_STORE_NOT_FOUND',
          `cannot open docker archive ${this.file}: ${(e as Error).message}`,
        );
      }
      try {
        return { fh, entries: await indexTar(fh, this.file) };
      } catch (e) {
        await fh.close();
        throw new ImageError(
          'KILN_STORE_INVALID',
          `${this.file} is not a tar archive: ${(e as Error).message}`,
        );
      }
    })();
    return this.#index;
  }

  async #readEntry(name: string): Promise<Buffer> {
    const { fh, entries } = await this.#read();
    const loc = entries.get(name.replace(/^(\.\/)+/, ''));
    if (!loc) throw new ImageError('KILN_STORE_INVALID', `${this.file}: ${name} is missing from the archive`);
    const buf = Buffer.alloc(loc.size);
    await fh.read(buf, 0, loc.size, loc.offset);
    return buf;
  }

  /** archiveManifest: the parsed `manifest.json`. */
  async archiveManifest(): Promise<DockerArchiveManifestEntry[]> {
    const text = (await this.#readEntry('manifest.json')).toString('utf8');
    try {
      const list = JSON.parse(text) as DockerArchiveManifestEntry[];
      if (!Array.isArray(list)) throw new Error('not an array');
      return list;
    } catch (e) {
      throw new ImageError(
        'KILN_STORE_INVALID',
        `${this.file}: manifest.json is invalid: ${(e as Error).message}`,
      );
    }
  }

  async resolve(opts: ResolveOptions = {}): Promise<ResolvedImage> {
    const list = await this.archiveManifest();
    const want = opts.reference ?? this.reference;
    const entry = want
      ? list.find((e) => (e.RepoTags ?? []).some((t) => sameRepoTag(t, want)))
      : list.length === 1
        ? list[0]
        : undefined;
    if (!entry) {
      const have = list.flatMap((e) => e.RepoTags ?? []).join(', ');
      throw new ImageError(
        'KILN_STORE_NOT_FOUND',
        `${this.file}: ${want ? `no image tagged ${JSON.stringify(want)}` : `holds ${list.length} images; name one`} (has: ${have || 'untagged images'})`,
      );
    }
    const configBytes = await this.#readEntry(entry.Config);
    const config = JSON.parse(configBytes.toString('utf8')) as ImageConfig;
    const configDigest = sha256Digest(configBytes);
    const hexName = /([a-f0-9]{64})(?:\.json)?$/.exec(entry.Config)?.[1];
    if (hexName && `sha256:${hexName}` !== configDigest) {
      throw new DigestMismatchError(
        `${this.file}: config ${entry.Config}`,
        `sha256:${hexName}`,
        configDigest,
        'KILN_DIGEST_MISMATCH',
      );
    }
    const { entries } = await this.#read();
    const diffIds = config.rootfs?.diff_ids ?? [];
    const layers: Descriptor[] = [];
    for (const [i, path] of entry.Layers.entries()) {
      const loc = entries.get(path.replace(/^(\.\/)+/, ''));
      if (!loc)
        throw new ImageError('KILN_STORE_INVALID', `${this.file}: layer ${path} is missing from the archive`);
      const head = Buffer.alloc(Math.min(4, loc.size));
      await (await this.#read()).fh.read(head, 0, head.length, loc.offset);
      const compression = head.subarray(0, 2).equals(GZIP_MAGIC)
        ? 'gzip'
        : head.equals(ZSTD_MAGIC)
          ? 'zstd'
          : 'none';
      const mediaType =
        compression === 'gzip'
          ? MediaType.OciLayerGzip
          : compression === 'zstd'
            ? MediaType.OciLayerZstd
            : MediaType.OciLayer;
      const named = /(?:^|\/)(?:sha256\/)?([a-f0-9]{64})(?:\.tar(?:\.gz)?)?$/.exec(path)?.[1];
      let digest: Digest;
      if (named) digest = `sha256:${named}`;
      else if (compression === 'none' && diffIds[i]) digest = diffIds[i]!;
      else digest = await this.#hashEntry(loc);
      layers.push({ mediaType, digest, size: loc.size });
      this.#blobs.set(digest, { path, location: loc });
    }
    this.#blobs.set(configDigest, { path: entry.Config });
    const configDescriptor: Descriptor = {
      mediaType: MediaType.OciConfig,
      digest: configDigest,
      size: configBytes.length,
    };
    const manifest: ImageManifest = {
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      config: configDescriptor,
      layers,
    };
    const manifestBytes = serializeJson(manifest);
    return {
      manifest,
      manifestBytes,
      manifestDigest: sha256Digest(manifestBytes),
      mediaType: MediaType.OciManifest,
      config,
      configBytes,
      configDigest,
      configDescriptor,
      layers,
    };
  }

  async #hashEntry(loc: TarEntryLocation): Promise<Digest> {
    const hash = createHash('sha256');
    if (loc.size > 0)
      for await (const c of createReadStream(this.file, {
        start: loc.offset,
        end: loc.offset + loc.size - 1,
      }))
        hash.update(c as Buffer);
    return `sha256:${hash.digest('hex')}`;
  }

  async openBlob(desc: Descriptor): Promise<Readable> {
    let known = this.#blobs.get(desc.digest);
    if (!known) {
      await this.resolve().catch(() => undefined);
      known = this.#blobs.get(desc.digest);
    }
    if (!known) throw new ImageError('KILN_STORE_INVALID', `${this.file}: no blob ${desc.digest}`);
    const { entries } = await this.#read();
    const loc = known.location ?? entries.get(known.path.replace(/^(\.\/)+/, ''));
    if (!loc) throw new ImageError('KILN_STORE_INVALID', `${this.file}: ${known.path} is missing`);
    if (loc.size === 0)
      return verifiedStream(desc, async () => ({ body: Readable.from([]), skip: 0 }), this.file, 0);
    return verifiedStream(
      desc,
      async (offset) => ({
        body: createReadStream(this.file, { start: loc.offset + offset, end: loc.offset + loc.size - 1 }),
        skip: 0,
      }),
      `${this.file}:${known.path}`,
      0,
    );
  }

  #opening: Promise<ArchiveWriter> | undefined;

  /** The temp file being written (memoised: concurrent putBlob calls share one writer). */
  #open() {
    this.#opening ??= (async () => {
      const tmp = tempPath(this.file);
      const fh = await open(tmp, 'w');
      this.#writer = { tmp, fh, pos: 0, lock: Promise.resolve(), written: new Map(), images: [] };
      return this.#writer;
    })();
    return this.#opening;
  }

  async hasBlob(desc: Descriptor): Promise<boolean> {
    return !!this.#writer?.written.has(desc.digest);
  }

  async putBlob(
    desc: Descriptor,
    openSource: () => Readable | Promise<Readable>,
    _opts: PutBlobOptions = {},
  ): Promise<PutBlobResult> {
    const w = await this.#open();
    if (w.written.has(desc.digest)) return 'exists';
    const isConfig = desc.mediaType === MediaType.OciConfig || desc.mediaType === MediaType.DockerConfig;
    const name = `${digestHex(desc.digest)}.${isConfig ? 'json' : 'tar'}`;
    const run = w.lock.then(async () => {
      if (w.written.has(desc.digest)) return;
      const start = w.pos;
      let size = 0;
      try {
        const source = await openSource();
        // A verifying source errors rather than ends when wrong: no second hash needed.
        const hash = isVerifiedFor(source, desc.digest)
          ? undefined
          : createHash(digestAlgorithm(desc.digest));
        await w.fh.write(tarHeader(name, desc.size), 0, 512, start);
        let pos = start + 512;
        for await (const chunk of source) {
          const b = chunk as Buffer;
          hash?.update(b);
          size += b.length;
          if (size > desc.size) break;
          await w.fh.write(b, 0, b.length, pos);
          pos += b.length;
        }
        const actual = hash ? `${digestAlgorithm(desc.digest)}:${hash.digest('hex')}` : desc.digest;
        if (size !== desc.size)
          throw new DigestMismatchError(
            `${this.file}: blob ${desc.digest}`,
            `size ${desc.size}`,
            `size ${size}`,
            'KILN_SIZE_MISMATCH',
          );
        if (actual !== desc.digest)
          throw new DigestMismatchError(`${this.file}: blob`, desc.digest, actual, 'KILN_DIGEST_MISMATCH');
        const pad = tarPadding(size);
        await w.fh.write(pad, 0, pad.length, pos);
        w.pos = pos + pad.length;
        w.written.set(desc.digest, name);
      } catch (e) {
        // Rewind: the partial entry is overwritten by the next one; the archive stays consistent.
        w.pos = start;
        throw e;
      }
    });
    w.lock = run.catch(() => {});
    await run;
    return 'uploaded';
  }

  async putManifest(tagOrDigest: string | undefined, bytes: Buffer, mediaType: string): Promise<Digest> {
    const w = await this.#open();
    const parsed = parseManifest(bytes, mediaType, `manifest for ${this.name}`);
    if (parsed.kind !== 'image') {
      throw new ImageError(
        'KILN_STORE_INVALID',
        `${this.name}: a docker archive holds single-platform images; pass an image manifest, not an index`,
      );
    }
    const m = parsed.manifest;
    const missing = [m.config, ...m.layers].filter((d) => !w.written.has(d.digest));
    if (missing.length) {
      throw new ImageError(
        'KILN_STORE_INVALID',
        `${this.name}: manifest references ${missing.map((d) => d.digest).join(', ')}, not yet written; put blobs before the manifest`,
      );
    }
    const ref = this.#repoTag(tagOrDigest);
    const config = w.written.get(m.config.digest)!;
    const layers = m.layers.map((d) => w.written.get(d.digest)!);
    const existing = w.images.find((i) => i.Config === config && i.Layers.join() === layers.join());
    if (existing) {
      if (ref && !existing.RepoTags?.includes(ref)) existing.RepoTags = [...(existing.RepoTags ?? []), ref];
    } else w.images.push({ Config: config, RepoTags: ref ? [ref] : null, Layers: layers });
    if (ref)
      for (const i of w.images)
        if (i !== existing && i.RepoTags && i.Config !== config)
          i.RepoTags = i.RepoTags.filter((t) => t !== ref);
    return parsed.digest;
  }

  /**
   * The RepoTags entry (`name:tag`, Docker's familiar form) for a put: a bare tag applies to the
   * store's own reference (`DockerArchive(f, 'me/app')` + `'2'` → `me/app:2`); a full reference is
   * used as is; without either, the store's reference (tag `latest` when it has none).
   */
  #repoTag(tagOrDigest: string | undefined): string | undefined {
    const t = tagOrDigest ?? this.reference;
    if (!t || isDigest(t)) return undefined;
    try {
      let ref = parseReference(t);
      if (tagOrDigest !== undefined && this.reference && /^[\w][\w.-]{0,127}$/.test(tagOrDigest)) {
        const base = parseReference(this.reference);
        ref = makeReference({ registry: base.registry, repository: base.repository, tag: tagOrDigest });
      }
      const name = makeReference({ registry: ref.registry, repository: ref.repository }).familiar();
      return `${name}:${ref.tag ?? 'latest'}`;
    } catch {
      throw new ImageError(
        'KILN_STORE_INVALID',
        `${this.name}: ${JSON.stringify(t)} is not a valid name:tag for RepoTags`,
      );
    }
  }

  /** close: finishes a written archive (manifest.json, repositories, end blocks) or releases a read one. */
  async close(): Promise<void> {
    if (this.#index) {
      const idx = this.#index;
      this.#index = undefined;
      await (await idx.catch(() => undefined))?.fh.close();
    }
    const w = this.#writer;
    if (!w) return;
    this.#writer = undefined;
    this.#opening = undefined;
    try {
      await w.lock;
      if (!w.images.length)
        throw new ImageError('KILN_STORE_INVALID', `${this.name}: no manifest was written; nothing to save`);
      const repositories: Record<string, Record<string, string>> = {};
      for (const img of w.images) {
        for (const rt of img.RepoTags ?? []) {
          const at = rt.lastIndexOf(':');
          (repositories[rt.slice(0, at)] ??= {})[rt.slice(at + 1)] = (
            img.Layers.at(-1) ?? img.Config
          ).replace(/\..*$/, '');
        }
      }
      let pos = w.pos;
      for (const [name, body] of [
        ['manifest.json', serializeJson(w.images)],
        ['repositories', serializeJson(repositories)],
      ] as const) {
        const block = Buffer.concat([tarHeader(name, body.length), body, tarPadding(body.length)]);
        await w.fh.write(block, 0, block.length, pos);
        pos += block.length;
      }
      await w.fh.write(TAR_END, 0, TAR_END.length, pos);
      await w.fh.truncate(pos + TAR_END.length);
      await w.fh.close();
      await rename(w.tmp, this.file);
    } catch (e) {
      await w.fh.close().catch(() => {});
      await rm(w.tmp, { force: true });
      throw e;
    }
  }
}

function sameRepoTag(have: string, want: string): boolean {
  if (have === want) return true;
  try {
    const a = parseReference(have);
    const b = parseReference(
      want.includes(':') || want.includes('/') ? want : `${have.replace(/:[^:/]+$/, '')}:${want}`,
    );
    return a.name === b.name && (a.tag ?? 'latest') === (b.tag ?? 'latest');
  } catch {
    return false;
  }
}
