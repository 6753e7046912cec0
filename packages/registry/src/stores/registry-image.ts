import type { Readable } from 'node:stream';
import type { RegistryClient } from '../client/registry-client.js';
import { ImageError } from '../errors.js';
import { type Digest, isDigest } from '../image/digest.js';
import type { Descriptor } from '../image/manifest.js';
import { makeReference, parseReference, type Reference } from '../reference/reference.js';
import type {
  ImageStore,
  PutBlobOptions,
  PutBlobResult,
  ResolvedImage,
  ResolveOptions,
} from './image-store.js';

/**
 * RegistryImage: a repository in a remote registry as an {@link ImageStore}, bound to a reference
 * (its tag or digest is the default for `resolve`). Blobs are read from the endpoint (mirror or
 * origin) that served the manifest.
 */
export class RegistryImage implements ImageStore {
  readonly kind = 'registry';
  /** The reference this store is bound to. */
  readonly reference: Reference;
  readonly #client: RegistryClient;
  #servedBy: string | undefined;

  constructor(client: RegistryClient, reference: Reference | string) {
    this.#client = client;
    this.reference = typeof reference === 'string' ? parseReference(reference) : reference;
  }

  get name(): string {
    return this.reference.toString();
  }

  /** A tag or digest of this repository; anything else must be a full reference to this repository. */
  #at(tagOrDigest: string | undefined): Reference {
    const { registry, repository } = this.reference;
    if (!tagOrDigest) return this.reference;
    if (isDigest(tagOrDigest)) return makeReference({ registry, repository, digest: tagOrDigest });
    if (/^[\w][\w.-]{0,127}$/.test(tagOrDigest))
      return makeReference({ registry, repository, tag: tagOrDigest });
    const full = parseReference(tagOrDigest);
    if (full.name !== this.reference.name) {
      throw new ImageError(
        'KILN_OPTIONS_INVALID',
        `${this.name}: ${JSON.stringify(tagOrDigest)} names another repository (${full.name})`,
      );
    }
    return full;
  }

  async resolve(opts: ResolveOptions = {}): Promise<ResolvedImage> {
    const o: { platform?: ResolveOptions['platform']; signal?: AbortSignal } = {};
    if (opts.platform) o.platform = opts.platform;
    if (opts.signal) o.signal = opts.signal;
    const r = await this.#client.resolveImage(this.#at(opts.reference), o);
    this.#servedBy = r.servedBy;
    const { servedBy: _, ...image } = r;
    return image;
  }

  openBlob(desc: Descriptor, opts: { signal?: AbortSignal } = {}): Promise<Readable> {
    const o: { signal?: AbortSignal; endpointHost?: string } = {};
    if (opts.signal) o.signal = opts.signal;
    if (this.#servedBy) o.endpointHost = this.#servedBy;
    return this.#client.openBlob(this.reference, desc, o);
  }

  async hasBlob(desc: Descriptor, opts: { signal?: AbortSignal } = {}): Promise<boolean> {
    return (await this.#client.hasBlob(this.reference, desc.digest, opts)) !== undefined;
  }

  putBlob(
    desc: Descriptor,
    open: () => Readable | Promise<Readable>,
    opts: PutBlobOptions = {},
  ): Promise<PutBlobResult> {
    return this.#client.pushBlob(this.reference, desc, open, opts);
  }

  putManifest(
    tagOrDigest: string | undefined,
    bytes: Buffer,
    mediaType: string,
    opts: { signal?: AbortSignal } = {},
  ): Promise<Digest> {
    // No tag given: the store's own tag (or digest); a store bound to neither pushes by digest only.
    const { registry, repository } = this.reference;
    const own =
      this.reference.tag || this.reference.digest ? this.reference : makeReference({ registry, repository });
    const target = tagOrDigest !== undefined ? this.#at(tagOrDigest) : own;
    return this.#client.putManifest(target, bytes, mediaType, opts);
  }
}
