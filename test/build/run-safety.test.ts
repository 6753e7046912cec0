import {
  copyFile,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  readlink,
  rm,
  writeFile,
} from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { type BuildEvent, build } from '@kiln/core';
import tar from 'tar-stream';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { runKiln } from '../lib/kiln-cli.js';
import { openLayer } from '../lib/layer-listing.js';
import { testEnv } from '../lib/test-env.js';
import { initLayout, type LayerBlob, writeImage, writeLayerBlob } from '../setup/oci-layout-writer.js';
import { uniqueRepo, useTmpContext } from './helpers.js';

/**
 * The safety rules of RUN, end to end through build(): a malicious base image (made here, byte by byte, on top of
 * the seeded busybox) can never make kiln write or read outside the rootfs, whichever way RUN snapshots are taken
 * (overlay upper dir, the default as root, or directory diff with KILN_OVERLAY=0); and nothing of kiln's own —
 * registry credentials, environment, work and cache dirs, build secrets — is visible to RUN or lands in the image.
 * The per-layer corpus of the extractor itself is packages/snapshot/test/extract-malicious.test.ts.
 */

/** A tar entry of a hand-made layer: any name, any link target (tar-stream writes them as given). */
interface Entry {
  name: string;
  type?: 'file' | 'directory' | 'symlink' | 'link';
  linkname?: string;
  content?: string;
}

function layerTar(entries: Entry[]): Readable {
  const pack = tar.pack();
  (async () => {
    for (const e of entries) {
      const type = e.type ?? 'file';
      const header = {
        name: e.name,
        type,
        mode: type === 'directory' ? 0o755 : 0o644,
        mtime: new Date(1_700_000_000_000),
        uid: 0,
        gid: 0,
        ...(e.linkname === undefined ? {} : { linkname: e.linkname }),
      };
      await new Promise<void>((resolve, reject) => {
        // Links and directories get an empty body: size 0, as tar wants.
        pack.entry(header, e.content ?? '', (err) => (err ? reject(err) : resolve()));
      });
    }
    pack.finalize();
  })().catch((e: Error) => pack.destroy(e));
  return pack as unknown as Readable;
}

/** Reads `oci:DIR:TAG`'s manifest and config. */
async function readLayoutImage(ref: string) {
  const [, dir, tag] = /^oci:(.*):([^:]+)$/.exec(ref) ?? [];
  if (!dir || !tag) throw new Error(`not an oci:DIR:TAG reference: ${ref}`);
  const blob = (digest: string) => path.join(dir, 'blobs', ...digest.split(':'));
  const index = JSON.parse(await readFile(path.join(dir, 'index.json'), 'utf8')) as {
    manifests: { digest: string; annotations?: Record<string, string> }[];
  };
  const desc = index.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === tag);
  if (!desc) throw new Error(`no tag ${tag} in ${dir}`);
  const manifest = JSON.parse(await readFile(blob(desc.digest), 'utf8'));
  const config = JSON.parse(await readFile(blob(manifest.config.digest), 'utf8'));
  return { blob, manifest, config };
}

/** A fresh directory under the run's state dir. */
async function scratch(prefix: string): Promise<string> {
  const parent = path.join(testEnv().stateDir, 'safety');
  await mkdir(parent, { recursive: true });
  return mkdtemp(path.join(parent, prefix));
}

/** Writes an OCI layout holding busybox plus `layers` (one tar each), and returns its `oci:DIR:TAG`. */
async function maliciousImage(layers: Entry[][]): Promise<string> {
  const env = testEnv();
  const bb = await readLayoutImage(env.images.oci.busybox);
  const dir = await scratch('image-');
  await initLayout(dir);
  const l0 = bb.manifest.layers[0] as { digest: string; size: number };
  await copyFile(bb.blob(l0.digest), path.join(dir, 'blobs', ...l0.digest.split(':')));
  const base: LayerBlob = { digest: l0.digest, size: l0.size, diffId: bb.config.rootfs.diff_ids[0] };
  const evil: LayerBlob[] = [];
  for (const l of layers) evil.push(await writeLayerBlob(dir, layerTar(l)));
  await writeImage(dir, 'evil', {
    layers: [base, ...evil],
    config: bb.config.config,
    created: bb.config.created,
    createdBy: ['busybox', ...evil.map((_, i) => `malicious layer ${i + 1}`)],
    architecture: bb.config.architecture,
  });
  return `oci:${dir}:evil`;
}

/** Every blob of an OCI layout, layers decompressed, as one latin1 string (to search for leaked bytes). */
async function layoutText(dir: string): Promise<string> {
  const blobs = path.join(dir, 'blobs', 'sha256');
  const parts = [await readFile(path.join(dir, 'index.json'), 'latin1')];
  for (const name of await readdir(blobs)) {
    const chunks: Buffer[] = [];
    for await (const c of await openLayer(path.join(blobs, name))) chunks.push(c as Buffer);
    parts.push(Buffer.concat(chunks).toString('latin1'));
  }
  return parts.join('\n');
}

/** A tree's entries (type, mode, size, content or link target) to show that nothing in it changed. */
async function treeState(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const name of (await readdir(dir, { recursive: true })).sort()) {
    const p = path.join(dir, name);
    const st = await lstat(p);
    const what = st.isSymbolicLink()
      ? `-> ${await readlink(p)}`
      : st.isFile()
        ? await readFile(p, 'utf8')
        : st.isDirectory()
          ? 'dir'
          : 'other';
    out.push(`${name} ${st.mode.toString(8)} ${st.size} ${what}`);
  }
  return out;
}

type Mode = 'overlay' | 'dir-diff';

/** Builds `dockerfile` into an OCI layout with build() the given way; returns the outcome, RUN output and layout. */
async function buildWith(
  mode: Mode,
  dockerfile: string,
  opts: { secrets?: Record<string, { value: string }> } = {},
) {
  const env = testEnv();
  const context = await useTmpContext({ Dockerfile: dockerfile });
  const layout = path.join(env.stateDir, 'safety', uniqueRepo(`out-${mode}`));
  const events: BuildEvent[] = [];
  if (mode === 'dir-diff') process.env.KILN_OVERLAY = '0';
  try {
    await build({
      context,
      destinations: [`oci:${layout}:x`],
      registry: { insecureRegistries: [env.registry] },
      cacheDir: path.join(env.stateDir, 'safety', 'kiln-cache'),
      ...(opts.secrets ? { secrets: opts.secrets } : {}),
      onEvent: (e) => events.push(e),
    });
    return { error: undefined, events, layout, output: runOutput(events) };
  } catch (error) {
    return { error: error as { code?: string; message: string }, events, layout, output: runOutput(events) };
  } finally {
    delete process.env.KILN_OVERLAY;
  }
}

const runOutput = (events: BuildEvent[]) => events.flatMap((e) => (e.type === 'run-output' ? [e.text] : []));

const IMAGE_PASSWD = 'root:x:0:0:root:/from-image:/bin/sh';
/** The host's copy: same length, so a read of it instead of the image's could not be caught by a size check. */
const HOST_PASSWD = 'root:x:0:0:root:/HOST-LEAKS:/bin/sh';

/** One malicious base image and what kiln must do with it. */
interface SafetyCase {
  name: string;
  /** The image's layers above busybox, given the host directory `m` that no build may touch. */
  layers: (m: string) => Entry[][];
  /** The Dockerfile after `FROM <image>`; `refs` names the image and the seeded busybox for more stages. */
  steps: (m: string, refs: { image: string; busybox: string }) => string;
  /** Success: RUN's output lines, in order. */
  output?: (m: string) => string[];
  /** Failure: the KilnError's code and message. */
  error?: { code: string; message: RegExp };
}

/*
 * What BuildKit (dockerd 20.10, whose layer store unpacks layers chrooted into a fresh layer dir) did with the same
 * images, checked once by hand with the private engine (test/lib/oracle.ts): it accepts a `..` entry (clamped at
 * its chroot: the file lands inside) where kiln refuses it; it fails to register a layer that writes through a
 * symlink to a directory missing from the rootfs (`open /evil/pwned: no such file or directory`) where kiln creates
 * the directory inside the rootfs, as containerd's applier does; a write through a symlink of a lower layer makes a
 * new directory that hides the link there (an overlay graphdriver artefact), where kiln follows it; it refuses
 * hardlinks to `../../etc/passwd` and to files missing from the layer, like kiln; runc refuses a `/proc` symlink
 * (`filesystem "proc" must be mounted on ordinary directory`) and cannot mount `/dev` over a `/dev -> /`, where
 * kiln mounts procfs at the link's target inside the rootfs and refuses `/dev -> /` by name; resolv.conf, hosts,
 * cache mount and WORKDIR symlinks work in both, resolved inside the rootfs.
 */
const CASES: SafetyCase[] = [
  {
    name: 'a ../ traversal entry is refused, naming it',
    layers: (m) => [[{ name: `../../../../../..${m}/traversal`, content: 'x' }]],
    steps: () => 'RUN echo ran',
    error: {
      code: 'KILN_PATH_ESCAPE',
      message: /Dockerfile:2: RUN echo ran: .*"\.\.".*\(entry "(\.\.\/)+tmp\/.*\/traversal"\)/,
    },
  },
  {
    name: 'an absolute entry lands inside the rootfs',
    layers: (m) => [[{ name: `${m}/absolute`, content: 'inside\n' }]],
    steps: (m) => `RUN cat ${m}/absolute && echo run > ${m}/written-by-run`,
    output: () => ['inside'],
  },
  {
    name: 'writes through symlinks to a host directory and to ../../.. (same layer) stay inside',
    layers: (m) => [
      [
        { name: 'evil', type: 'symlink', linkname: m },
        { name: 'evil/pwned', content: 'through evil\n' },
        { name: 'up', type: 'symlink', linkname: '../../../..' },
        { name: `up${m}/up-pwned`, content: 'through up\n' },
      ],
    ],
    steps: (m) =>
      `RUN readlink /evil && cat /evil/pwned ${m}/pwned ${m}/up-pwned && echo run > /evil/run && echo run > /up${m}/run-up && cat ${m}/run-up`,
    output: (m) => [m, 'through evil', 'through evil', 'through up', 'run'],
  },
  {
    name: 'writes through symlinks made by a lower layer stay inside',
    layers: (m) => [
      [
        { name: 'evil', type: 'symlink', linkname: m },
        { name: 'up', type: 'symlink', linkname: '../../../..' },
      ],
      [
        { name: 'evil/pwned', content: 'through evil\n' },
        { name: `up${m}/up-pwned`, content: 'through up\n' },
      ],
    ],
    steps: (m) => `RUN readlink /evil && cat /evil/pwned ${m}/pwned ${m}/up-pwned && echo run > /evil/run`,
    output: (m) => [m, 'through evil', 'through evil', 'through up'],
  },
  {
    name: 'a hardlink to ../../etc/passwd is refused, naming it',
    layers: () => [[{ name: 'hl', type: 'link', linkname: '../../etc/passwd' }]],
    steps: () => 'RUN cat /hl',
    error: {
      code: 'KILN_PATH_ESCAPE',
      message: /hardlink target contains "\.\." .*\(entry "\.\.\/\.\.\/etc\/passwd"\)/,
    },
  },
  {
    name: 'a hardlink to a host file the image lacks is refused, naming it',
    layers: (m) => [[{ name: 'hl', type: 'link', linkname: `${m}/etc/passwd` }]],
    steps: () => 'RUN cat /hl',
    error: {
      code: 'KILN_BAD_HARDLINK',
      message: /hardlink target ".*\/etc\/passwd" is not in the root \(entry "hl"\)/,
    },
  },
  {
    name: 'hardlinks to an absolute path and through a symlink link files inside the rootfs',
    layers: (m) => [
      [
        { name: `${m}/etc/passwd`, content: `${IMAGE_PASSWD}\n` },
        { name: 'hl', type: 'link', linkname: `${m}/etc/passwd` },
        { name: 'evil', type: 'symlink', linkname: m },
        { name: 'hl2', type: 'link', linkname: 'evil/etc/passwd' },
      ],
    ],
    // (Whether hl2 then shows the append depends on the snapshot method: overlay breaks hardlinks on copy-up.)
    steps: () => 'RUN cat /hl /hl2 && echo appended >> /hl && cat /hl',
    output: () => [IMAGE_PASSWD, IMAGE_PASSWD, IMAGE_PASSWD, 'appended'],
  },
  {
    name: 'symlinked resolv.conf, hosts, mount targets and WORKDIR resolve inside the rootfs',
    layers: (m) => [
      [
        { name: 'etc/resolv.conf', type: 'symlink', linkname: `${m}/resolv.conf` },
        { name: 'etc/hosts', type: 'symlink', linkname: `${m}/hosts` },
        { name: 'cache', type: 'symlink', linkname: `${m}/cache` },
        { name: 'scratch', type: 'symlink', linkname: `${m}/scratch` },
        { name: 'run/secrets', type: 'symlink', linkname: `${m}/secrets` },
        { name: 'work', type: 'symlink', linkname: `${m}/workdir` },
      ],
    ],
    steps: (m) =>
      [
        'WORKDIR /work',
        `RUN --mount=type=cache,target=/cache --mount=type=tmpfs,target=/scratch --mount=type=secret,id=tok grep -c buildkitsandbox /etc/hosts && test -f /etc/resolv.conf && wc -c < /run/secrets/tok && echo c > /cache/c && echo s > /scratch/s && echo w > w && pwd && ls ${m}/workdir`,
      ].join('\n'),
    output: () => ['1', '5', '/work', 'w'],
  },
  {
    name: 'a symlinked /proc gets procfs at its target inside the rootfs',
    layers: (m) => [[{ name: 'proc', type: 'symlink', linkname: `${m}/proc` }]],
    steps: () => 'RUN test -r /proc/self/status && readlink /proc',
    output: (m) => [`${m}/proc`],
  },
  {
    name: '/dev -> / is refused, naming /dev',
    layers: () => [[{ name: 'dev', type: 'symlink', linkname: '/' }]],
    steps: () => 'RUN echo ran',
    error: { code: 'KILN_RUN_MOUNT', message: /Dockerfile:2: \/dev resolves to \/ in the image/ },
  },
  {
    // The disk has `etc` a symlink to the host path and passwd at that path inside the rootfs (the file index now
    // says the same; it used to record etc/passwd under a directory `etc`): kiln read the host's file for HOME and
    // for COPY --from until reads resolved the rootfs's own symlinks.
    name: 'reads through a symlinked /etc (HOME, COPY --from) stay inside',
    layers: (m) => [
      [
        { name: 'etc', type: 'symlink', linkname: `${m}/etc` },
        { name: 'etc/passwd', content: `${IMAGE_PASSWD}\n` },
      ],
    ],
    steps: (_, refs) =>
      [
        'RUN echo "HOME=$HOME"',
        `FROM ${refs.image} AS plain`,
        `FROM ${refs.busybox}`,
        'COPY --from=0 /etc/passwd /from-run-stage',
        'COPY --from=plain /etc/passwd /from-image',
        'RUN cat /from-run-stage /from-image',
      ].join('\n'),
    output: () => ['HOME=/from-image', IMAGE_PASSWD, IMAGE_PASSWD],
  },
  {
    name: 'reads through /etc hardlinked to a symlink to the host stay inside',
    layers: (m) => [
      [
        { name: 's', type: 'symlink', linkname: `${m}/etc` },
        { name: 'etc', type: 'link', linkname: 's' },
      ],
    ],
    steps: () => 'RUN echo "HOME=$HOME"',
    output: () => ['HOME=/'],
  },
];

describe('RUN on a malicious base image: nothing outside the rootfs is written or read', () => {
  /** The host directory the images aim at, with a passwd of its own; it must never change. */
  let m: string;
  let before: string[];
  beforeAll(async () => {
    m = await mkdtemp('/tmp/kiln-safety-');
    await mkdir(path.join(m, 'etc'));
    await writeFile(path.join(m, 'etc', 'passwd'), `${HOST_PASSWD}\n`);
    before = await treeState(m);
  });
  afterAll(async () => {
    if (m) await rm(m, { recursive: true, force: true });
  });

  test.each(CASES)('$name', async (c) => {
    const env = testEnv();
    const image = await maliciousImage(c.layers(m));
    const dockerfile = `FROM ${image}\n${c.steps(m, { image, busybox: env.images.busybox })}\n`;
    for (const mode of ['overlay', 'dir-diff'] as const) {
      const r = await buildWith(mode, dockerfile, { secrets: { tok: { value: 'token' } } });
      if (c.error) {
        expect(r.error, mode).toMatchObject({ code: c.error.code });
        expect(r.error?.message, mode).toMatch(c.error.message);
      } else {
        if (r.error) throw new Error(`${mode}: ${r.error.message}`);
        expect(r.output, mode).toEqual(c.output!(m));
        const methods = r.events.flatMap((e) => (e.type === 'snapshot' ? [e.method] : []));
        expect(new Set(methods), mode).toEqual(new Set([mode]));
        expect(await layoutText(r.layout), mode).not.toContain('HOST-LEAKS');
      }
      expect(await treeState(m), `${mode}: the host directory changed`).toEqual(before);
    }
  });
});

/**
 * A Dockerfile that pulls busybox from the TLS registry (basic auth), uses a build secret three ways, then looks for
 * everything of kiln's a RUN must not see: environments (its own and every process's it can find), mounts,
 * Docker config files, processes, and the host paths in `paths`. Sections start with `== name`.
 */
function probeDockerfile(paths: string[]): string {
  const env = testEnv();
  return [
    `FROM ${env.imagesTls.busybox}`,
    'RUN --mount=type=secret,id=tok --mount=type=secret,id=tok,target=/etc/app/tok --mount=type=secret,id=tok,env=TOK test "$(cat /run/secrets/tok)" = "$TOK" && test "$(cat /etc/app/tok)" = "$TOK" && echo seen > /secret-seen && echo secret-ok',
    [
      "RUN echo '== env'; env | sort",
      "echo '== environ'; for f in /proc/[0-9]*/environ; do tr '\\0' '\\n' < $f 2>/dev/null; done",
      "echo '== mountinfo'; cat /proc/self/mountinfo",
      "echo '== config.json'; find / -xdev -name config.json",
      "echo '== pids'; ls /proc | grep -E '^[0-9]+$'",
      `echo '== visible'; for p in ${paths.join(' ')}; do ls -d "$p" 2>/dev/null && echo "VISIBLE $p"; done`,
      "echo '== end'",
    ].join('; '),
    '',
  ].join('\n');
}

/** The probe's output by section. */
function sections(lines: string[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  let cur = '';
  for (const l of lines) {
    const head = /^== (.+)$/.exec(l);
    if (head) out[(cur = head[1]!)] = [];
    else if (cur) out[cur]!.push(l);
  }
  return out;
}

/** What every probe run must show: none of kiln's environment, files, processes or credentials. */
function expectNothingOfKiln(lines: string[], secrets: string[]) {
  const s = sections(lines);
  expect(Object.keys(s)).toEqual(['env', 'environ', 'mountinfo', 'config.json', 'pids', 'visible', 'end']);
  // Exactly the image's Env, HOME and what the shell adds: nothing inherited from kiln's process.
  expect(s.env!.map((l) => l.split('=')[0])).toEqual(['HOME', 'PATH', 'PWD', 'SHLVL']);
  for (const l of s.environ!) expect(l).toMatch(/^(HOME|PATH|PWD|SHLVL)=/);
  expect(s['config.json']).toEqual([]);
  // A pid namespace of its own: only the command's few processes.
  for (const pid of s.pids!) expect(Number(pid)).toBeLessThan(20);
  expect(s.visible).toEqual([]);
  const all = lines.join('\n');
  for (const v of [...secrets, 'KILN_TEST_', 'DOCKER_CONFIG']) expect(all).not.toContain(v);
}

describe('RUN sees nothing of kiln: credentials, environment, files, processes; none of it reaches the image', () => {
  const env = testEnv();
  const SECRET = `kiln-build-secret-${Math.random().toString(36).slice(2)}`;
  const auth = Buffer.from(`${env.user}:${env.password}`).toString('base64');
  const leaks = [env.password, auth, SECRET];

  /** Checks an image layout: every blob (layers decompressed, config with its history) free of `leaks`. */
  async function expectCleanImage(layout: string) {
    const text = await layoutText(layout);
    expect(text).toContain('secret-seen');
    for (const v of leaks) expect(text).not.toContain(v);
  }

  test('build() pulling with credentials from its registry options', async () => {
    const dir = await scratch('creds-');
    const workDir = path.join(dir, 'work');
    const cacheDir = path.join(dir, 'cache');
    await mkdir(workDir);
    const context = await useTmpContext({
      Dockerfile: probeDockerfile([workDir, cacheDir, env.stateDir, `/proc/${process.pid}`]),
    });
    const events: BuildEvent[] = [];
    await build({
      context,
      destinations: [`oci:${path.join(dir, 'layout')}:x`],
      registry: {
        credentials: { [env.registryTls]: { username: env.user, password: env.password } },
        caCertificates: { [env.registryTls]: env.caPem },
      },
      workDir,
      cacheDir,
      secrets: { tok: { value: SECRET } },
      onEvent: (e) => events.push(e),
    });
    const lines = runOutput(events);
    expect(lines[0]).toBe('secret-ok');
    expectNothingOfKiln(lines.slice(1), leaks);
    for (const v of leaks) expect(JSON.stringify(events)).not.toContain(v);
    await expectCleanImage(path.join(dir, 'layout'));
  });

  test('the kiln CLI pulling with credentials from a Docker config', async () => {
    const dir = await scratch('cli-');
    // Everything of the CLI's own lives below this HOME: Docker config, work dir (TMPDIR), cache.
    const home = path.join(dir, 'home');
    const dockerConfig = path.join(home, 'docker-config');
    await mkdir(dockerConfig, { recursive: true });
    await mkdir(path.join(home, 'tmp'));
    await writeFile(
      path.join(dockerConfig, 'config.json'),
      JSON.stringify({ auths: { [env.registryTls]: { auth } } }),
    );
    const context = await useTmpContext({ Dockerfile: probeDockerfile([home, dockerConfig, env.stateDir]) });
    const layout = path.join(dir, 'layout');
    const r = await runKiln(
      [
        'build',
        '--context',
        context,
        '--destination',
        `oci:${layout}:x`,
        '--registry-certificate',
        `${env.registryTls}=${env.caFile}`,
        '--secret',
        'id=tok,env=KILN_SAFETY_SECRET',
        '--log-format',
        'json',
        '--verbosity',
        'debug',
      ],
      {
        HOME: home,
        DOCKER_CONFIG: dockerConfig,
        TMPDIR: path.join(home, 'tmp'),
        XDG_CACHE_HOME: path.join(home, 'cache'),
        KILN_SAFETY_SECRET: SECRET,
      },
    );
    expect(r.stderr.split('\n').filter((l) => l.startsWith('kiln: error:'))).toEqual([]);
    expect(r.code).toBe(0);
    const events = r.stderr
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as BuildEvent);
    const lines = runOutput(events);
    expect(lines[0]).toBe('secret-ok');
    expectNothingOfKiln(lines.slice(1), leaks);
    // The CLI process itself is not among the processes RUN sees.
    expect(sections(lines).pids).not.toContain(String(r.pid));
    for (const v of leaks) expect(r.stdout + r.stderr).not.toContain(v);
    await expectCleanImage(layout);
  });
});
