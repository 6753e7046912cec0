import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createGunzip } from 'node:zlib';
import { memoryContext } from '@kiln/context';
import { readTar } from '@kiln/snapshot';
import { describe, expect, test } from 'vitest';
import { build } from '../src/index.js';

/** Builds into an OCI layout and lists the last layer: `path type mode uid:gid`. */
async function lastLayer(dockerfile: string, files: Parameters<typeof memoryContext>[0]): Promise<string[]> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'kiln-copy-flags-'));
  const r = await build({ dockerfile, context: memoryContext(files), destinations: [`oci:${dir}:t`] });
  const blob = await readFile(path.join(dir, 'blobs', 'sha256', r.layers.at(-1)!.digest.slice(7)));
  await rm(dir, { recursive: true, force: true });
  const out: string[] = [];
  const gunzip = createGunzip();
  gunzip.end(blob);
  for await (const { header: h } of readTar(gunzip))
    out.push(`${h.name} ${h.type} ${h.mode.toString(8)} ${h.uid}:${h.gid}`);
  return out;
}

describe('COPY flags beyond the classic builder', () => {
  test('--parents recreates each source path under the destination', async () => {
    const layer = await lastLayer('FROM scratch\nCOPY --parents src/a/x.txt docs /dest/\n', {
      'src/a/x.txt': '1',
      'docs/readme': '2',
    });
    expect(layer).toEqual(
      expect.arrayContaining(['dest/src/a/x.txt file 644 0:0', 'dest/docs/readme file 644 0:0']),
    );
    expect(layer).not.toContain('dest/x.txt file 644 0:0');
  });
  test('--parents with a /./ pivot keeps only the part after it', async () => {
    const layer = await lastLayer('FROM scratch\nCOPY --parents ./src/./a/x.txt /dest/\n', {
      'src/a/x.txt': '1',
    });
    expect(layer).toContain('dest/a/x.txt file 644 0:0');
    expect(layer.some((l) => l.startsWith('dest/src'))).toBe(false);
  });
  test('--exclude leaves matching files out of a directory copy', async () => {
    const layer = await lastLayer('FROM scratch\nCOPY --exclude=*.md --exclude=tmp app/ /app/\n', {
      'app/a.js': '1',
      'app/b.md': '2',
      'app/tmp/x': '3',
      'app/sub/c.js': '4',
    });
    expect(layer.map((l) => l.split(' ')[0])).toEqual(expect.arrayContaining(['app/a.js', 'app/sub/c.js']));
    expect(layer.some((l) => l.includes('b.md') || l.includes('tmp'))).toBe(false);
  });
  test('COPY <<EOF writes the heredoc body as a file (0644, root)', async () => {
    const layer = await lastLayer('FROM scratch\nCOPY <<EOF /etc/motd\nhello\nEOF\n', {});
    expect(layer).toContain('etc/motd file 644 0:0');
  });
  test('--chmod in symbolic form applies to the copied files', async () => {
    const layer = await lastLayer('FROM scratch\nCOPY --chmod=u=rwx,go=rx run.sh /bin/run\n', {
      'run.sh': { content: 'x', mode: 0o600 },
    });
    expect(layer).toContain('bin/run file 755 0:0');
  });
});
