import { existsSync } from 'node:fs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { build, type Executor } from '@kiln/core';
import { describe, expect, test } from 'vitest';
import { BUILDAH_ARTIFACTS, compareImages, inspectImage } from '../lib/compare.js';
import { oracleBuild } from '../lib/oracle.js';
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

/** Registers one test per case directory under `casesDir`. */
export async function oracleSuite(title: string, casesDir: string, opts: { executor?: () => Executor } = {}) {
  const cases = (await readdir(casesDir)).sort();
  describe.concurrent(title, () => {
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
      const [kiln, oracle] = await Promise.all([
        build({
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
      ]);
      expect(kiln.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
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
    });
  });
}
