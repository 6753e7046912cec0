import { createHash } from 'node:crypto';
import { execTool } from './exec.js';
import { type RegistryAccess, skopeoAccessFlags, skopeoRef } from './image-ref.js';

/** What {@link inspectImage} read. @public */
export interface InspectedImage {
  /**
   * sha256 of the top-level manifest bytes as served (an index's digest for an index). For
   * `docker-archive:` inputs skopeo synthesizes the manifest, so this digest is skopeo's.
   */
  digest: string;
  /** `mediaType` field of the top-level manifest, when it has one. */
  mediaType: string | undefined;
  /** The top-level manifest (or index) as parsed JSON. */
  manifest: Record<string, unknown>;
  /** The image config blob of the (platform-resolved) image as stored, parsed (Docker extensions kept). */
  config: ImageConfigJson;
  /** `skopeo inspect` output (Digest, RepoTags, Created, Layers, Env, Labels, ...). */
  summary: Record<string, unknown>;
}

/** The parts of an OCI/Docker image config the tests look at. @public */
export interface ImageConfigJson {
  architecture?: string;
  os?: string;
  variant?: string;
  created?: string;
  config?: Record<string, unknown>;
  rootfs?: { type: string; diff_ids: string[] };
  history?: { created?: string; created_by?: string; empty_layer?: boolean; comment?: string }[];
  [key: string]: unknown;
}

/**
 * inspectImage: reads an image with `skopeo inspect` (three calls: raw manifest, raw
 * config blob, summary), which is itself a check that skopeo accepts the manifest and config. `ref` is
 * any skopeo reference or a bare `HOST/repo:tag`; the test TLS registry's CA and
 * password are used automatically (see `accessFor`).
 * @public
 */
export async function inspectImage(ref: string, access?: RegistryAccess): Promise<InspectedImage> {
  const src = skopeoRef(ref);
  const flags = skopeoAccessFlags(ref, '', access);
  const run = (...extra: string[]) => execTool('skopeo', ['inspect', ...flags, ...extra, src]);
  // `--config --raw` is the config blob as stored; plain `--config` converts it to OCI's
  // schema, which drops Docker's extensions (Healthcheck, Shell, OnBuild, ...).
  const [raw, config, summary] = await Promise.all([run('--raw'), run('--config', '--raw'), run()]);
  const manifest = JSON.parse(raw.stdout) as Record<string, unknown>;
  return {
    digest: `sha256:${createHash('sha256').update(raw.stdout, 'utf8').digest('hex')}`,
    mediaType: typeof manifest.mediaType === 'string' ? manifest.mediaType : undefined,
    manifest,
    config: JSON.parse(config.stdout) as ImageConfigJson,
    summary: JSON.parse(summary.stdout) as Record<string, unknown>,
  };
}
