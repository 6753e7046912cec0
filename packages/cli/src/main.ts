import { readFile, writeFile } from 'node:fs/promises';
import {
  type BuildEvent,
  type BuildOptions,
  type BuildResult,
  build,
  inPlaceExecutor,
  KilnError,
} from '@kiln/core';
import { BUILD_FLAGS } from './flags.js';
import { type FlagValues, formatHelp, parseArgs, UsageError } from './parse-args.js';
import { createProgress } from './progress.js';

const USAGE = `kiln — build OCI images from Dockerfiles without a daemon

Usage:
  kiln build [flags] [context]
  kiln --help | kiln build --help | kiln --version
`;

/** Output sinks, injectable for tests. */
export interface CliIo {
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  env: NodeJS.ProcessEnv;
  /** Replaces the build for tests of flag handling. */
  build?: (options: BuildOptions) => Promise<BuildResult>;
}

const list = (v: FlagValues, k: string) => (v[k] as string[] | undefined) ?? [];
const str = (v: FlagValues, k: string) => v[k] as string | undefined;

function keyValues(items: string[], flag: string, env?: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of items) {
    const i = item.indexOf('=');
    if (i === 0) throw new UsageError(`--${flag} "${item}": the name is empty`);
    if (i < 0) {
      if (!env) throw new UsageError(`--${flag} "${item}" must be KEY=VALUE`);
      // kaniko: a bare name takes its value from the environment, and is skipped when unset.
      if (env[item] !== undefined) out[item] = env[item]!;
      continue;
    }
    out[item.slice(0, i)] = item.slice(i + 1);
  }
  return out;
}

/** Turns `kiln build` flags into `build()` options. Exported for tests. */
export async function optionsFromFlags(
  values: FlagValues,
  positionals: string[],
  io: CliIo,
): Promise<BuildOptions> {
  if (positionals.length > 1)
    throw new UsageError(`expected at most one context argument, got ${positionals.join(' ')}`);
  const context = str(values, 'context') ?? positionals[0] ?? '/workspace/';
  const destinations = [...list(values, 'destination')];
  const noPush = values['no-push'] === true || /^(1|true)$/i.test(io.env.KANIKO_NO_PUSH ?? '');
  if (!noPush && destinations.length === 0 && !values['tar-path'] && !values['oci-layout-path'])
    throw new UsageError(
      'no --destination given: pass at least one, or --no-push, --tar-path or --oci-layout-path',
    );
  const extra: string[] = [];
  const tarPath = str(values, 'tar-path');
  if (tarPath) {
    const tags = destinations.filter((d) => !/^(oci|docker-archive):/.test(d));
    extra.push(`docker-archive:${tarPath}${tags.length ? `:${tags.join(',')}` : ''}`);
  }
  const ociPath = str(values, 'oci-layout-path');
  if (ociPath) extra.push(`oci:${ociPath}`);

  const registry: NonNullable<BuildOptions['registry']> = {};
  const insecure = list(values, 'insecure-registry');
  const skipTls = list(values, 'skip-tls-verify-registry');
  // kaniko's --insecure / --skip-tls-verify apply to the push side: the destination registries.
  const pushHosts = destinations
    .filter((d) => !/^(oci|docker-archive):/.test(d))
    .map((d) => d.split('/')[0]!);
  if (values.insecure === true) insecure.push(...pushHosts);
  if (values['skip-tls-verify'] === true) skipTls.push(...pushHosts);
  if (values['insecure-pull'] === true) registry.insecurePull = true;
  if (values['skip-tls-verify-pull'] === true) registry.skipTlsVerifyPull = true;
  if (insecure.length) registry.insecureRegistries = insecure;
  if (skipTls.length) registry.skipTlsVerifyRegistries = skipTls;
  const certs = list(values, 'registry-certificate');
  if (certs.length) {
    registry.caCertificates = {};
    for (const [host, file] of Object.entries(keyValues(certs, 'registry-certificate')))
      registry.caCertificates[host] = await readFile(file, 'utf8');
  }
  const clientCerts = list(values, 'registry-client-cert');
  if (clientCerts.length) {
    registry.clientCertificates = {};
    for (const [host, pair] of Object.entries(keyValues(clientCerts, 'registry-client-cert'))) {
      const [cert, key] = pair.split(',');
      if (!cert || !key)
        throw new UsageError(`--registry-client-cert ${host}=${pair}: expected cert.pem,key.pem`);
      registry.clientCertificates[host] = {
        cert: await readFile(cert, 'utf8'),
        key: await readFile(key, 'utf8'),
      };
    }
  }
  const mirrors = [
    ...list(values, 'registry-mirror'),
    ...(io.env.KANIKO_REGISTRY_MIRROR?.split(';').filter(Boolean) ?? []),
  ];
  if (mirrors.length) registry.mirrors = mirrors;
  const maps = [
    ...list(values, 'registry-map'),
    ...(io.env.KANIKO_REGISTRY_MAP ? [io.env.KANIKO_REGISTRY_MAP] : []),
  ];
  if (maps.length) {
    registry.registryMap = {};
    for (const m of maps.flatMap((x) => x.split(';')).filter(Boolean)) {
      const i = m.indexOf('=');
      if (i <= 0) throw new UsageError(`--registry-map "${m}" must be original=mirror`);
      (registry.registryMap[m.slice(0, i)] ??= []).push(m.slice(i + 1));
    }
  }
  const pushRetry = str(values, 'push-retry');
  if (pushRetry !== undefined) {
    if (!/^\d+$/.test(pushRetry)) throw new UsageError(`--push-retry "${pushRetry}" must be a whole number`);
    registry.pushRetries = Number(pushRetry);
  }
  const options: BuildOptions = {
    context,
    dockerfilePath: str(values, 'dockerfile') ?? 'Dockerfile',
    destinations: noPush ? extra : [...destinations, ...extra],
    noPush: noPush && extra.length === 0,
    buildArgs: keyValues(list(values, 'build-arg'), 'build-arg', io.env),
    labels: keyValues(list(values, 'label'), 'label'),
    registry,
    reproducible: values.reproducible === true,
  };
  const ignorePaths = list(values, 'ignore-path');
  if (ignorePaths.length) options.ignorePaths = ignorePaths;
  const secrets = list(values, 'secret');
  if (secrets.length) {
    options.secrets = {};
    for (const spec of secrets) {
      const fields = Object.fromEntries(
        spec.split(',').map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
      );
      const id = fields.id;
      const file = fields.src ?? fields.source;
      if (!id || (!file && !fields.env))
        throw new UsageError(`--secret "${spec}" must be id=NAME,src=FILE or id=NAME,env=VAR`);
      options.secrets[id] = file ? { file } : { env: fields.env! };
    }
  }
  const ssh = list(values, 'ssh');
  if (ssh.length) options.ssh = sshSources(ssh, io.env);
  const sub = str(values, 'context-sub-path');
  if (sub) options.contextSubPath = sub;
  const target = str(values, 'target');
  if (target) options.target = target;
  const platform = str(values, 'custom-platform');
  if (platform) options.platform = platform;
  // kaniko mode: --in-place, or KILN_IN_PLACE=1 unless --in-place=false.
  if (values['in-place'] ?? io.env.KILN_IN_PLACE === '1') {
    options.executor = inPlaceExecutor({ enabled: true });
    const written = ['digest-file', 'image-name-with-digest-file', 'image-name-tag-with-digest-file'];
    const keep = written.map((k) => str(values, k)).filter((p): p is string => !!p);
    if (keep.length) options.keepPaths = keep;
  }
  return options;
}

async function writeOutputs(values: FlagValues, result: BuildResult): Promise<void> {
  const digestFile = str(values, 'digest-file');
  if (digestFile) await writeFile(digestFile, result.digest);
  const regs = result.destinations.filter((d) => !/^(oci|docker-archive):/.test(d.destination));
  const nameDigest = str(values, 'image-name-with-digest-file');
  if (nameDigest) await writeFile(nameDigest, regs.map((d) => `${d.digestReference}\n`).join(''));
  const nameTagDigest = str(values, 'image-name-tag-with-digest-file');
  if (nameTagDigest) await writeFile(nameTagDigest, regs.map((d) => `${d.reference}@${d.digest}\n`).join(''));
}

/** Runs the CLI; resolves with the exit status. */
export async function main(argv: string[], io: CliIo): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    if (!cmd || cmd === '--help' || cmd === '-h' || cmd === 'help') {
      io.stdout.write(`${USAGE}\nFlags of kiln build:\n${formatHelp(BUILD_FLAGS)}\n`);
      return 0;
    }
    if (cmd === '--version') {
      const pkg = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8'));
      io.stdout.write(`kiln ${pkg.version}\n`);
      return 0;
    }
    if (cmd !== 'build') throw new UsageError(`unknown command "${cmd}" (try kiln build --help)`);
    if (rest.includes('--help') || rest.includes('-h')) {
      io.stdout.write(`Usage: kiln build [flags] [context]\n\n${formatHelp(BUILD_FLAGS)}\n`);
      return 0;
    }
    const { values, positionals } = parseArgs(rest, BUILD_FLAGS);
    for (const spec of BUILD_FLAGS)
      if (spec.ignoredNote && values[spec.name] !== undefined && values[spec.name] !== false)
        io.stderr.write(`kiln: --${spec.name}: ${spec.ignoredNote}\n`);
    const options = await optionsFromFlags(values, positionals, io);
    const progress = createProgress(io, str(values, 'log-format'), str(values, 'verbosity'));
    options.onEvent = (e: BuildEvent) => progress.event(e);
    const result = await (io.build ?? build)(options);
    progress.done();
    await writeOutputs(values, result);
    io.stdout.write(`${result.digest}\n`);
    return 0;
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    const oneLine = msg.split('\n')[0];
    io.stderr.write(`kiln: error: ${oneLine}\n`);
    if (e instanceof UsageError) return 2;
    if (KilnError.is(e)) return 1;
    return 1;
  }
}

/** `--ssh` values (BuildKit's spelling: `ID`, `ID=SOCKET`, `ID=KEY[,KEY…]`) as build()'s `ssh` option. */
function sshSources(
  specs: string[],
  env: Record<string, string | undefined>,
): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const spec of specs) {
    const eq = spec.indexOf('=');
    const id = eq < 0 ? spec : spec.slice(0, eq);
    const paths =
      eq < 0
        ? []
        : spec
            .slice(eq + 1)
            .split(',')
            .filter(Boolean);
    if (!id) throw new UsageError(`--ssh "${spec}" must be ID, ID=SOCKET or ID=KEYFILE[,KEYFILE…]`);
    if (paths.length === 0 && !env.SSH_AUTH_SOCK)
      throw new UsageError(
        `--ssh ${id}: SSH_AUTH_SOCK is not set; give an agent socket or key files (--ssh ${id}=PATH)`,
      );
    out[id] = paths.length === 0 ? env.SSH_AUTH_SOCK! : paths.length === 1 ? paths[0]! : paths;
  }
  return out;
}
