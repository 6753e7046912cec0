import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { BUILDAH_ARTIFACTS, compareImages } from '../lib/compare.js';
import { oracleBuild } from '../lib/oracle.js';
import { testEnv } from '../lib/test-env.js';
import { KILN_HOME, POD_FILE, REPO, runInThrowawayRoot, type ThrowawayResult } from './throwaway-root.js';

/*
 * kiln's in-place executor (kaniko mode) through the CLI, on a `/` that is thrown away: an overlay of a small
 * pod image (see throwaway-root.ts), never this machine's root. The builds run one after another on the same
 * `/`, as successive builds in one pod would; each image is compared with BuildKit's build of the same
 * Dockerfile.
 */
const RUN_CASES = path.join(REPO, 'test/oracle/run-cases');
const ORACLE_CASES: Record<string, string> = {
  'r01-basic': path.join(RUN_CASES, 'r01-basic'),
  'r02-delete-base-files': path.join(RUN_CASES, 'r02-delete-base-files'),
  'r17-multistage-run': path.join(RUN_CASES, 'r17-multistage-run'),
  'r18-copy-between-runs': path.join(RUN_CASES, 'r18-copy-between-runs'),
  'r20-user-nobody': path.join(RUN_CASES, 'r20-user-nobody'),
  // Debian's libraries replace the ones kiln's Node was started with (same paths): kiln carries on.
  'r19-debian-files': path.join(RUN_CASES, 'r19-debian-files'),
  'stage-turns': path.join(import.meta.dirname, 'cases/stage-turns'),
};

let run: Awaited<ReturnType<typeof runInThrowawayRoot>>;
/** The cases this run builds: the Debian one needs the Debian base (seeded unless KILN_TEST_DEBIAN=0). */
let cases: string[] = [];
let hostBefore: string;
const oracles = new Map<string, Promise<{ builder: string }>>();
const byName = (name: string): ThrowawayResult => run.results.find((r) => r.name === name)!;

/** A few facts about this machine's real `/` that any write to it would change. */
async function hostFacts(): Promise<string> {
  const node = await stat(process.execPath);
  const entries = await readdir('/');
  return JSON.stringify({ entries: entries.sort(), node: [node.ino, node.mtimeMs, node.size] });
}

beforeAll(async () => {
  const env = testEnv();
  const base = {
    PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    HOME: '/root',
  };
  // Every job's context is under /workspace: kept for the later jobs by --ignore-path (a build keeps only
  // its own context dir, and would otherwise delete the others with the rest of the previous `/`).
  const common = (name: string) => [
    ...['--context', `/workspace/${name}`, '--build-arg', `REGISTRY=${env.registry}`],
    ...['--insecure-registry', env.registry, '--log-format', 'text', '--ignore-path', '/workspace'],
    ...['--destination', `${env.registry}/in-place/${name}:kiln`],
  ];
  cases = Object.keys(ORACLE_CASES).filter((name) => env.debian || !name.includes('debian'));
  const contexts = Object.fromEntries(cases.map((name) => [name, ORACLE_CASES[name]!]));
  const bad = path.join(env.stateDir, 'in-place-network-none');
  await mkdir(bad, { recursive: true });
  await writeFile(
    path.join(bad, 'Dockerfile'),
    `ARG REGISTRY\nFROM \${REGISTRY}/busybox:latest\nRUN echo fine > /fine\nRUN --network=none echo never\n`,
  );
  contexts['network-none'] = bad;
  hostBefore = await hostFacts();
  // BuildKit builds the same Dockerfiles meanwhile.
  for (const name of cases)
    oracles.set(
      name,
      oracleBuild({
        contextDir: ORACLE_CASES[name]!,
        ref: `${env.registry}/in-place/${name}:oracle`,
        buildArgs: { REGISTRY: env.registry },
      }),
    );
  for (const p of oracles.values()) p.catch(() => {});
  run = await runInThrowawayRoot(contexts, [
    // First, before any image reached `/`: refused before any work, naming the line.
    { name: 'network-none', args: ['--in-place', ...common('network-none')], env: base },
    ...cases.map((name, i) => ({
      name,
      // Enabled by the flag or by the environment variable, alternately.
      args: [...(i % 2 ? [] : ['--in-place']), ...common(name)],
      env: i % 2 ? { ...base, KILN_IN_PLACE: '1' } : base,
    })),
  ]);
}, 280_000);

afterAll(async () => {
  if (process.env.KILN_TEST_KEEP !== '1') await run?.cleanup();
});

describe('kiln build --in-place in a throwaway root', () => {
  test('RUN --network=none is refused before anything touches /, naming the line', () => {
    const r = byName('network-none');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /kiln: error: .*Dockerfile:4: RUN --network=none echo never: .*cannot isolate the network/,
    );
    // Nothing was unpacked: the pod image's own files are all still there.
    expect(r.podFile).toBe(true);
  });

  test.each(Object.keys(ORACLE_CASES))('%s: same image as BuildKit', async (name) => {
    const env = testEnv();
    if (!cases.includes(name)) {
      console.warn(`${name}: skipped, the Debian base image was not seeded`);
      return;
    }
    const r = byName(name);
    expect({ code: r.code, stderr: r.code !== 0 ? r.stderr : '' }).toEqual({ code: 0, stderr: '' });
    expect(r.stdout.trim()).toMatch(/^sha256:[0-9a-f]{64}$/);
    // The previous `/` was emptied: the pod image's files are gone; kiln removed its work dir.
    expect(r.podFile).toBe(false);
    expect(r.workDirs).toEqual([]);
    const oracle = await oracles.get(name)!;
    const repo = `${env.registry}/in-place/${name}`;
    const cmp = await compareImages(`docker://${repo}:oracle`, `docker://${repo}:kiln`, {
      ...(oracle.builder === 'buildah' ? { ignorePaths: BUILDAH_ARTIFACTS } : {}),
    });
    expect({ config: cmp.configDiff, tree: cmp.treeDiff }).toEqual({ config: [], tree: [] });
  });

  test('kiln’s own files survived, and only the throwaway upper dir changed', async () => {
    const last = run.results.at(-1)!;
    // kiln's keepers stay in `/` (its checkout, cache under /root, the contexts, /tmp), with the image's dirs.
    for (const p of [
      KILN_HOME.split('/')[1]!,
      'root',
      'workspace',
      'tmp',
      'proc',
      'dev',
      'usr',
      'bin',
      'etc',
    ])
      expect(last.root).toContain(p);
    // The pod image's own files were deleted in the upper dir only (overlayfs whiteouts), never below it.
    expect((await stat(path.join(run.upper, 'usr/share'))).isCharacterDevice()).toBe(true);
    expect(await readFile(path.join(run.lower, POD_FILE), 'utf8')).toBe('only in the pod image\n');
    const cache = await readdir(path.join(run.upper, 'root/.cache/kiln'));
    expect(cache.length).toBeGreaterThan(0);
    expect(await hostFacts()).toBe(hostBefore);
  });
});
