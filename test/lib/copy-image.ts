import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { execTool } from './exec.js';
import { type RegistryAccess, skopeoAccessFlags, skopeoRef } from './image-ref.js';
import { scratchDir } from './scratch-dir.js';

/** Options of {@link copyImage}. @public */
export interface CopyImageOptions {
  srcAccess?: RegistryAccess;
  destAccess?: RegistryAccess;
  /** `v2s2` converts to Docker schema2 media types, `oci` to OCI; default: keep the source's. */
  format?: 'oci' | 'v2s2';
  /** Recompress every layer with this algorithm (skopeo `--dest-compress-format`). Default: keep. */
  compress?: 'gzip' | 'zstd';
}

/**
 * copyImage: `skopeo copy` between any two references (`docker://…` or bare `HOST/repo:tag`,
 * `oci:DIR:TAG`, `oci-archive:F`, `docker-archive:F`, `dir:D`), e.g. to hand kiln an input
 * in another format or to check that skopeo accepts kiln's output as a source. Returns the
 * digest of the manifest written at the destination.
 * @public
 */
export async function copyImage(src: string, dest: string, opts: CopyImageOptions = {}): Promise<string> {
  const dir = await mkdtemp(join(scratchDir(), 'kiln-copy-'));
  try {
    const digestFile = join(dir, 'digest');
    await execTool('skopeo', [
      'copy',
      '--quiet',
      '--digestfile',
      digestFile,
      ...(opts.format ? ['--format', opts.format] : []),
      ...(opts.compress ? ['--dest-compress', '--dest-compress-format', opts.compress] : []),
      ...skopeoAccessFlags(src, 'src', opts.srcAccess),
      ...skopeoAccessFlags(dest, 'dest', opts.destAccess),
      skopeoRef(src),
      skopeoRef(dest),
    ]);
    return (await readFile(digestFile, 'utf8')).trim();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
