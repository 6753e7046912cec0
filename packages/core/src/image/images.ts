import path from 'node:path';
import {
  type ImageDestination,
  type ImageSource,
  OciLayout,
  openImageStore,
  parsePlatform,
  parseReference,
  RegistryClient,
  type RegistryClientOptions,
  type RegistryHostOptions,
} from '@kiln/registry';
import { KilnError } from '../errors.js';
import type { BuildEvent } from '../events.js';
import type { BuildOptions } from '../options.js';
import { BlobCache } from './blob-cache.js';
import type { ImageConfigFile } from './config.js';
import type { LayerRecord } from './layer-record.js';

/** `os/arch[/variant]` as an object. */
export interface PlatformSpec {
  os: string;
  architecture: string;
  variant?: string;
}

/** Parses `linux/amd64[/variant]`, with a clear error. */
export function platformOf(s: string): PlatformSpec {
  try {
    const p = parsePlatform(s);
    return { os: p.os, architecture: p.architecture, ...(p.variant ? { variant: p.variant } : {}) };
  } catch (e) {
    throw new KilnError('KILN_BAD_PLATFORM', `invalid platform "${s}": ${(e as Error).message}`, {
      cause: e,
    });
  }
}

/** A base image, resolved for one platform: its config and its layers, still wherever they live. */
export interface BaseImage {
  name: string;
  manifestDigest: string;
  config: ImageConfigFile;
  layers: LayerRecord[];
}

/** How a build reaches images: base images to read, destinations to write. One instance per build. */
export interface ImageAccess {
  platform(spec: string): PlatformSpec;
  /** Resolves a FROM / COPY --from reference (registry, `oci:`, `docker-archive:`), once per build. */
  resolve(ref: string, platform: PlatformSpec): Promise<BaseImage>;
  /** Opens a destination for writing. */
  destination(spec: string): {
    store: ImageDestination;
    tag?: string;
    reference: string;
    registry?: string;
    repository?: string;
  };
}

function hostOptions(settings: BuildOptions['registry'], pull: boolean): RegistryClientOptions {
  const s = settings ?? {};
  const o: RegistryClientOptions = {};
  const registries: Record<string, RegistryHostOptions> = {};
  const host = (h: string) => (registries[h] ??= {});
  for (const h of s.insecureRegistries ?? []) host(h).insecure = true;
  for (const h of s.skipTlsVerifyRegistries ?? []) host(h).skipTlsVerify = true;
  for (const [h, ca] of Object.entries(s.caCertificates ?? {})) host(h).ca = ca;
  for (const [h, c] of Object.entries(s.clientCertificates ?? {}))
    Object.assign(host(h), { cert: c.cert, key: c.key });
  if (Object.keys(registries).length) o.registries = registries;
  if (pull && s.insecurePull) o.insecure = true;
  if (pull && s.skipTlsVerifyPull) o.skipTlsVerify = true;
  if (s.credentials) o.credentials = s.credentials as RegistryClientOptions['credentials'];
  if (s.dispatcher) o.dispatcher = s.dispatcher as RegistryClientOptions['dispatcher'];
  if (s.dockerConfigDir)
    o.dockerConfig = { configDir: s.dockerConfigDir } as RegistryClientOptions['dockerConfig'];
  if (pull && s.mirrors?.length) o.mirrors = s.mirrors;
  if (pull && s.registryMap) o.registryMap = s.registryMap;
  if (!pull && s.pushRetries) o.retry = { attempts: 3 + s.pushRetries } as RegistryClientOptions['retry'];
  return o;
}

const isStoreSpec = (s: string) => /^(oci|docker-archive|oci-layout):/.test(s);

/** Opens the image access of one build from its options. */
export function openImageAccess(options: BuildOptions, emit: (e: BuildEvent) => void): ImageAccess {
  const pullClient = new RegistryClient(hostOptions(options.registry, true));
  const pushClient = new RegistryClient(hostOptions(options.registry, false));
  const resolved = new Map<string, Promise<BaseImage>>();
  // Base layers read once are kept on disk, so a later build unpacks them without the network.
  const blobs = options.cacheDir ? new BlobCache(path.join(options.cacheDir, 'blobs')) : undefined;
  const sources = new Map<string, ImageSource>();
  const sourceFor = (ref: string): ImageSource => {
    let s = sources.get(ref);
    if (!s) {
      s = openImageStore(ref, { client: pullClient }) as ImageSource;
      sources.set(ref, s);
    }
    return s;
  };
  const load = async (ref: string, platform: PlatformSpec): Promise<BaseImage> => {
    const source = sourceFor(ref);
    const img = await source.resolve({ platform, ...(options.signal ? { signal: options.signal } : {}) });
    let origin: LayerRecord['origin'];
    if (!isStoreSpec(ref)) {
      const r = parseReference(ref);
      origin = { registry: r.registry, repository: r.repository };
    }
    const diffIds = img.config.rootfs?.diff_ids ?? [];
    if (diffIds.length !== img.layers.length)
      throw new KilnError(
        'KILN_BAD_IMAGE',
        `${source.name}: the config lists ${diffIds.length} diff_ids for ${img.layers.length} layers`,
      );
    const layers: LayerRecord[] = img.layers.map((d, i) => {
      const fetch = () => {
        emit({ type: 'pull', digest: d.digest, bytes: d.size, reason: 'layer content needed' });
        return source.openBlob(d, options.signal ? { signal: options.signal } : {});
      };
      const rec: LayerRecord = {
        mediaType: d.mediaType,
        digest: d.digest,
        size: d.size,
        diffId: diffIds[i]!,
        open: async () => (blobs ? blobs.open(d.digest, d.size, fetch) : fetch()),
      };
      if (blobs) rec.prefetch = () => blobs.prefetch(d.digest, d.size, fetch);
      if (origin) rec.origin = origin;
      if (d.annotations) rec.annotations = d.annotations;
      return rec;
    });
    const config = structuredClone(img.config) as unknown as ImageConfigFile;
    config.config ??= {};
    config.history ??= [];
    return { name: source.name, manifestDigest: img.manifestDigest, config, layers };
  };
  return {
    platform: platformOf,
    resolve(ref, platform) {
      const key = `${ref}|${platform.os}/${platform.architecture}/${platform.variant ?? ''}`;
      let p = resolved.get(key);
      if (!p) {
        p = load(ref, platform).catch((e) => {
          if (KilnError.is(e)) throw e;
          throw new KilnError('KILN_BASE_IMAGE', `cannot read base image ${ref}: ${(e as Error).message}`, {
            cause: e,
          });
        });
        resolved.set(key, p);
      }
      return p;
    },
    destination(spec) {
      if (isStoreSpec(spec)) {
        const store = openImageStore(spec, { client: pushClient }) as ImageDestination & { tag?: string };
        const out: ReturnType<ImageAccess['destination']> = { store, reference: spec };
        if (store instanceof OciLayout && store.tag) out.tag = store.tag;
        return out;
      }
      let ref: ReturnType<typeof parseReference>;
      try {
        ref = parseReference(spec);
      } catch (e) {
        throw new KilnError(
          'KILN_BAD_DESTINATION',
          `invalid destination "${spec}": ${(e as Error).message}`,
          { cause: e },
        );
      }
      const store = openImageStore(ref.toString(), { client: pushClient }) as ImageDestination;
      const tag = ref.digest ? undefined : (ref.tag ?? 'latest');
      return {
        store,
        ...(tag ? { tag } : {}),
        reference: `${ref.registry}/${ref.repository}${tag ? `:${tag}` : ''}`,
        registry: ref.registry,
        repository: ref.repository,
      };
    },
  };
}
