import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  diffDirectories,
  type LayerEntry,
  layerFromOverlayUpper,
  type OverlayLower,
  opaqueDirectories,
  recordTree,
  withoutTouchedDirectories,
} from '../src/index.js';
import { canMountOverlay, canUnshare } from './helpers/overlay.js';
import { type TreeSpec, tmpDir, writeTree } from './helpers/tree.js';

// The base image, aged as an unpacked base would be.
const BASE: TreeSpec = {
  'etc/motd': 'hello',
  'etc/passwd': 'root:x:0:0::/root:/bin/sh\n',
  'usr/share/doc/a/README': 'a',
  'usr/share/doc/a/LICENSE': 'l',
  'usr/share/doc/b/README': 'b',
  'usr/lib/x/one': '1',
  'usr/lib/x/two': '2',
  'usr/lib/x/sub/deep': 'd',
  'var/lib/keep/state': 's',
  'var/log/old.log': 'log',
  'opt/tool/bin': { content: 'tool', mode: 0o755 },
  'proc/ignored': 'p',
};

/** Step 1 (an earlier RUN or COPY): its upper dir becomes a lower of step 2. */
const STEP1 = `
  rm -rf usr/share/doc/a
  rm -rf usr/lib/x && mkdir -p usr/lib/x/sub && echo 3 > usr/lib/x/three && echo d2 > usr/lib/x/sub/deep2
  echo added > etc/added && mkdir -p srv/app && echo app > srv/app/main
  rm var/log/old.log
`;

/** Step 2, the one snapshotted: each line exercises one rule. */
const STEP2 = `
  echo more >> usr/share/doc/b/README
  echo changed > srv/app/main
  rm -rf usr/lib/x && mkdir -p usr/lib/x/sub && echo 4 > usr/lib/x/four
  rm etc/added
  echo back > var/log/old.log
  touch etc/tmp && rm etc/tmp
  t=$(stat -c %y var/lib/keep) && touch var/lib/keep/stub && rm var/lib/keep/stub && touch -m -d "$t" var/lib/keep
  rm -rf opt/tool && ln -s /usr/bin opt/tool
  echo x > srv/app/h1 && ln srv/app/h1 srv/app/h2
  chown 1234:1234 etc/motd && chmod 700 var/lib
  echo p > proc/ignored
  : 1<> etc/passwd
`;

const sh = (root: string, script: string) => execFileSync('sh', ['-ec', `cd ${root}\n${script}`]);

/** Entries without mtimes of files the two runs wrote at different instants. */
function comparable(entries: LayerEntry[]) {
  return entries.map((e) => ({
    path: e.path,
    type: e.type,
    mode: e.mode.toString(8),
    owner: `${e.uid}:${e.gid}`,
    size: e.size ?? 0,
    ...(e.linkname ? { linkname: e.linkname } : {}),
    ...(e.path.includes('.wh.') ? { mtime: e.mtime } : {}),
  }));
}

/**
 * Runs `script` in the merged view of an overlay mounted for the call: as root (trusted.overlay.* xattrs), or
 * as root of a new user namespace with `userxattr` (user.overlay.*), as an unprivileged build would.
 */
function throughOverlay(how: 'root' | 'userns', lowerdir: string, upper: string, d: string, script: string) {
  const work = path.join(d, 'work');
  const merged = path.join(d, 'm');
  const opts = `lowerdir=${lowerdir},upperdir=${upper},workdir=${work},${how === 'userns' ? 'userxattr,' : 'index=off,'}redirect_dir=nofollow,metacopy=off`;
  const inner = `mount -t overlay overlay -o ${opts} ${merged} && (cd ${merged} && ${script.trim().split('\n').join(' && ')}); s=$?; umount ${merged}; exit $s`;
  if (how === 'root') execFileSync('sh', ['-c', inner]);
  else execFileSync('unshare', ['--user', '--map-root-user', '--mount', 'sh', '-c', inner]);
}

describe.each([
  ['root', canMountOverlay],
  ['userns', canMountOverlay && canUnshare],
] as const)('layerFromOverlayUpper with lowers (%s)', (how, can) => {
  it.skipIf(!can)('gives the entries a directory diff gives for the same step on a plain tree', async () => {
    const d = tmpDir('ovl-lowers');
    const [base, plain, u1, u2] = ['base', 'plain', 'u1', 'u2'].map((s) => path.join(d, s)) as [
      string,
      string,
      string,
      string,
    ];
    for (const x of [base, u1, u2, 'work', 'm']) fs.mkdirSync(path.resolve(d, x));
    writeTree(base, BASE);
    execFileSync('find', [base, '-exec', 'touch', '-h', '-d', '2020-01-01', '{}', '+']);
    execFileSync('cp', ['-a', base, plain]);
    // Root of a user namespace maps only itself: no chown to other ids there.
    const step2 = how === 'userns' ? STEP2.replace('chown 1234:1234 etc/motd', 'chmod 600 etc/motd') : STEP2;

    // Step 1 on both; the overlay's upper u1 then becomes a lower.
    sh(plain, STEP1);
    throughOverlay(how, base, u1, d, STEP1);
    const ns = how === 'userns' ? 'user' : 'trusted';
    const opaque1 = await opaqueDirectories(u1, { xattrNamespace: ns });
    expect(opaque1).toEqual(['usr/lib/x']);

    // Step 2: a directory diff on the plain tree, the upper dir u2 over u1 and base on the overlay.
    const before = await recordTree(plain, { ignore: ['proc'] });
    sh(plain, step2);
    const diff = withoutTouchedDirectories(await diffDirectories(before), before);
    throughOverlay(how, `${u1}:${base}`, u2, d, step2);
    const lowers: OverlayLower[] = [
      { dir: u1, opaque: opaque1 },
      { dir: base, opaque: [] },
    ];
    const changes = await layerFromOverlayUpper(u2, { ignore: ['proc'], lowers, xattrNamespace: ns });

    expect(comparable(changes.entries)).toEqual(comparable(diff.entries));
    // The rules, spelled out.
    const paths = changes.entries.map((e) => e.path);
    expect(paths).not.toContain('usr/share/doc'); // copied up for README only: unchanged
    expect(paths).not.toContain('var/lib/keep'); // a stub made and removed, mtime put back
    expect(paths).toContain('etc'); // a file made and removed: its mtime moved
    expect(paths).not.toContain('etc/passwd'); // opened for writing, nothing written: copied up, unchanged
    expect(paths).toContain('opt/tool');
    expect(paths.filter((p) => p.includes('.wh.'))).toEqual([
      'etc/.wh.added', // added by step 1, in the layer above the base
      'usr/lib/x/sub/.wh.deep2', // a re-created directory inside an opaque one
      'usr/lib/x/.wh.three', // sorted by the deleted path, as the directory diff sorts them
    ]);
    expect(changes.entries.find((e) => e.path === 'srv/app/h2')).toMatchObject({
      type: 'hardlink',
      linkname: 'srv/app/h1',
    });
    expect(changes.opaque).toEqual(['usr/lib/x']);
    // Without lowers: the upper dir as it stands (copied-up parents, opaque marker).
    const raw = await layerFromOverlayUpper(u2, { ignore: ['proc'], xattrNamespace: ns });
    expect(raw.entries.map((e) => e.path)).toEqual(
      expect.arrayContaining(['usr/share/doc', 'usr/lib/x/.wh..wh..opq']),
    );
  });
});
