import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execTool } from './exec.js';
import { flattenXattrs, layerXattrEntries, type XattrTarEntry } from './layer-xattrs.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kiln-layer-xattrs-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('layerXattrEntries', () => {
  it.skipIf(process.getuid?.() !== 0)(
    "reads GNU tar's SCHILY.xattr records byte for byte (a capability that is not UTF-8)",
    async () => {
      const root = join(dir, 'root');
      await mkdir(join(root, 'bin'), { recursive: true });
      await writeFile(join(root, 'bin/su'), 'x'.repeat(700), { mode: 0o755 });
      await writeFile(join(root, 'bin/plain'), 'p');
      await execTool('setcap', ['cap_setuid+ep', join(root, 'bin/su')]);
      const layer = join(dir, 'layer.tar.gz');
      await execTool('tar', ['--xattrs', '--xattrs-include=*', '-czf', layer, '-C', root, '.']);
      const entries = await layerXattrEntries(layer);
      expect(entries.map((e) => [e.name, e.type, e.xattrs])).toEqual([
        ['bin', '5', {}],
        ['bin/plain', '0', {}],
        ['bin/su', '0', { 'security.capability': '0100000280000000000000000000000000000000' }],
      ]);
    },
  );
});

describe('flattenXattrs', () => {
  const e = (
    name: string,
    type: string,
    xattrs: Record<string, string> = {},
    linkname = '',
  ): XattrTarEntry => ({
    name,
    type,
    linkname,
    xattrs,
  });
  it('applies layers in order: replace, whiteouts, opaque dirs, directory merges, hardlinks', () => {
    const flat = flattenXattrs([
      [
        e('bin', '5', { 'user.d': '01' }),
        e('bin/ping', '0', { 'security.capability': 'aa' }),
        e('bin/su', '0', { 'security.capability': 'bb' }),
        e('opt/x/f', '0', { 'user.f': '02' }),
        e('etc/gone', '0', { 'user.g': '03' }),
      ],
      [
        e('bin', '5'),
        e('bin/su', '0'),
        e('bin/ping2', '1', {}, 'bin/ping'),
        e('opt/x/.wh..wh..opq', '0'),
        e('opt/x/new', '0', { 'user.n': '04' }),
        e('etc/.wh.gone', '0'),
      ],
    ]);
    expect(Object.fromEntries(flat)).toEqual({
      bin: { 'user.d': '01' },
      'bin/ping': { 'security.capability': 'aa' },
      'bin/ping2': { 'security.capability': 'aa' },
      'opt/x/new': { 'user.n': '04' },
    });
  });
});
