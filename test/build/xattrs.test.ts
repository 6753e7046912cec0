import path from 'node:path';
import { build } from '@kiln/core';
import { describe, expect, test } from 'vitest';
import { compareImages } from '../lib/compare.js';
import { imageXattrs } from '../lib/layer-xattrs.js';
import { oracleBuild } from '../lib/oracle.js';
import { testEnv } from '../lib/test-env.js';
import { umociUnpack } from '../lib/unpack.js';
import { uniqueRepo, useTmpContext } from './helpers.js';

// x86_64 system call numbers of setxattr and lgetxattr, called through perl (the Debian base has no setcap).
const SET = (file: string, name: string, perlValue: string) =>
  `perl -e '$v = ${perlValue}; $k = "${name}"; syscall(188, $ARGV[0], $k, $v, length($v), 0) == 0 or die "setxattr: $!\\n"' ${file}`;
const GET = (name: string, files: string) =>
  `perl -e 'for (@ARGV) { $v = "\\0" x 64; $k = "${name}"; $n = syscall(192, $_, $k, $v, 64); print "$_ ", ($n < 0 ? "none" : unpack("H*", substr($v, 0, $n))), "\\n" }' ${files}`;
const CAP = 'pack("V5", 0x02000001, 1 << 10, 0, 0, 0)';
const CAP_HEX = '0100000200040000000000000000000000000000';

describe.skipIf(process.arch !== 'x64')('extended attributes through RUN', () => {
  test('a capability and a user.* attribute set by RUN are in the layer, and a build FROM that image sees them', async () => {
    const env = testEnv();
    if (!env.debian) return;
    const cacheDir = path.join(env.stateDir, 'kiln-cache-xattrs');
    const first = `${env.registry}/${uniqueRepo('xattrs')}:1`;
    const ctxA = await useTmpContext({
      Dockerfile: `FROM ${env.images.debian}\nRUN cp /usr/bin/true /usr/local/bin/bind-ok && ${SET('/usr/local/bin/bind-ok', 'security.capability', CAP)} && echo n > /note && ${SET('/note', 'user.kiln', '"made by RUN"')}\n`,
    });
    await build({
      context: ctxA,
      destinations: [first],
      registry: { insecureRegistries: [env.registry] },
      cacheDir,
    });
    const img = await umociUnpack(`docker://${first}`, { raw: true });
    try {
      const flat = await imageXattrs(img.layout, img.manifest);
      expect(flat.get('usr/local/bin/bind-ok')).toEqual({ 'security.capability': CAP_HEX });
      expect(flat.get('note')).toEqual({ 'user.kiln': Buffer.from('made by RUN').toString('hex') });
    } finally {
      await img.cleanup();
    }

    // The second build unpacks the first image's layers into its rootfs: the attributes must be there.
    const ctxB = await useTmpContext({
      Dockerfile: `FROM ${first}\nRUN ${GET('security.capability', '/usr/local/bin/bind-ok')} > /seen && ${GET('user.kiln', '/note')} >> /seen && cat /seen && grep -q 'bind-ok ${CAP_HEX}' /seen && grep -q '/note ${Buffer.from('made by RUN').toString('hex')}' /seen\n`,
    });
    const lines: string[] = [];
    await build({
      context: ctxB,
      destinations: [`${env.registry}/${uniqueRepo('xattrs-from')}:1`],
      registry: { insecureRegistries: [env.registry] },
      cacheDir,
      onEvent: (e) => {
        if (e.type === 'run-output') lines.push(e.text);
      },
    });
    expect(lines).toEqual([
      `/usr/local/bin/bind-ok ${CAP_HEX}`,
      `/note ${Buffer.from('made by RUN').toString('hex')}`,
    ]);
  });

  test('against BuildKit: the same security.capability; kiln also keeps user.*, which BuildKit drops', async () => {
    const env = testEnv();
    if (!env.debian) return;
    const ctx = await useTmpContext({
      Dockerfile: `FROM ${env.images.debian}\nRUN cp /usr/bin/true /usr/local/bin/bind-ok && ${SET('/usr/local/bin/bind-ok', 'security.capability', CAP)} && echo n > /note && ${SET('/note', 'user.kiln', '"made by RUN"')}\n`,
    });
    const repo = `${env.registry}/${uniqueRepo('xattrs-oracle')}`;
    await Promise.all([
      build({
        context: ctx,
        destinations: [`${repo}:kiln`],
        registry: { insecureRegistries: [env.registry] },
      }),
      oracleBuild({ contextDir: ctx, ref: `${repo}:oracle`, builder: 'buildkit' }),
    ]);
    const cmp = await compareImages(`docker://${repo}:oracle`, `docker://${repo}:kiln`, { xattrs: true });
    expect(cmp.treeDiff).toEqual([]);
    expect(cmp.xattrs?.a['usr/local/bin/bind-ok']).toEqual({ 'security.capability': CAP_HEX });
    expect(cmp.xattrDiff).toEqual([`+ note\tuser.kiln=${Buffer.from('made by RUN').toString('hex')}`]);
  });
});
