import { spawn } from 'node:child_process';
import path from 'node:path';
import { build } from '@kiln/core';
import { describe, expect, test } from 'vitest';
import { umociUnpack } from '../lib/compare.js';
import { testEnv } from '../lib/test-env.js';
import { uniqueRepo, useTmpContext } from './helpers.js';

/**
 * Runs an image kiln built the way a runtime would: unpacked by umoci, then its Entrypoint + Cmd executed with
 * its Env, WorkingDir and User inside bubblewrap on the unpacked rootfs. Returns what it printed.
 */
async function runImage(ref: string): Promise<{ code: number; stdout: string }> {
  const img = await umociUnpack(ref);
  try {
    const c = (img.config.config ?? {}) as {
      Entrypoint?: string[];
      Cmd?: string[];
      Env?: string[];
      WorkingDir?: string;
      User?: string;
    };
    const argv = [...(c.Entrypoint ?? []), ...(c.Cmd ?? [])];
    const args = [
      '--bind',
      img.rootfs,
      '/',
      '--proc',
      '/proc',
      '--dev',
      '/dev',
      '--unshare-net',
      '--clearenv',
      '--chdir',
      c.WorkingDir || '/',
    ];
    for (const kv of c.Env ?? []) {
      const i = kv.indexOf('=');
      args.push('--setenv', kv.slice(0, i), kv.slice(i + 1));
    }
    const [uid, gid] = (c.User ?? '').split(':');
    if (uid) args.push('--unshare-user', '--uid', uid, '--gid', gid ?? uid);
    return await new Promise((resolve, reject) => {
      const child = spawn('bwrap', [...args, '--', ...argv], { stdio: ['ignore', 'pipe', 'inherit'] });
      let stdout = '';
      child.stdout.on('data', (d) => (stdout += d));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code: code ?? -1, stdout }));
    });
  } finally {
    await img.cleanup();
  }
}

describe('images kiln builds run', () => {
  test('a COPY-only image: entrypoint, cmd, env and workdir as written', async () => {
    const env = testEnv();
    const ctx = await useTmpContext({
      Dockerfile: `FROM ${env.images.busybox}\nENV WHO=kiln\nWORKDIR /srv\nCOPY greet.sh /usr/local/bin/greet\nENTRYPOINT ["/bin/sh", "/usr/local/bin/greet"]\nCMD ["from", "cmd"]\n`,
      'greet.sh': 'echo "hello $WHO $1 $2 in $(pwd)"\n',
    });
    const ref = `${env.registry}/${uniqueRepo('run-copy')}:1`;
    await build({ context: ctx, destinations: [ref], registry: { insecureRegistries: [env.registry] } });
    expect(await runImage(`docker://${ref}`)).toEqual({ code: 0, stdout: 'hello kiln from cmd in /srv\n' });
  });

  test('an image whose files RUN made, running as the USER it created', async () => {
    const env = testEnv();
    const ctx = await useTmpContext({
      Dockerfile: `FROM ${env.images.busybox}\nRUN echo 'app:x:1234:1234::/home/app:/bin/sh' >> /etc/passwd && echo 'app:x:1234:' >> /etc/group && mkdir -p /home/app && echo built-by-run > /home/app/msg && chown -R 1234:1234 /home/app\nUSER 1234:1234\nWORKDIR /home/app\nCMD ["/bin/sh", "-c", "cat msg; id -u; pwd"]\n`,
    });
    const ref = `${env.registry}/${uniqueRepo('run-run')}:1`;
    await build({ context: ctx, destinations: [ref], registry: { insecureRegistries: [env.registry] } });
    expect(await runImage(`docker://${ref}`)).toEqual({ code: 0, stdout: 'built-by-run\n1234\n/home/app\n' });
  });

  test('a multi-stage image from scratch: only what the last stage copied', async () => {
    const env = testEnv();
    const ctx = await useTmpContext({
      Dockerfile: `FROM ${env.images.busybox} AS build\nRUN mkdir /out && printf '#!/bin/busybox sh\\necho static tool ran\\n' > /out/tool && chmod 755 /out/tool\n\nFROM scratch\nCOPY --from=build /bin/busybox /bin/busybox\nCOPY --from=build /out/tool /tool\nENTRYPOINT ["/tool"]\n`,
    });
    const ref = `${env.registry}/${uniqueRepo('run-multi')}:1`;
    await build({
      context: ctx,
      destinations: [ref],
      registry: { insecureRegistries: [env.registry] },
      cacheDir: path.join(env.stateDir, 'kiln-cache'),
    });
    expect(await runImage(`docker://${ref}`)).toEqual({ code: 0, stdout: 'static tool ran\n' });
  });
});
