import { createHash, randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { type Descriptor, descriptorFor, MediaType } from '../../src/index.js';
import { TAR_END, tarHeader, tarPadding } from '../../src/stores/tar-format.js';
import { assembleImage, type TestImage } from './images.js';

/** tarOf: an uncompressed tar of flat files (name → bytes). */
export function tarOf(files: Record<string, Buffer>): Buffer {
  const parts: Buffer[] = [];
  for (const [name, body] of Object.entries(files))
    parts.push(tarHeader(name, body.length), body, tarPadding(body.length));
  parts.push(TAR_END);
  return Buffer.concat(parts);
}

/**
 * realImage: an image with real gzip tar layers (one random file each) and a config whose
 * diff_ids are the uncompressed digests, so tools that unpack or convert (skopeo, docker load)
 * accept it.
 */
export function realImage(
  fileSizes: number[],
  opts: { docker?: boolean } = {},
): TestImage & { diffIds: string[] } {
  const docker = !!opts.docker;
  const diffIds: string[] = [];
  const layers = fileSizes.map((n, i) => {
    const tar = tarOf({ [`file-${i}.bin`]: randomBytes(n) });
    diffIds.push(`sha256:${createHash('sha256').update(tar).digest('hex')}`);
    const bytes = gzipSync(tar, { level: 1 });
    return {
      bytes,
      desc: descriptorFor(bytes, docker ? MediaType.DockerLayerGzip : MediaType.OciLayerGzip) as Descriptor,
    };
  });
  return { ...assembleImage(layers, diffIds, docker), diffIds };
}
