import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import {
  diffDirectories,
  extractLayer,
  keepXattr,
  type LayerEntry,
  layerFromOverlayUpper,
  MemoryFileSystem,
  nodeFileSystem,
  readTar,
  recordTree,
} from '../src/index.js';
import { decompressAuto } from '../src/layer/compression.js';
import { layerBytes } from './helpers/layer-bytes.js';
import { canMountOverlay, changeThroughOverlay } from './helpers/overlay.js';
import { tmpDir, writeTree } from './helpers/tree.js';

const asRoot = process.getuid?.() === 0;

// vfs_cap_data revision 2 with the effective flag: cap_net_bind_service (10) permitted, what
// `setcap cap_net_bind_service+ep` writes. And one whose bytes are not valid UTF-8 (cap_setuid, bit 7).
const NET_BIND = Buffer.from([1, 0, 0, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
const SETUID = Buffer.from([1, 0, 0, 2, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);

/** The headers of a layer's entries, xattrs included. */
async function headersOf(entries: LayerEntry[]) {
  const { bytes } = await layerBytes(entries, { deterministic: true });
  const out = [];
  for await (const e of readTar(await decompressAuto(Readable.from([bytes])))) out.push(e.header);
  return out;
}

/** Makes a file old, so the diff decides by metadata alone (no racy-file hashing). */
function age(p: string): void {
  fs.utimesSync(p, 1_600_000_000, 1_600_000_000);
}

describe('xattrs on the real disk', () => {
  it.skipIf(!asRoot)(
    'are set on the object itself: a file keeps its inode and content, a symlink is not followed',
    async () => {
      const root = tmpDir('xattr');
      writeTree(root, { 'bin/tool': { content: 'ELF…', mode: 0o4755 }, 'bin/target': 'x' });
      fs.symlinkSync('target', path.join(root, 'bin/link'));
      const tool = path.join(root, 'bin/tool');
      const ino = fs.statSync(tool).ino;
      await nodeFileSystem.setXattrs!(tool, 'file', {
        'security.capability': SETUID,
        'user.bin': Buffer.from([0, 255, 10, 32]),
      });
      await nodeFileSystem.setXattrs!(path.join(root, 'bin/link'), 'symlink', {
        'security.kiln': Buffer.from('on the link'),
      });
      expect(fs.statSync(tool)).toMatchObject({ ino, mode: 0o104755 });
      expect(fs.readFileSync(tool, 'utf8')).toBe('ELF…');
      const got = await nodeFileSystem.readXattrs!([
        tool,
        path.join(root, 'bin/link'),
        path.join(root, 'bin/target'),
        path.join(root, 'gone'),
      ]);
      expect(got.get(tool)).toEqual({
        'security.capability': SETUID,
        'user.bin': Buffer.from([0, 255, 10, 32]),
      });
      expect(got.get(path.join(root, 'bin/link'))).toEqual({ 'security.kiln': Buffer.from('on the link') });
      expect(got.has(path.join(root, 'bin/target'))).toBe(false);
      expect(got.has(path.join(root, 'gone'))).toBe(false);
      // GNU getcap agrees on what was written.
      expect(execFileSync('getcap', [tool]).toString()).toMatch(/cap_setuid[=+]ep/);
    },
  );

  it.skipIf(!asRoot)(
    'reach an extracted rootfs: capabilities survive chown (kept owner 1000), symlinks get theirs',
    async () => {
      const root = tmpDir('xattr-extract');
      const entries: LayerEntry[] = [
        { path: 'usr', type: 'dir', mode: 0o755, uid: 0, gid: 0 },
        { path: 'usr/bin', type: 'dir', mode: 0o755, uid: 0, gid: 0 },
        {
          path: 'usr/bin/ping',
          type: 'file',
          mode: 0o755,
          uid: 1000,
          gid: 1000,
          size: 4,
          open: () => Buffer.from('ping'),
          xattrs: { 'security.capability': NET_BIND },
        },
        {
          path: 'usr/bin/p',
          type: 'symlink',
          mode: 0o777,
          uid: 0,
          gid: 0,
          linkname: 'ping',
          xattrs: { 'security.kiln': Buffer.from('l') },
        },
        {
          path: 'usr/bin/big',
          type: 'file',
          mode: 0o750,
          uid: 0,
          gid: 0,
          size: 3 << 20,
          open: () => Buffer.alloc(3 << 20, 1),
          xattrs: { 'user.big': Buffer.from('yes') },
        },
      ];
      const { bytes } = await layerBytes(entries);
      const r = await extractLayer(Readable.from([bytes]), root, { ownership: 'keep' });
      expect(r.xattrsSkipped).toEqual([]);
      const bin = path.join(root, 'usr/bin');
      const got = await nodeFileSystem.readXattrs!([`${bin}/ping`, `${bin}/p`, `${bin}/big`]);
      expect(got.get(`${bin}/ping`)).toEqual({ 'security.capability': NET_BIND });
      expect(got.get(`${bin}/p`)).toEqual({ 'security.kiln': Buffer.from('l') });
      expect(got.get(`${bin}/big`)).toEqual({ 'user.big': Buffer.from('yes') });
      expect(fs.lstatSync(`${bin}/ping`)).toMatchObject({ uid: 1000, mode: 0o100755 });
      expect(execFileSync('getcap', [`${bin}/ping`]).toString()).toMatch(/cap_net_bind_service[=+]ep/);
    },
  );
});

describe('diffDirectories and xattrs', () => {
  it.skipIf(!asRoot)(
    'reports a file whose only change is a capability (setcap), with the capability on its entry',
    async () => {
      const root = tmpDir('xattr-diff');
      writeTree(root, { 'usr/bin/srv': { content: 'server', mode: 0o755 }, 'etc/conf': 'c' });
      for (const f of ['usr/bin/srv', 'etc/conf']) age(path.join(root, f));
      const before = await recordTree(root);
      execFileSync('setcap', ['cap_net_bind_service+ep', path.join(root, 'usr/bin/srv')]);
      const diff = await diffDirectories(before);
      expect(diff.added).toEqual([]);
      expect(diff.changed).toEqual(['usr/bin/srv']);
      const [h] = await headersOf(diff.entries);
      expect(h).toMatchObject({
        name: 'usr/bin/srv',
        mode: 0o755,
        xattrs: { 'security.capability': NET_BIND },
      });
    },
  );

  it('keeps security.* and user.* on entries, never overlay bookkeeping, trusted.*, SELinux labels or ACLs', async () => {
    const mem = new MemoryFileSystem();
    await mem.mkdir('/r', { mode: 0o755 });
    await mem.writeFile('/r/a', Buffer.from('a'), { mode: 0o644 });
    const before = await recordTree('/r', { fs: mem });
    await mem.setXattrs('/r/a', 'file', {
      'security.capability': NET_BIND,
      'security.ima': Buffer.from([3, 2]),
      'security.selinux': Buffer.from('system_u:object_r:bin_t:s0'),
      'user.note': Buffer.from('n'),
      'user.overlay.origin': Buffer.from('x'),
      'trusted.overlay.origin': Buffer.from('x'),
      'trusted.other': Buffer.from('x'),
      'system.posix_acl_access': Buffer.from('x'),
    });
    await mem.mkdir('/r/d', { mode: 0o755 });
    await mem.setXattrs('/r/d', 'dir', { 'trusted.overlay.opaque': Buffer.from('y') });
    const diff = await diffDirectories(before);
    expect(diff.changed).toEqual(['a']);
    expect(diff.added).toEqual(['d']);
    const [a, d] = diff.entries;
    expect(Object.keys(a!.xattrs ?? {}).sort()).toEqual(['security.capability', 'security.ima', 'user.note']);
    expect(d!.xattrs).toBeUndefined();
    expect(['security.capability', 'user.x'].every(keepXattr)).toBe(true);
    expect(
      ['security.selinux', 'user.overlay.opaque', 'trusted.overlay.opaque', 'system.posix_acl_default'].some(
        keepXattr,
      ),
    ).toBe(false);
  });
});

describe('layerFromOverlayUpper and xattrs', () => {
  it.skipIf(!canMountOverlay)(
    'keeps a capability set on a lower file and user.* on a new one, never trusted.overlay.*',
    async () => {
      const base = tmpDir('ovl-xattr');
      const [lower, applied] = [path.join(base, 'l'), path.join(base, 'a')];
      writeTree(lower, {
        'usr/bin/srv': { content: 'server', mode: 0o755 },
        'var/lib/x/old': 'o',
        'etc/keep': 'k',
      });
      const upper = await changeThroughOverlay(base, lower, async (merged) => {
        execFileSync('setcap', ['cap_net_bind_service+ep', path.join(merged, 'usr/bin/srv')]);
        fs.writeFileSync(path.join(merged, 'etc/new'), 'n');
        await nodeFileSystem.setXattrs!(path.join(merged, 'etc/new'), 'file', {
          'user.note': Buffer.from('hi'),
        });
        fs.rmSync(path.join(merged, 'var/lib/x'), { recursive: true }); // opaque: trusted.overlay.opaque in upper
        fs.mkdirSync(path.join(merged, 'var/lib/x'));
      });
      // overlay's own attributes are there in the upper dir…
      const raw = await nodeFileSystem.readXattrs!([path.join(upper, 'var/lib/x')]);
      expect(Object.keys(raw.get(path.join(upper, 'var/lib/x')) ?? {})).toContain('trusted.overlay.opaque');
      const changes = await layerFromOverlayUpper(upper);
      expect(changes.opaque).toEqual(['var/lib/x']);
      // …and never in the layer.
      for (const e of changes.entries)
        for (const k of Object.keys(e.xattrs ?? {})) expect(k).not.toMatch(/overlay/);
      const byPath = new Map(changes.entries.map((e) => [e.path, e]));
      expect(byPath.get('usr/bin/srv')?.xattrs).toEqual({ 'security.capability': NET_BIND });
      expect(byPath.get('etc/new')?.xattrs).toEqual({ 'user.note': Buffer.from('hi') });
      // The layer applied over the lower tree gives the capability back.
      fs.cpSync(lower, applied, { recursive: true });
      const { bytes } = await layerBytes(changes.entries);
      await extractLayer(Readable.from([bytes]), applied);
      expect(execFileSync('getcap', [path.join(applied, 'usr/bin/srv')]).toString()).toMatch(
        /cap_net_bind_service[=+]ep/,
      );
    },
  );
});
