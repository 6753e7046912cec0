import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { KilnError } from '../errors.js';
import type { BuildEvent } from '../events.js';
import type { BuildResult, DestinationResult } from '../options.js';
import type { StageState } from '../stage/stage-state.js';
import type { ImageAccess } from './images.js';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';

/** Docker layer media types have OCI twins with the same bytes; an OCI manifest must use the OCI names. */
const TO_OCI: Record<string, string> = {
  'application/vnd.docker.image.rootfs.diff.tar.gzip': 'application/vnd.oci.image.layer.v1.tar+gzip',
  'application/vnd.docker.image.rootfs.diff.tar': 'application/vnd.oci.image.layer.v1.tar',
  'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip':
    'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
};

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** What writing the image produced: the image part of a {@link BuildResult}. */
export type WrittenImage = Pick<
  BuildResult,
  'digest' | 'configDigest' | 'mediaType' | 'manifest' | 'size' | 'destinations' | 'layers'
>;

/**
 * Serialises the final stage as an OCI image and writes it to every destination concurrently. In each
 * destination every blob is written (or found, or mounted from the base image's repository) before the
 * manifest, so a failure never leaves a manifest whose blobs are missing.
 */
export async function writeImage(
  state: StageState,
  opts: { destinations: string[]; images: ImageAccess; emit: (e: BuildEvent) => void; signal?: AbortSignal },
): Promise<WrittenImage> {
  const configBytes = Buffer.from(JSON.stringify(state.config));
  const configDesc = { mediaType: OCI_CONFIG, digest: sha256(configBytes), size: configBytes.length };
  const layers = state.layers.map((l) => {
    const d: { mediaType: string; digest: string; size: number; annotations?: Record<string, string> } = {
      mediaType: TO_OCI[l.mediaType] ?? l.mediaType,
      digest: l.digest,
      size: l.size,
    };
    if (l.annotations) d.annotations = l.annotations;
    return d;
  });
  const manifest = Buffer.from(
    JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: configDesc, layers }),
  );
  const digest = sha256(manifest);
  const signal = opts.signal;
  const dests = opts.destinations.map((spec) => ({ spec, ...opts.images.destination(spec) }));
  // Destinations in one registry go one after another, so each blob is uploaded once and the later
  // repositories mount it from the first; different registries (and local stores) proceed in parallel.
  const queues = new Map<string, Promise<unknown>>();
  const pushedTo = new Map<string, string[]>();
  const results = await Promise.all(
    dests.map(async (d): Promise<DestinationResult> => {
      const key = d.registry ?? d.spec;
      const before = queues.get(key) ?? Promise.resolve();
      let release!: () => void;
      queues.set(key, new Promise<void>((r) => (release = r)));
      await before.catch(() => {});
      const siblings = d.registry ? (pushedTo.get(d.registry) ?? []) : [];
      try {
        await Promise.all(
          state.layers.map(async (l, i) => {
            const desc = layers[i]! as Parameters<typeof d.store.putBlob>[0];
            const mountFrom = [
              ...(l.origin && d.registry === l.origin.registry
                ? [`${l.origin.registry}/${l.origin.repository}`]
                : []),
              ...siblings,
            ];
            const r = await d.store.putBlob(desc, () => l.open(), {
              ...(mountFrom.length ? { mountFrom } : {}),
              ...(signal ? { signal } : {}),
            });
            opts.emit({
              type: 'push',
              destination: d.spec,
              digest: l.digest,
              bytes: r === 'uploaded' ? l.size : 0,
              mounted: r === 'mounted',
              existed: r === 'exists',
            });
          }),
        );
        await d.store.putBlob(
          configDesc as Parameters<typeof d.store.putBlob>[0],
          () => Readable.from([configBytes]),
          signal ? { signal } : {},
        );
        await d.store.putManifest(d.tag, manifest, OCI_MANIFEST, signal ? { signal } : {});
        await d.store.close?.();
        if (d.registry && d.repository)
          pushedTo.set(d.registry, [...siblings, `${d.registry}/${d.repository}`]);
      } catch (e) {
        throw new KilnError('KILN_PUSH_FAILED', `writing ${d.spec} failed: ${(e as Error).message}`, {
          cause: e,
        });
      } finally {
        release();
      }
      opts.emit({ type: 'output', destination: d.spec, digest });
      const base = d.reference.replace(/:[^:/@]+$/, '');
      return { destination: d.spec, reference: d.reference, digestReference: `${base}@${digest}`, digest };
    }),
  );
  return {
    digest,
    configDigest: configDesc.digest,
    mediaType: OCI_MANIFEST,
    manifest,
    size: configBytes.length + layers.reduce((a, l) => a + l.size, 0),
    destinations: results,
    layers: state.layers.map((l, i) => ({
      digest: l.digest,
      diffId: l.diffId,
      size: l.size,
      mediaType: layers[i]!.mediaType,
      fromBase: !l.file,
    })),
  };
}
