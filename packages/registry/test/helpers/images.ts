import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { type Descriptor, descriptorFor, MediaType, type Platform, serializeJson } from '../../src/index.js';

/** A small synthetic image: random "layers" (not real tars: registries do not look inside). */
export interface TestImage {
  layers: { desc: Descriptor; bytes: Buffer }[];
  config: { desc: Descriptor; bytes: Buffer };
  manifest: Buffer;
  manifestDesc: Descriptor;
  mediaType: string;
}

/** makeImage: random layers of the given sizes, a config naming their (fake) diff_ids, and a manifest. */
export function makeImage(
  sizes: number[],
  opts: { docker?: boolean; platform?: Platform; seed?: Buffer[] } = {},
): TestImage {
  const docker = !!opts.docker;
  const layers = sizes.map((n, i) => {
    const bytes = opts.seed?.[i] ?? randomBytes(n);
    return { bytes, desc: descriptorFor(bytes, docker ? MediaType.DockerLayerGzip : MediaType.OciLayerGzip) };
  });
  return assembleImage(
    layers,
    layers.map((l) => l.desc.digest),
    docker,
    opts.platform,
  );
}

/** assembleImage: a config (with these diff_ids) and a manifest around existing layers. */
export function assembleImage(
  layers: TestImage['layers'],
  diffIds: string[],
  docker: boolean,
  platform: Platform = { os: 'linux', architecture: 'amd64' },
): TestImage {
  const configBytes = serializeJson({
    created: '2024-01-01T00:00:00Z',
    architecture: platform.architecture,
    os: platform.os,
    ...(platform.variant ? { variant: platform.variant } : {}),
    config: { Env: ['PATH=/bin'], Cmd: ['sh'] },
    rootfs: { type: 'layers', diff_ids: diffIds },
    history: diffIds.map(() => ({ created: '2024-01-01T00:00:00Z', created_by: 'kiln test' })),
  });
  const config = {
    bytes: configBytes,
    desc: descriptorFor(configBytes, docker ? MediaType.DockerConfig : MediaType.OciConfig),
  };
  const mediaType = docker ? MediaType.DockerManifest : MediaType.OciManifest;
  const manifest = serializeJson({
    schemaVersion: 2,
    mediaType,
    config: config.desc,
    layers: layers.map((l) => l.desc),
  });
  return { layers, config, manifest, manifestDesc: descriptorFor(manifest, mediaType), mediaType };
}

/** makeIndex: an OCI index over images (with their platforms). */
export function makeIndex(entries: { image: TestImage; platform: Platform }[]): {
  bytes: Buffer;
  desc: Descriptor;
} {
  const bytes = serializeJson({
    schemaVersion: 2,
    mediaType: MediaType.OciIndex,
    manifests: entries.map((e) => ({ ...e.image.manifestDesc, platform: e.platform })),
  });
  return { bytes, desc: descriptorFor(bytes, MediaType.OciIndex) };
}

/** opener: an `open()` for a buffer, sliced into 64 KiB chunks like a file stream. */
export function opener(bytes: Buffer): () => Readable {
  return () =>
    Readable.from(
      (function* () {
        for (let i = 0; i < bytes.length; i += 65536) yield bytes.subarray(i, i + 65536);
      })(),
    );
}

/** readStream: a whole stream into a buffer. */
export async function readStream(s: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of s) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

/** uniqueRepo: a fresh repository name per test, so suites can share a registry. */
export function uniqueRepo(prefix = 'contract'): string {
  return `${prefix}/r${randomBytes(4).toString('hex')}`;
}
