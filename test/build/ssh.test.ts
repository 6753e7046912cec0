import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { build } from '@kiln/core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { compareImages } from '../lib/compare.js';
import { oracleBuild } from '../lib/oracle.js';
import { testEnv } from '../lib/test-env.js';
import { umociUnpack } from '../lib/unpack.js';
import { uniqueRepo, useTmpContext } from './helpers.js';

/**
 * Proves the agent is reachable from the RUN: a perl client (perl-base is in the Debian base) sends
 * SSH_AGENTC_REQUEST_IDENTITIES (11) to $SSH_AUTH_SOCK and prints the answer's type (12) and key count.
 */
const ASK_AGENT = `perl -MIO::Socket::UNIX -e '$s = IO::Socket::UNIX->new(Peer => $ENV{SSH_AUTH_SOCK}) or die "connect $ENV{SSH_AUTH_SOCK}: $!\\n"; print $s pack("NC", 1, 11); read($s, $h, 4) == 4 or die "no answer\\n"; read($s, $b, unpack("N", $h)); ($t, $n) = unpack("CN", $b); print "type=$t keys=$n\\n"'`;

let dir: string;
let agentPid: number | undefined;
let agentSocket: string;
let keyFile: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'kiln-ssh-e2e-'));
  keyFile = path.join(dir, 'id_ed25519');
  agentSocket = path.join(dir, 'agent.sock');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'kiln-e2e', '-f', keyFile]);
  const out = execFileSync('ssh-agent', ['-s', '-a', agentSocket], { encoding: 'utf8' });
  agentPid = Number(/SSH_AGENT_PID=(\d+)/.exec(out)![1]);
  execFileSync('ssh-add', ['-q', keyFile], { env: { ...process.env, SSH_AUTH_SOCK: agentSocket } });
});

afterAll(async () => {
  if (agentPid) process.kill(agentPid);
  await rm(dir, { recursive: true, force: true });
});

describe('RUN --mount=type=ssh', () => {
  test('reaches the agent (a socket, or key files) as root, as USER 1000 and without network; the image matches BuildKit', async () => {
    const env = testEnv();
    if (!env.debian) return;
    const dockerfile = [
      `FROM ${env.images.debian}`,
      // The default id, at /run/buildkit/ssh_agent.0 with SSH_AUTH_SOCK pointing at it.
      `RUN --mount=type=ssh (echo "$SSH_AUTH_SOCK" && ${ASK_AGENT} && stat -c '%a %u %g %F' "$SSH_AUTH_SOCK") > /default.txt && grep -q 'type=12 keys=1' /default.txt`,
      // Key files, at a target of the mount's own under a directory that does not exist yet.
      `RUN --mount=type=ssh,id=keys,target=/opt/agent/sock,mode=0640,gid=50 (echo "$SSH_AUTH_SOCK" && ${ASK_AGENT} && stat -c '%a %u %g %F' "$SSH_AUTH_SOCK") > /keys.txt && grep -q 'type=12 keys=1' /keys.txt`,
      `RUN --network=none --mount=type=ssh ${ASK_AGENT} > /no-network.txt`,
      // An optional id nobody gave: no mount, SSH_AUTH_SOCK still set; the socket of the first RUN left nothing.
      'RUN --mount=type=ssh,id=absent (echo "$SSH_AUTH_SOCK"; ls -A /run/buildkit; ls -A /opt/agent) > /absent.txt',
      'USER 1000',
      `RUN --mount=type=ssh,uid=1000 ${ASK_AGENT} > /tmp/as-1000.txt`,
    ].join('\n');
    // BuildKit 0.8's frontend has no RUN --network: the oracle runs that step with the default network.
    const ctx = await useTmpContext({
      Dockerfile: `${dockerfile}\n`,
      'Dockerfile.oracle': `${dockerfile.replace('--network=none ', '')}\n`,
    });
    const repo = `${env.registry}/${uniqueRepo('ssh')}`;
    await Promise.all([
      build({
        context: ctx,
        destinations: [`${repo}:kiln`],
        registry: { insecureRegistries: [env.registry] },
        ssh: { default: agentSocket, keys: keyFile },
      }),
      oracleBuild({
        contextDir: ctx,
        dockerfile: 'Dockerfile.oracle',
        ref: `${repo}:oracle`,
        ssh: { default: agentSocket, keys: keyFile },
      }),
    ]);
    const cmp = await compareImages(`docker://${repo}:oracle`, `docker://${repo}:kiln`, { xattrs: true });
    expect({ config: cmp.configDiff, tree: cmp.treeDiff, xattrs: cmp.xattrDiff }).toEqual({
      config: [],
      tree: [],
      xattrs: [],
    });
    const img = await umociUnpack(`docker://${repo}:kiln`, { raw: true });
    try {
      const read = (f: string) => readFile(path.join(img.rootfs, f), 'utf8');
      expect(await read('default.txt')).toBe('/run/buildkit/ssh_agent.0\ntype=12 keys=1\n600 0 0 socket\n');
      expect(await read('keys.txt')).toBe('/opt/agent/sock\ntype=12 keys=1\n640 0 50 socket\n');
      expect(await read('no-network.txt')).toBe('type=12 keys=1\n');
      expect(await read('absent.txt')).toBe('/run/buildkit/ssh_agent.0\n');
      expect(await read('tmp/as-1000.txt')).toBe('type=12 keys=1\n');
    } finally {
      await img.cleanup();
    }
  });

  test('a required id that was not given fails the build; an optional one leaves no mount point', async () => {
    const env = testEnv();
    const ctx = await useTmpContext({
      Dockerfile: `FROM ${env.images.busybox}\nRUN --mount=type=ssh,id=deploy,required=true true\n`,
    });
    await expect(
      build({
        context: ctx,
        destinations: [`${env.registry}/${uniqueRepo('ssh-req')}:1`],
        registry: { insecureRegistries: [env.registry] },
      }),
    ).rejects.toMatchObject({ code: 'KILN_SSH_MISSING', message: expect.stringMatching(/"deploy"/) });

    const optional = await useTmpContext({
      Dockerfile: `FROM ${env.images.busybox}\nRUN --mount=type=ssh,target=/opt/deep/agent echo "$SSH_AUTH_SOCK" > /sock.txt\n`,
    });
    const repo = `${env.registry}/${uniqueRepo('ssh-opt')}`;
    await Promise.all([
      build({
        context: optional,
        destinations: [`${repo}:kiln`],
        registry: { insecureRegistries: [env.registry] },
      }),
      oracleBuild({ contextDir: optional, ref: `${repo}:oracle` }),
    ]);
    const cmp = await compareImages(`docker://${repo}:oracle`, `docker://${repo}:kiln`);
    expect({ config: cmp.configDiff, tree: cmp.treeDiff }).toEqual({ config: [], tree: [] });
  });
});
