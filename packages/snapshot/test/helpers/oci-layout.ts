import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

export interface LayoutLayer {
  bytes: Buffer;
  diffId: string;
  mediaType: string;
}

function putBlob(dir: string, data: Buffer): { digest: string; size: number } {
  const hex = createHash('sha256').update(data).digest('hex');
  fs.mkdirSync(path.join(dir, 'blobs', 'sha256'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'blobs', 'sha256', hex), data);
  return { digest: `sha256:${hex}`, size: data.length };
}

/** Writes a minimal OCI image layout (image-spec image-layout.md) with one tagged image of `layers`. */
export function writeOciLayout(dir: string, tag: string, layers: LayoutLayer[]): void {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: {},
      rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
    }),
  );
  const configDesc = { mediaType: 'application/vnd.oci.image.config.v1+json', ...putBlob(dir, config) };
  const layerDescs = layers.map((l) => ({ mediaType: l.mediaType, ...putBlob(dir, l.bytes) }));
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: configDesc,
      layers: layerDescs,
    }),
  );
  const manifestDesc = {
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    ...putBlob(dir, manifest),
    annotations: { 'org.opencontainers.image.ref.name': tag },
  };
  fs.writeFileSync(
    path.join(dir, 'index.json'),
    JSON.stringify({ schemaVersion: 2, manifests: [manifestDesc] }),
  );
}

/** Reads the layer blobs of the first image in an OCI layout (e.g. one buildah wrote). */
export function readOciLayers(dir: string): Buffer[] {
  const blob = (digest: string) => fs.readFileSync(path.join(dir, 'blobs', ...digest.split(':')));
  const index = JSON.parse(fs.readFileSync(path.join(dir, 'index.json'), 'utf8'));
  const manifest = JSON.parse(blob(index.manifests[0].digest).toString());
  return manifest.layers.map((l: { digest: string }) => blob(l.digest));
}
