import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { listLayers } from '../lib/layer-listing.js';
import { type RootlessRun, rootlessRun } from '../lib/rootless.js';
import { testEnv } from '../lib/test-env.js';

/** The manifest of the only image in an OCI layout. */
async function layoutManifest(dir: string): Promise<{ layers: { digest: string }[] }> {
  const index = JSON.parse(await readFile(path.join(dir, 'index.json'), 'utf8'));
  const digest: string = index.manifests[0].digest;
  return JSON.parse(await readFile(path.join(dir, 'blobs', ...digest.split(':')), 'utf8'));
}

/** Writes `files` under `dir` (readable by the rootless user, whose home it is). */
async function writeContext(dir: string, files: Record<string, string>) {
  for (const [name, text] of Object.entries(files))
    await writeFile(path.join(dir, name), text, { mode: 0o644 });
}

/** Directories kiln made in the temp dir that belong to the user or its subordinate ids. */
async function leftovers(since: number, uid: number, subuid?: string): Promise<string[]> {
  const [start, count] = (subuid ?? '0:0').split(':').map(Number);
  const out: string[] = [];
  for (const name of await readdir(tmpdir())) {
    if (!name.startsWith('kiln-') || name.startsWith('kiln-rootless-')) continue;
    const st = await stat(path.join(tmpdir(), name)).catch(() => undefined);
    if (st && st.birthtimeMs >= since && (st.uid === uid || (st.uid >= start! && st.uid < start! + count!)))
      out.push(name);
  }
  return out;
}

describe.runIf(process.getuid?.() === 0)('builds by an ordinary user', () => {
  let run: RootlessRun;
  let single: RootlessRun;
  beforeAll(async () => {
    const users = testEnv().rootless!;
    run = await rootlessRun(users.subordinate);
    single = await rootlessRun(users.single);
  });
  afterAll(async () => {
    await run?.dispose();
    await single?.dispose();
  });

  test('with subordinate ids, RUN layers carry the ids the commands gave, as with root', async () => {
    const env = testEnv();
    const started = Date.now();
    if (!env.debian) return console.warn('skipped: the Debian base image was not seeded');
    await writeContext(run.home, {
      Dockerfile: [
        `FROM ${env.registry}/debian:bookworm`,
        // gshadow is root:shadow (gid 42) in the base: changing it must keep the group.
        'RUN echo hi > /etc/hello && chown 33:33 /etc/hello && useradd -m bob && ls -ln /etc/gshadow',
        'USER bob',
        'RUN echo x > /home/bob/f && id -u > /home/bob/id',
      ].join('\n'),
    });
    const out = path.join(run.home, 'out');
    const r = await run.kiln([
      'build',
      '--context',
      run.home,
      '--dockerfile',
      path.join(run.home, 'Dockerfile'),
      '--destination',
      `oci:${out}`,
      '--insecure-pull',
      '--verbosity',
      'debug',
    ]);
    expect(r.stderr).not.toMatch(/error/);
    expect(r.code).toBe(0);
    // The command saw the base's real owners: kiln ran as root in a user namespace, not as the user.
    expect(r.stdout + r.stderr).toMatch(/-rw-r----- 1 0 42 \d+ .* \/etc\/gshadow/);
    const layers = await listLayers(out, await layoutManifest(out));
    const [first, second] = layers.slice(-2);
    const owner = (l: typeof first, name: string) => {
      const e = l!.find((x) => x.name === name);
      return e && `${e.uid}:${e.gid}`;
    };
    expect(owner(first, 'etc/hello')).toBe('33:33');
    expect(owner(first, 'etc/gshadow')).toBe('0:42');
    expect(owner(first, 'home/bob')).toBe('1000:1000');
    expect(owner(second, 'home/bob/f')).toBe('1000:1000');
    expect(owner(second, 'home/bob/id')).toBe('1000:1000');
    // The work dir went with the build, although its files belonged to the namespace's ids.
    expect(await leftovers(started, env.rootless!.subordinate.uid, env.rootless!.subordinate.subuid)).toEqual(
      [],
    );
  });

  test('without subordinate ids, root-only RUNs work and other ids fail with a message that says why', async () => {
    const env = testEnv();
    await writeContext(single.home, {
      Dockerfile: `FROM ${env.registry}/busybox:latest\nRUN echo hi > /hello && id -u\n`,
      'Dockerfile.chown': `FROM ${env.registry}/busybox:latest\nRUN touch /x && chown 33 /x\n`,
      'Dockerfile.user': `FROM ${env.registry}/busybox:latest\nUSER 1000\nRUN true\n`,
    });
    const kiln = (file: string, dest: string) =>
      single.kiln([
        'build',
        '--context',
        single.home,
        '--dockerfile',
        path.join(single.home, file),
        '--destination',
        `oci:${path.join(single.home, dest)}`,
        '--insecure-pull',
      ]);
    const ok = await kiln('Dockerfile', 'ok');
    expect(ok.code).toBe(0);
    expect(ok.stderr).toMatch(/SingleIdUserNamespace: .*only root/);
    const layers = await listLayers(
      path.join(single.home, 'ok'),
      await layoutManifest(path.join(single.home, 'ok')),
    );
    const hello = layers.at(-1)!.find((e) => e.name === 'hello');
    expect(hello && `${hello.uid}:${hello.gid}`).toBe('0:0');

    const chown = await kiln('Dockerfile.chown', 'chown');
    expect(chown.code).toBe(1);
    expect(chown.stderr).toMatch(
      /Dockerfile\.chown:2: RUN touch \/x && chown 33 \/x: exited with status 1: .*Invalid argument \(kiln runs in a user namespace that maps only uid 0 .*\/etc\/subuid/,
    );
    const user = await kiln('Dockerfile.user', 'user');
    expect(user.code).toBe(1);
    expect(user.stderr).toMatch(
      /uid 1000 .* outside the ids this user namespace maps \(0 \/ 0\).*\/etc\/subuid/,
    );
    // Nothing was written at a failed build's destination.
    await expect(stat(path.join(single.home, 'chown'))).rejects.toThrow(/ENOENT/);
  });

  test('build() refuses RUN outside a user namespace, naming the line and the way out', async () => {
    const env = testEnv();
    await writeContext(single.home, {
      'Dockerfile.plain': `FROM ${env.registry}/busybox:latest\nRUN true\n`,
    });
    // KILN_USERNS set by hand stops the CLI from re-executing itself: build() then runs as the user.
    const r = await single.kiln(
      [
        'build',
        '--context',
        single.home,
        '--dockerfile',
        path.join(single.home, 'Dockerfile.plain'),
        '--no-push',
        '--insecure-pull',
      ],
      { env: { KILN_USERNS: 'none' } },
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /Dockerfile\.plain:2: RUN true: RUN as an ordinary user \(uid \d+\) needs kiln to run as root in a user namespace: start the program with reexecInUserNamespace\(\)/,
    );
  });
});
