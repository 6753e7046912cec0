import { existsSync } from 'node:fs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { build, type Executor } from '@kiln/core';
import { afterAll, describe, expect, test } from 'vitest';
import { BUILDAH_ARTIFACTS, compareImages, inspectImage } from '../lib/compare.js';
import { oracleBuild } from '../lib/oracle.js';
import { type RootlessRun, rootlessRun } from '../lib/rootless.js';
import { testEnv } from '../lib/test-env.js';

/**
 * The oracle: every Dockerfile under cases/ is built by kiln and by BuildKit (a private Docker engine; buildah
 * when the engine cannot start) from the same base images in the same registry, and the two images must have
 * the same config, the same flattened file tree (type, mode, owner, size, content digest, link target) and the
 * same extended attributes (read from the layers' pax records).
 * A case may hold `case.json` with `buildArgs`, `target`, `needs` ('debian') and `oracleDockerfile` (an
 * equivalent Dockerfile for the oracle when it lacks a feature, e.g. heredocs).
 */
interface CaseSpec {
  buildArgs?: Record<string, string>;
  target?: string;
  oracleDockerfile?: string;
  /** Secrets for RUN --mount=type=secret (the oracle gets an equivalent Dockerfile instead). */
  secrets?: Record<string, string>;
  /** Xattrs (path → name → hex value) both images must carry in their layers, beyond agreeing. */
  expectXattrs?: Record<string, Record<string, string>>;
}

/** Options of {@link oracleSuite}. */
interface SuiteOptions {
  executor?: () => Executor;
  /** Only these cases (directory names). Default: all. */
  cases?: string[];
  /** How every RUN of kiln's builds must have found its changes (the `snapshot` events). Default: not checked. */
  snapshot?: 'overlay' | 'dir-diff';
  /**
   * Also build every case with the kiln CLI run by the e2e setup's ordinary user with subordinate ids (kiln
   * then runs as root in its own user namespace), and hold that image to the oracle too. Skipped, loudly,
   * when the setup could make no such user (not run as root).
   */
  rootless?: boolean;
}

/** The CLI flags that build a case as build() does in {@link oracleSuite}. */
function cliArgs(
  dir: string,
  dockerfile: string,
  destination: string,
  spec: CaseSpec,
  buildArgs: Record<string, string>,
) {
  const args = ['build', '--context', dir, '--dockerfile', dockerfile, '--destination', destination];
  args.push('--insecure', '--insecure-pull');
  for (const [k, v] of Object.entries(buildArgs)) args.push('--build-arg', `${k}=${v}`);
  if (spec.target) args.push('--target', spec.target);
  const env: Record<string, string> = {};
  for (const [id, value] of Object.entries(spec.secrets ?? {})) {
    const name = `KILN_TEST_SECRET_${id.replace(/\W/g, '_').toUpperCase()}`;
    env[name] = value;
    args.push('--secret', `id=${id},env=${name}`);
  }
  return { args, env };
}

/** Registers one test per case directory under `casesDir`. */
export async function oracleSuite(title: string, casesDir: string, opts: SuiteOptions = {}) {
  const cases = (await readdir(casesDir)).filter((c) => !opts.cases || opts.cases.includes(c)).sort();
  describe.concurrent(title, () => {
    let rootless: Promise<RootlessRun | undefined> | undefined;
    const rootlessRunner = () => {
      const user = testEnv().rootless?.subordinate;
      if (!user)
        console.warn(`${title}: rootless builds skipped, the setup made no ordinary user (not root)`);
      rootless ??= user ? rootlessRun(user) : Promise.resolve(undefined);
      return rootless;
    };
    afterAll(async () => (await rootless)?.dispose());
    test.each(cases)('%s', async (name) => {
      const env = testEnv();
      const dir = path.join(casesDir, name);
      const spec: CaseSpec = existsSync(path.join(dir, 'case.json'))
        ? JSON.parse(await readFile(path.join(dir, 'case.json'), 'utf8'))
        : {};
      const written = await readFile(path.join(dir, 'Dockerfile'), 'utf8');
      // BuildKit expands no variables in COPY --from, so image references there name the registry literally.
      const dockerfile = written.replaceAll('@REGISTRY@', env.registry);
      const dockerfilePath = path.join(env.stateDir, `${name}.Dockerfile`);
      await writeFile(dockerfilePath, dockerfile);
      if (/\/debian:/.test(dockerfile) && !env.debian) {
        // The Debian base is seeded unless KILN_TEST_DEBIAN=0; such a run cannot check this case.
        console.warn(`${name}: skipped, the Debian base image was not seeded`);
        return;
      }
      const buildArgs = { REGISTRY: env.registry, ...spec.buildArgs };
      const repo = `${env.registry}/oracle/${name}`;
      const methods: string[] = [];
      const asUser = async () => {
        const runner = opts.rootless ? await rootlessRunner() : undefined;
        if (!runner) return undefined;
        // The user reads the Dockerfile from its own home; the case's context dir is in the repository.
        const file = path.join(runner.home, `${name}.Dockerfile`);
        await writeFile(file, dockerfile, { mode: 0o644 });
        const cli = cliArgs(dir, file, `${repo}:rootless`, spec, buildArgs);
        const r = await runner.kiln(cli.args, { env: cli.env });
        if (r.code !== 0)
          throw new Error(
            `rootless kiln build of ${name} failed (${r.code}): ${r.stderr.trim().split('\n').pop()}`,
          );
        return r;
      };
      const [kiln, oracle, rootlessBuild] = await Promise.all([
        build({
          onEvent: (e) => {
            if (e.type === 'snapshot') methods.push(e.method);
          },
          context: dir,
          dockerfile,
          destinations: [`${repo}:kiln`],
          buildArgs,
          ...(spec.target ? { target: spec.target } : {}),
          registry: { insecureRegistries: [env.registry] },
          cacheDir: path.join(env.stateDir, 'kiln-cache'),
          ...(opts.executor ? { executor: opts.executor() } : {}),
          ...(spec.secrets
            ? { secrets: Object.fromEntries(Object.entries(spec.secrets).map(([k, v]) => [k, { value: v }])) }
            : {}),
        }),
        oracleBuild({
          contextDir: dir,
          ref: `${repo}:oracle`,
          buildArgs,
          dockerfile: spec.oracleDockerfile ? path.join(dir, spec.oracleDockerfile) : dockerfilePath,

          ...(spec.target ? { target: spec.target } : {}),
        }),
        asUser(),
      ]);
      expect(kiln.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
      if (opts.snapshot) {
        expect(methods.length).toBeGreaterThan(0);
        expect(methods.filter((m) => m !== opts.snapshot)).toEqual([]);
      }
      // skopeo reads what kiln pushed, and reports the digest build() returned.
      const inspected = await inspectImage(`docker://${repo}:kiln`);
      expect(inspected.digest).toBe(kiln.digest);
      // umoci unpacks both (inside compareImages); everything but timestamps and history text must agree.
      const cmp = await compareImages(`docker://${repo}:oracle`, `docker://${repo}:kiln`, {
        ...(oracle.builder === 'buildah' ? { ignorePaths: BUILDAH_ARTIFACTS } : {}),
        xattrs: true,
      });
      expect({ config: cmp.configDiff, tree: cmp.treeDiff, xattrs: cmp.xattrDiff }).toEqual({
        config: [],
        tree: [],
        xattrs: [],
      });
      for (const [p, x] of Object.entries(spec.expectXattrs ?? {})) expect(cmp.xattrs?.b[p]).toEqual(x);
      expect(cmp.entries.b).toBeGreaterThan(0);
      if (rootlessBuild) {
        // The same image by an ordinary user: ids, modes and xattrs as BuildKit (running as root) made them.
        const byUser = await compareImages(`docker://${repo}:oracle`, `docker://${repo}:rootless`, {
          ...(oracle.builder === 'buildah' ? { ignorePaths: BUILDAH_ARTIFACTS } : {}),
          xattrs: true,
        });
        expect({ config: byUser.configDiff, tree: byUser.treeDiff, xattrs: byUser.xattrDiff }).toEqual({
          config: [],
          tree: [],
          xattrs: [],
        });
      }
    });
  });
}
