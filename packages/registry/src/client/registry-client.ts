import type { Readable } from 'node:stream';
import { rootCertificates } from 'node:tls';
import pLimit, { type LimitFunction } from 'p-limit';
import { Agent, type Dispatcher } from 'undici';
import { Authenticator } from '../auth/authenticator.js';
import {
  type Credential,
  type CredentialProvider,
  chainCredentials,
  normaliseRegistryKey,
  staticCredentials,
} from '../auth/credentials.js';
import {
  containersAuthCredentials,
  type DockerConfigOptions,
  dockerConfigCredentials,
} from '../auth/docker-config.js';
import { ImageError, KilnRegistryBaseError, RegistryError } from '../errors.js';
import { assertDigest, type Digest, isDigest, sha256Digest } from '../image/digest.js';
import {
  type Descriptor,
  type ImageConfig,
  type ParsedManifest,
  type Platform,
  parseManifest,
  selectPlatform,
} from '../image/manifest.js';
import {
  isImageManifestMediaType,
  isIndexMediaType,
  MANIFEST_ACCEPT,
  type ManifestMediaType,
} from '../image/media-types.js';
import { parseReference, type Reference, referenceIdentifier } from '../reference/reference.js';
import type { PutBlobResult, ResolvedImage } from '../stores/image-store.js';
import {
  dispatcherTransport,
  type FetchLike,
  fetchTransport,
  type HttpTransport,
} from '../transport/http.js';
import { DEFAULT_RETRY, type RetryOptions } from '../transport/retry.js';
import { BlobUploader } from './blob-uploader.js';
import { apiHost, type Endpoint, parseRegistryMap } from './endpoint.js';
import { HashWorker } from './hash-worker.js';
import { RequestEngine, readAll } from './request-engine.js';
import { verifiedStream, verifyBytes } from './verified-download.js';

/** RegistryHostOptions: per-registry transport settings (key: `host[:port]`). */
export interface RegistryHostOptions {
  /** Talk plain HTTP to this registry (kaniko `--insecure-registry`). */
  insecure?: boolean;
  /** Accept any TLS certificate from this registry (kaniko `--skip-tls-verify-registry`). */
  skipTlsVerify?: boolean;
  /** Extra CA certificate(s) (PEM) trusted for this registry. */
  ca?: string | Buffer | (string | Buffer)[];
  /** Client certificate and key (PEM) presented to this registry (mTLS). */
  cert?: string | Buffer;
  key?: string | Buffer;
}

/** RegistryClientOptions: one object, defaults in {@link RegistryClient}'s constructor. */
export interface RegistryClientOptions {
  /** An undici Dispatcher for every request (no TLS options may then be given: configure the dispatcher). */
  dispatcher?: Dispatcher;
  /** A fetch-compatible function for every request (same rule as `dispatcher`). */
  fetch?: FetchLike;
  /** Programmatic credentials (a map by registry host, or a provider); they win over config files. */
  credentials?: Record<string, Credential> | CredentialProvider;
  /** Docker config / containers auth.json lookup settings; `false` reads no files. */
  dockerConfig?: DockerConfigOptions | false;
  /** Plain HTTP: `true` for every registry, or a list of hosts. */
  insecure?: boolean | string[];
  /** Skip TLS verification: `true` for every registry, or a list of hosts. */
  skipTlsVerify?: boolean | string[];
  /** Extra CA certificate(s) (PEM) trusted for every registry. */
  ca?: string | Buffer | (string | Buffer)[];
  /** Client certificate and key (PEM) for every registry. */
  cert?: string | Buffer;
  key?: string | Buffer;
  /** Per-registry settings, overriding the global ones. */
  registries?: Record<string, RegistryHostOptions>;
  /** Mirrors for Docker Hub pulls (kaniko `--registry-mirror`), tried in order before docker.io. */
  mirrors?: string[];
  /** Registry rewrites for pulls (kaniko `--registry-map`): `"a=b;c=d"` or `{ a: ['b'] }`. */
  registryMap?: string | Record<string, string[]>;
  /** Do not fall back to the original registry when every mirror fails (kaniko `--skip-default-registry-fallback`). */
  skipDefaultRegistryFallback?: boolean;
  /** Blob transfers in flight at once. */
  concurrency?: number;
  retry?: RetryOptions;
  /** Stall timeout per request, ms. */
  timeoutMs?: number;
  /** Upload chunk size for chunked uploads, bytes. */
  chunkSize?: number;
  /** Blobs up to this size are uploaded with one PUT; larger ones in chunks. */
  monolithicMaxSize?: number;
}

type Ref = Reference | string;
const asRef = (r: Ref): Reference => (typeof r === 'string' ? parseReference(r) : r);
const pullScope = (repo: string) => `repository:${repo}:pull`;
const pushScope = (repo: string) => `repository:${repo}:pull,push`;

/** ResolvedRemoteImage: a {@link ResolvedImage} plus the endpoint that served it (a mirror, maybe). */
export interface ResolvedRemoteImage extends ResolvedImage {
  /** Registry host that answered (`docker.io`, or the mirror's host). */
  servedBy: string;
}

/**
 * RegistryClient: a client for the OCI distribution API. Holds no global state: its transports,
 * token cache and limits live in the instance. Every method takes a reference (string or
 * {@link Reference}) and an optional `signal`.
 */
export class RegistryClient {
  readonly #engine: RequestEngine;
  readonly #pullLimit: LimitFunction;
  readonly #pushLimit: LimitFunction;
  readonly #o: RegistryClientOptions;
  readonly #agents = new Map<string, Dispatcher>();
  readonly #shared: HttpTransport | undefined;
  readonly #map: Record<string, string[]>;
  readonly #uploader: BlobUploader;
  readonly #hashWorker = new HashWorker();
  /** Upload chunk size (bytes). */
  readonly chunkSize: number;
  /** Largest blob sent in one PUT (bytes). */
  readonly monolithicMaxSize: number;

  constructor(options: RegistryClientOptions = {}) {
    this.#o = options;
    if (options.dispatcher && options.fetch) {
      throw new KilnRegistryBaseError(
        'KILN_OPTIONS_INVALID',
        'RegistryClient: pass either `dispatcher` or `fetch`, not both',
      );
    }
    const tlsGiven =
      options.ca ||
      options.cert ||
      options.key ||
      options.skipTlsVerify ||
      Object.values(options.registries ?? {}).some((r) => r.ca || r.cert || r.key || r.skipTlsVerify);
    if ((options.dispatcher || options.fetch) && tlsGiven) {
      throw new KilnRegistryBaseError(
        'KILN_OPTIONS_INVALID',
        'RegistryClient: TLS options (ca, cert, key, skipTlsVerify) configure the default transport; with an injected dispatcher or fetch, configure TLS there',
      );
    }
    if (options.dispatcher) this.#shared = dispatcherTransport(options.dispatcher);
    else if (options.fetch) this.#shared = fetchTransport(options.fetch);
    this.#map =
      typeof options.registryMap === 'string'
        ? parseRegistryMap(options.registryMap)
        : { ...(options.registryMap ?? {}) };
    // Chunks are streamed from the source, never buffered, so their size costs no memory; 64 MiB
    // keeps the request count low, and a failed chunk resumes from the registry's offset anyway.
    this.chunkSize = options.chunkSize ?? 64 * 1024 * 1024;
    // Up to 256 MiB one streamed PUT: distribution takes a PUT with the whole body about a third
    // faster than PATCH + PUT (measured with bench/registry-push-pull.mjs), and a failure only
    // restarts that one blob. Larger blobs go in resumable chunks.
    this.monolithicMaxSize = options.monolithicMaxSize ?? 256 * 1024 * 1024;
    const fileCreds =
      options.dockerConfig === false
        ? undefined
        : chainCredentials(
            containersAuthCredentials(options.dockerConfig || {}),
            dockerConfigCredentials(options.dockerConfig || {}),
          );
    const programmatic =
      typeof options.credentials === 'function'
        ? options.credentials
        : options.credentials
          ? staticCredentials(options.credentials)
          : undefined;
    const creds = chainCredentials(programmatic, fileCreds);
    const transportFor = (url: URL) => this.#transportFor(url);
    this.#engine = new RequestEngine({
      transportFor,
      auth: new Authenticator(creds, transportFor),
      retry: { ...DEFAULT_RETRY, ...(options.retry ?? {}) },
      // 30 s without a byte: a stalled connection, not a slow one; it is retried.
      timeoutMs: options.timeoutMs ?? 30_000,
    });
    // 6 transfers, as containers/image (skopeo, podman) does: typical images have fewer layers, so
    // all move at once, without opening more connections than registries like.
    // Separate limits for downloads and uploads: a copy between two repositories through one client
    // holds an upload slot while its source stream needs a download slot; one shared pool would deadlock.
    this.#pullLimit = pLimit(options.concurrency ?? 6);
    this.#pushLimit = pLimit(options.concurrency ?? 6);
    this.#uploader = new BlobUploader(this.#engine, {
      chunkSize: this.chunkSize,
      monolithicMaxSize: this.monolithicMaxSize,
      retries: options.retry?.retries ?? DEFAULT_RETRY.retries,
      retry: { ...DEFAULT_RETRY, ...(options.retry ?? {}) },
    });
  }

  /** close: closes the connection pools the client created (never an injected dispatcher) and its hash worker. */
  async close(): Promise<void> {
    await this.#hashWorker.close();
    await Promise.all([...this.#agents.values()].map((a) => a.close()));
    this.#agents.clear();
  }

  #hostOptions(host: string): RegistryHostOptions {
    const o = this.#o;
    const key = normaliseRegistryKey(host);
    const per = o.registries?.[host] ?? o.registries?.[key] ?? {};
    const inList = (v: boolean | string[] | undefined) =>
      Array.isArray(v) ? v.map(normaliseRegistryKey).includes(key) : !!v;
    const out: RegistryHostOptions = {
      insecure: per.insecure ?? inList(o.insecure),
      skipTlsVerify: per.skipTlsVerify ?? inList(o.skipTlsVerify),
    };
    const ca = per.ca ?? o.ca;
    if (ca) out.ca = ca;
    const cert = per.cert ?? o.cert;
    const keyPem = per.key ?? o.key;
    if (cert) out.cert = cert;
    if (keyPem) out.key = keyPem;
    return out;
  }

  #transportFor(url: URL): HttpTransport {
    if (this.#shared) return this.#shared;
    const h = url.protocol === 'https:' ? this.#hostOptions(url.host) : {};
    const key = JSON.stringify(
      [h.skipTlsVerify, h.ca, h.cert, h.key].map((v) => (v === undefined ? null : String(v))),
    );
    let agent = this.#agents.get(key);
    if (!agent) {
      const connect: Record<string, unknown> = {};
      if (h.skipTlsVerify) connect.rejectUnauthorized = false;
      if (h.ca) {
        // Extra CAs are added to Node's bundle, not substituted for it.
        connect.ca = [...rootCertificates, ...(Array.isArray(h.ca) ? h.ca : [h.ca]).map(String)];
      }
      if (h.cert) connect.cert = h.cert;
      if (h.key) connect.key = h.key;
      agent = new Agent({
        connect,
        pipelining: 1,
        keepAliveTimeout: 30_000,
        headersTimeout: 0,
        bodyTimeout: 0,
      });
      this.#agents.set(key, agent);
    }
    return dispatcherTransport(agent);
  }

  /** endpoint: the origin endpoint of a registry (for pushes and as the last pull fallback). */
  endpoint(registry: string): Endpoint {
    return {
      registry,
      host: apiHost(registry),
      scheme: this.#hostOptions(registry).insecure ? 'http' : 'https',
      prefix: '',
      mirror: false,
    };
  }

  /** pullEndpoints: registry-map targets, then Docker Hub mirrors, then (unless disabled) the registry itself. */
  pullEndpoints(registry: string): Endpoint[] {
    const mirrors = [
      ...(this.#map[registry] ?? []),
      ...(registry === 'docker.io' ? (this.#o.mirrors ?? []) : []),
    ];
    const eps = mirrors.map((m): Endpoint => {
      const u = new URL(/^[a-z]+:\/\//i.test(m) ? m : `x://${m}`);
      const host = u.host;
      const scheme =
        u.protocol === 'http:'
          ? 'http'
          : u.protocol === 'https:'
            ? 'https'
            : this.#hostOptions(host).insecure
              ? 'http'
              : 'https';
      return {
        registry: normaliseRegistryKey(host),
        host,
        scheme,
        prefix: u.pathname.replace(/\/+$/, ''),
        mirror: true,
      };
    });
    if (!eps.length || !this.#o.skipDefaultRegistryFallback) eps.push(this.endpoint(registry));
    return eps;
  }

  async #acrossEndpoints<T>(ref: Reference, fn: (ep: Endpoint) => Promise<T>): Promise<T> {
    const eps = this.pullEndpoints(ref.registry);
    let first: unknown;
    for (const ep of eps) {
      try {
        return await fn(ep);
      } catch (e) {
        // Only registry/transport failures move on to the next endpoint; a bad image does not.
        if (!(e instanceof RegistryError) || eps.length === 1) throw e;
        first ??= e;
      }
    }
    throw first;
  }

  /** getManifest: fetches a manifest (any of the four types) by tag or digest; verifies it when asked by digest. */
  async getManifest(
    ref: Ref,
    opts: { signal?: AbortSignal } = {},
  ): Promise<ParsedManifest & { servedBy: string }> {
    const r = asRef(ref);
    return this.#acrossEndpoints(r, (ep) => this.#getManifestAt(ep, r, referenceIdentifier(r), opts.signal));
  }

  async #getManifestAt(
    ep: Endpoint,
    r: Reference,
    id: string,
    signal?: AbortSignal,
  ): Promise<ParsedManifest & { servedBy: string }> {
    const req = {
      method: 'GET',
      endpoint: ep,
      path: `/v2/${r.repository}/manifests/${id}`,
      headers: { accept: MANIFEST_ACCEPT.join(', ') },
      scopes: [pullScope(r.repository)],
      signal,
    };
    const res = await this.#engine.send(req);
    if (res.status !== 200) return this.#engine.fail(req, res);
    const bytes = await readAll(res, 16 * 1024 * 1024);
    const where = `${ep.host}/${r.repository}@${id}`;
    const parsed = parseManifest(bytes, res.headers.get('content-type') ?? undefined, where);
    if (isDigest(id)) verifyBytes(bytes, { digest: id }, `manifest ${where}`);
    return { ...parsed, servedBy: ep.host };
  }

  /** headManifest: the manifest's descriptor (digest, media type, size), or undefined when it does not exist. */
  async headManifest(ref: Ref, opts: { signal?: AbortSignal } = {}): Promise<Descriptor | undefined> {
    const r = asRef(ref);
    const ep = this.endpoint(r.registry);
    const id = referenceIdentifier(r);
    const req = {
      method: 'HEAD',
      endpoint: ep,
      path: `/v2/${r.repository}/manifests/${id}`,
      headers: { accept: MANIFEST_ACCEPT.join(', ') },
      scopes: [pullScope(r.repository)],
      signal: opts.signal,
    };
    const res = await this.#engine.send(req);
    res.body.resume();
    if (res.status === 404) return undefined;
    if (res.status !== 200) return this.#engine.fail(req, res);
    const digest = res.headers.get('docker-content-digest') ?? (isDigest(id) ? id : undefined);
    if (!digest) {
      // Registries SHOULD send Docker-Content-Digest; without it, the body tells.
      const m = await this.getManifest(r, opts);
      return { mediaType: m.mediaType, digest: m.digest, size: m.bytes.length };
    }
    return {
      mediaType: (res.headers.get('content-type') ?? '').split(';')[0]!,
      digest,
      size: Number(res.headers.get('content-length') ?? 0),
    };
  }

  /**
   * putManifest: uploads manifest bytes under `ref`'s tag (or digest) with exactly `mediaType` as
   * Content-Type, and returns their digest. The registry refuses it if a referenced blob is missing.
   */
  async putManifest(
    ref: Ref,
    bytes: Buffer,
    mediaType: string,
    opts: { signal?: AbortSignal } = {},
  ): Promise<Digest> {
    const r = asRef(ref);
    const digest = sha256Digest(bytes);
    if (r.digest && r.digest !== digest) {
      throw new ImageError(
        'KILN_DIGEST_MISMATCH',
        `putManifest ${r.toString()}: the bytes' digest is ${digest}`,
      );
    }
    const id = r.digest ?? r.tag ?? digest;
    const req = {
      method: 'PUT',
      endpoint: this.endpoint(r.registry),
      path: `/v2/${r.repository}/manifests/${id}`,
      headers: { 'content-type': mediaType, 'content-length': String(bytes.length) },
      body: bytes,
      scopes: [pushScope(r.repository)],
      signal: opts.signal,
    };
    const res = await this.#engine.send(req);
    if (res.status !== 201 && res.status !== 200) return this.#engine.fail(req, res);
    res.body.resume();
    const returned = res.headers.get('docker-content-digest');
    if (returned && returned !== digest) {
      throw new RegistryError({
        status: res.status,
        method: 'PUT',
        url: `${r.registry}/${r.repository}`,
        message: `registry stored the manifest as ${returned}, expected ${digest}`,
        code: 'KILN_REGISTRY_PROTOCOL',
      });
    }
    return digest;
  }

  /**
   * resolveImage: manifest (platform chosen from an index: default linux/amd64) and config, each
   * verified against its digest. Errors list the available platforms when none matches.
   */
  async resolveImage(
    ref: Ref,
    opts: { platform?: Platform; signal?: AbortSignal } = {},
  ): Promise<ResolvedRemoteImage> {
    const r = asRef(ref);
    const platform = opts.platform ?? { os: 'linux', architecture: 'amd64' };
    return this.#acrossEndpoints(r, async (ep) => {
      let m = await this.#getManifestAt(ep, r, referenceIdentifier(r), opts.signal);
      let index: ResolvedImage['index'];
      for (let depth = 0; m.kind === 'index'; depth++) {
        if (depth > 2)
          throw new ImageError('KILN_MANIFEST_INVALID', `${r.toString()}: indexes nested too deep`);
        const chosen = selectPlatform(m.manifest, platform, r.toString());
        index ??= { digest: m.digest, mediaType: m.mediaType };
        m = await this.#getManifestAt(ep, r, chosen.digest, opts.signal);
      }
      const manifest = m.manifest;
      if (!isImageManifestMediaType(m.mediaType)) {
        throw new ImageError(
          'KILN_MANIFEST_UNSUPPORTED',
          `${r.toString()}: ${m.mediaType} is not an image manifest`,
        );
      }
      const configBytes = await this.#fetchSmallBlob(ep, r, manifest.config, opts.signal);
      let config: ImageConfig;
      try {
        config = JSON.parse(configBytes.toString('utf8')) as ImageConfig;
      } catch {
        throw new ImageError(
          'KILN_MANIFEST_INVALID',
          `${r.toString()}: config ${manifest.config.digest} is not JSON`,
        );
      }
      const out: ResolvedRemoteImage = {
        manifest,
        manifestBytes: m.bytes,
        manifestDigest: m.digest,
        mediaType: m.mediaType,
        config,
        configBytes,
        configDigest: manifest.config.digest,
        configDescriptor: manifest.config,
        layers: manifest.layers,
        servedBy: ep.host,
      };
      if (index) out.index = index;
      return out;
    });
  }

  async #fetchSmallBlob(ep: Endpoint, r: Reference, desc: Descriptor, signal?: AbortSignal): Promise<Buffer> {
    const stream = this.#openBlobAt(ep, r, desc, signal);
    return readAll({ status: 200, headers: new Headers(), body: stream }, 64 * 1024 * 1024);
  }

  /** hasBlob: the blob's size when the repository has it, else undefined (HEAD, on the registry itself). */
  async hasBlob(ref: Ref, digest: Digest, opts: { signal?: AbortSignal } = {}): Promise<number | undefined> {
    const r = asRef(ref);
    return this.#uploader.exists(this.endpoint(r.registry), r.repository, digest, opts.signal);
  }

  /**
   * openBlob: streams a blob, verified on the fly (see verifiedStream), resuming interrupted downloads
   * with Range and following redirects to blob storage without credentials. Counts against `concurrency`
   * until the stream ends.
   */
  async openBlob(
    ref: Ref,
    desc: Descriptor,
    opts: { signal?: AbortSignal; endpointHost?: string } = {},
  ): Promise<Readable> {
    const r = asRef(ref);
    assertDigest(desc.digest, 'blob digest');
    const eps = this.pullEndpoints(r.registry);
    const ep = eps.find((e) => e.host === opts.endpointHost) ?? eps[eps.length - 1]!;
    let release!: () => void;
    const slot = new Promise<void>((res) => (release = res));
    await new Promise<void>((started) => {
      void this.#pullLimit(() => {
        started();
        return slot;
      });
    });
    const stream = this.#openBlobAt(ep, r, desc, opts.signal);
    stream.once('close', release);
    return stream;
  }

  #openBlobAt(ep: Endpoint, r: Reference, desc: Descriptor, signal?: AbortSignal): Readable {
    const path = `/v2/${r.repository}/blobs/${desc.digest}`;
    return verifiedStream(
      desc,
      async (offset) => {
        const headers: Record<string, string> = {};
        if (offset > 0) headers.range = `bytes=${offset}-`;
        const req = {
          method: 'GET',
          endpoint: ep,
          path,
          headers,
          scopes: [pullScope(r.repository)],
          signal,
          followRedirects: true,
        };
        const res = await this.#engine.send(req);
        if (res.status === 206) return { body: res.body, skip: 0 };
        if (res.status === 200) return { body: res.body, skip: offset };
        return this.#engine.fail(req, res);
      },
      `${ep.host}/${r.repository}`,
      5,
      signal,
      // Big blobs are hashed on a worker thread (see HashWorker); small ones are not worth the hop.
      desc.size >= 1024 * 1024 ? this.#hashWorker.create : undefined,
    );
  }

  /** fetchBlob: a whole (small) blob as verified bytes. */
  async fetchBlob(ref: Ref, desc: Descriptor, opts: { signal?: AbortSignal } = {}): Promise<Buffer> {
    const s = await this.openBlob(ref, desc, opts);
    return readAll({ status: 200, headers: new Headers(), body: s }, Number.MAX_SAFE_INTEGER);
  }

  /**
   * pushBlob: makes the blob present in `ref`'s repository: HEAD first, then a cross-repository mount
   * from `mountFrom` (same registry only), else an upload (one PUT up to `monolithicMaxSize`, chunked
   * PATCHes beyond, resumed from the registry's Range after a failed chunk). `open` is called only when
   * bytes must be sent, and again for a restart. Counts against `concurrency`.
   */
  async pushBlob(
    ref: Ref,
    desc: Descriptor,
    open: () => Readable | Promise<Readable>,
    opts: { mountFrom?: string | string[]; signal?: AbortSignal } = {},
  ): Promise<PutBlobResult> {
    const r = asRef(ref);
    assertDigest(desc.digest, 'blob digest');
    const from = (Array.isArray(opts.mountFrom) ? opts.mountFrom : opts.mountFrom ? [opts.mountFrom] : [])
      .map((s) => parseReference(s))
      .filter((m) => m.registry === r.registry && m.repository !== r.repository)
      .map((m) => m.repository);
    return this.#pushLimit(() =>
      this.#uploader.push(this.endpoint(r.registry), r.repository, desc, open, from, opts.signal),
    );
  }

  /** listTags: the repository's tags (following `Link` pagination). */
  async listTags(ref: Ref, opts: { signal?: AbortSignal } = {}): Promise<string[]> {
    const r = asRef(ref);
    const ep = this.endpoint(r.registry);
    const tags: string[] = [];
    let path: string | URL = `/v2/${r.repository}/tags/list`;
    for (let page = 0; page < 1000; page++) {
      const req = {
        method: 'GET',
        endpoint: ep,
        path,
        scopes: [pullScope(r.repository)],
        signal: opts.signal,
      };
      const res = await this.#engine.send(req);
      if (res.status !== 200) return this.#engine.fail(req, res);
      const body = JSON.parse((await readAll(res)).toString('utf8')) as { tags?: string[] | null };
      tags.push(...(body.tags ?? []));
      const link = res.headers.get('link');
      const next = link && /<([^>]+)>;\s*rel="?next"?/.exec(link)?.[1];
      if (!next) break;
      path = new URL(next, `${ep.scheme}://${ep.host}`);
    }
    return tags;
  }

  /** deleteManifest: deletes a manifest by digest (registries need deletion enabled). */
  async deleteManifest(ref: Ref, opts: { signal?: AbortSignal } = {}): Promise<void> {
    const r = asRef(ref);
    if (!r.digest)
      throw new KilnRegistryBaseError(
        'KILN_OPTIONS_INVALID',
        `deleteManifest ${r.toString()}: needs a digest reference`,
      );
    const req = {
      method: 'DELETE',
      endpoint: this.endpoint(r.registry),
      path: `/v2/${r.repository}/manifests/${r.digest}`,
      scopes: [`repository:${r.repository}:delete`, pushScope(r.repository)],
      signal: opts.signal,
    };
    const res = await this.#engine.send(req);
    if (res.status !== 202 && res.status !== 200) return this.#engine.fail(req, res);
    res.body.resume();
  }
}

/** isManifestMediaType: a type `putManifest` accepts without complaint. */
export function isManifestMediaType(mt: string): mt is ManifestMediaType {
  return isIndexMediaType(mt) || isImageManifestMediaType(mt);
}
