import { RegistryClient, type RegistryClientOptions } from '../client/registry-client.js';
import { KilnRegistryBaseError } from '../errors.js';
import { DockerArchive } from './docker-archive.js';
import type { ImageStore } from './image-store.js';
import { OciLayout } from './oci-layout.js';
import { RegistryImage } from './registry-image.js';

/** ImageStoreSpec: the parsed form of a store spec string. */
export type ImageStoreSpec =
  | { kind: 'oci-layout'; dir: string; tag?: string }
  | { kind: 'docker-archive'; file: string; reference?: string }
  | { kind: 'registry'; reference: string };

/**
 * parseImageStoreSpec: reads skopeo-style transport prefixes: `oci:<dir>[:<tag>]`,
 * `docker-archive:<file>[:<name:tag>]`, `docker://<ref>` or a plain registry reference.
 * For `oci:` the last `:` starts the tag (so a dir containing `:` needs a tag).
 */
export function parseImageStoreSpec(spec: string): ImageStoreSpec {
  if (spec.startsWith('oci:')) {
    const rest = spec.slice(4);
    const colon = rest.lastIndexOf(':');
    if (!rest)
      throw new KilnRegistryBaseError(
        'KILN_OPTIONS_INVALID',
        `image store ${JSON.stringify(spec)}: oci: needs a directory`,
      );
    return colon > 0
      ? { kind: 'oci-layout', dir: rest.slice(0, colon), tag: rest.slice(colon + 1) }
      : { kind: 'oci-layout', dir: rest };
  }
  if (spec.startsWith('docker-archive:')) {
    const rest = spec.slice('docker-archive:'.length);
    if (!rest)
      throw new KilnRegistryBaseError(
        'KILN_OPTIONS_INVALID',
        `image store ${JSON.stringify(spec)}: docker-archive: needs a file`,
      );
    const colon = rest.indexOf(':');
    return colon > 0
      ? { kind: 'docker-archive', file: rest.slice(0, colon), reference: rest.slice(colon + 1) }
      : { kind: 'docker-archive', file: rest };
  }
  return { kind: 'registry', reference: spec.startsWith('docker://') ? spec.slice(9) : spec };
}

/**
 * openImageStore: opens the store a spec names, as source and destination. Registry specs use
 * `client`, or a new {@link RegistryClient} made from `clientOptions`.
 */
export function openImageStore(
  spec: string,
  opts: { client?: RegistryClient; clientOptions?: RegistryClientOptions } = {},
): ImageStore {
  const s = parseImageStoreSpec(spec);
  if (s.kind === 'oci-layout') return new OciLayout(s.dir, s.tag);
  if (s.kind === 'docker-archive') return new DockerArchive(s.file, s.reference);
  return new RegistryImage(opts.client ?? new RegistryClient(opts.clientOptions), s.reference);
}
