import { inject } from 'vitest';
import type { SeededImages } from '../setup/base-images.js';
import type { RootlessUsers } from '../setup/rootless-user.js';

/**
 * What the e2e global setup (test/setup/global-setup.ts) gives every test: two running
 * registries with the base images seeded into both, and a state dir for the run.
 * @public
 */
export interface KilnTestEnv {
  /** Per-run state dir (oracle storage, Docker engine, work dirs); removed at teardown. */
  stateDir: string;
  /** Plain-HTTP registry, no auth: `127.0.0.1:PORT`. */
  registry: string;
  /** HTTPS registry with basic auth: `127.0.0.1:PORT`. */
  registryTls: string;
  /** PEM file of the CA of {@link KilnTestEnv.registryTls}. */
  caFile: string;
  /** PEM text of that CA. */
  caPem: string;
  /** certs.d-style dir (holds ca.crt) for skopeo/buildah `--cert-dir`. */
  certDir: string;
  /** User and password of {@link KilnTestEnv.registryTls}. */
  user: string;
  password: string;
  /** Base images in the plain registry (also their `oci:` layouts). */
  images: SeededImages;
  /** The same base images in the TLS registry. */
  imagesTls: SeededImages;
  /** Whether the Debian image was seeded (`KILN_TEST_DEBIAN` != '0'). */
  debian: boolean;
  /** Ordinary users for rootless runs (made by the setup when it runs as root). */
  rootless?: RootlessUsers;
  /** Wall times of the setup steps in ms. */
  timings: Record<string, number>;
}

declare module 'vitest' {
  export interface ProvidedContext {
    kilnTest: KilnTestEnv;
  }
}

/**
 * testEnv: the {@link KilnTestEnv} of this run (vitest `inject('kilnTest')`). Only valid
 * inside e2e tests, whose project runs the global setup.
 * @public
 */
export function testEnv(): KilnTestEnv {
  const env = inject('kilnTest');
  if (!env)
    throw new Error('kilnTest is not provided: run this test in the e2e project (vitest --project e2e)');
  return env;
}

/**
 * TEST_ENV_VARS: the environment variables the global setup exports with the same facts,
 * for tools and child processes (a `kiln` CLI run, shell scripts).
 * @public
 */
export const TEST_ENV_VARS = [
  'KILN_TEST_STATE',
  'KILN_TEST_REGISTRY',
  'KILN_TEST_REGISTRY_TLS',
  'KILN_TEST_CA',
  'KILN_TEST_CERT_DIR',
  'KILN_TEST_USER',
  'KILN_TEST_PASSWORD',
  'KILN_TEST_BUSYBOX',
  'KILN_TEST_BUSYBOX_V2S2',
  'KILN_TEST_BUSYBOX_OCI',
  'KILN_TEST_DEBIAN_IMAGE',
  'KILN_TEST_DEBIAN_V2S2',
  'KILN_TEST_DEBIAN_OCI',
] as const;

/** envVarsOf: the {@link TEST_ENV_VARS} values for `env` (unset ones left out). @public */
export function envVarsOf(env: KilnTestEnv): Partial<Record<(typeof TEST_ENV_VARS)[number], string>> {
  const vars: Partial<Record<(typeof TEST_ENV_VARS)[number], string>> = {
    KILN_TEST_STATE: env.stateDir,
    KILN_TEST_REGISTRY: env.registry,
    KILN_TEST_REGISTRY_TLS: env.registryTls,
    KILN_TEST_CA: env.caFile,
    KILN_TEST_CERT_DIR: env.certDir,
    KILN_TEST_USER: env.user,
    KILN_TEST_PASSWORD: env.password,
    KILN_TEST_BUSYBOX: env.images.busybox,
    KILN_TEST_BUSYBOX_V2S2: env.images.busyboxV2s2,
    KILN_TEST_BUSYBOX_OCI: env.images.oci.busybox,
    KILN_TEST_DEBIAN_IMAGE: env.images.debian,
    KILN_TEST_DEBIAN_V2S2: env.images.debianV2s2,
    KILN_TEST_DEBIAN_OCI: env.images.oci.debian,
  };
  for (const k of Object.keys(vars) as (keyof typeof vars)[]) if (vars[k] === undefined) delete vars[k];
  return vars;
}
