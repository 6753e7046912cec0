import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  type ContextSource,
  dockerignore,
  loadDockerignore,
  openContext,
  type PathFilter,
} from '@kiln/context';
import {
  type BuildPlan,
  DockerfileError,
  failOnWarnings,
  type Instruction,
  planBuild,
  type Warning,
} from '@kiln/dockerfile';
import { KilnError } from './errors.js';
import { makeEmitter } from './events.js';
import type { Executor } from './executor.js';
import { namespaceExecutor } from './executors/index.js';
import { emptyConfig } from './image/config.js';
import { type ImageAccess, openImageAccess, type PlatformSpec, platformOf } from './image/images.js';
import { writeImage } from './image/outputs.js';
import type { BuildOptions, BuildResult, BuildWarning, InstructionTiming } from './options.js';
import { checkInPlacePlan, HostRoot } from './stage/host-root.js';
import { runStage, type StageContext, type StageResult } from './stage/run-stage.js';
import { SshAgents } from './stage/ssh-agents.js';
import { SUBID_HINT, userNamespaceMapping } from './user-namespace.js';

/** The executor a build uses when the caller names none: the rootless namespace executor on Linux. */
function defaultExecutor(): Executor | undefined {
  return process.platform === 'linux' ? namespaceExecutor() : undefined;
}

/** The host platform as OCI names it (`linux/amd64`). */
export function hostPlatform(): PlatformSpec {
  const arch =
    (
      {
        x64: 'amd64',
        arm64: 'arm64',
        arm: 'arm',
        ia32: '386',
        ppc64: 'ppc64le',
        s390x: 's390x',
        riscv64: 'riscv64',
      } as Record<string, string>
    )[os.arch()] ?? os.arch();
  return { os: 'linux', architecture: arch, ...(arch === 'arm' ? { variant: 'v7' } : {}) };
}

function isContextSource(x: unknown): x is ContextSource {
  return typeof x === 'object' && x !== null && typeof (x as ContextSource).list === 'function';
}

async function openBuildContext(
  options: BuildOptions,
  tmpDir: string,
): Promise<{ source?: ContextSource; dir?: string }> {
  const c = options.context;
  if (c === undefined || c === null) return {};
  if (isContextSource(c)) return { source: c };
  if (typeof c !== 'string')
    throw new KilnError(
      'KILN_BAD_OPTION',
      'options.context must be a ContextSource, a directory or a context URL',
    );
  const spec = c;
  const dir = !/^[a-z0-9+]+:\/\//i.test(spec)
    ? path.resolve(spec)
    : spec.startsWith('dir://')
      ? path.resolve(spec.slice(6))
      : undefined;
  const source = await openContext(spec, {
    // Inside the work dir: an in-place build keeps that directory, and removes it at the end like the rest.
    tmpDir,
    ...(options.contextSubPath ? { contextSubPath: options.contextSubPath } : {}),
  });
  return {
    source,
    ...(dir ? { dir: options.contextSubPath ? path.join(dir, options.contextSubPath) : dir } : {}),
  };
}

async function readDockerfile(
  options: BuildOptions,
  ctx: { source?: ContextSource; dir?: string },
): Promise<{ text: string; name: string }> {
  if (options.dockerfile !== undefined)
    return { text: options.dockerfile, name: options.dockerfilePath ?? 'Dockerfile' };
  const p = options.dockerfilePath ?? 'Dockerfile';
  try {
    if (path.isAbsolute(p)) return { text: await readFile(p, 'utf8'), name: p };
    if (ctx.dir) {
      // kaniko: a relative --dockerfile is tried against the working directory, then against the context.
      const inContext = path.join(ctx.dir, p);
      try {
        return { text: await readFile(inContext, 'utf8'), name: inContext };
      } catch {
        return { text: await readFile(p, 'utf8'), name: path.resolve(p) };
      }
    }
    if (ctx.source) return { text: (await ctx.source.readFile(p)).toString('utf8'), name: p };
    return { text: await readFile(p, 'utf8'), name: path.resolve(p) };
  } catch (e) {
    throw new KilnError(
      'KILN_DOCKERFILE_NOT_FOUND',
      `cannot read the Dockerfile ${p}: ${(e as Error).message}`,
      { cause: e },
    );
  }
}

function locate(e: unknown, file: string): unknown {
  if (e instanceof DockerfileError) {
    const err = new KilnError(e.code, `${file}:${e.line}:${e.column}: ${e.message}`, {
      cause: e,
      location: { file, line: e.line, column: e.column },
    });
    return err;
  }
  return e;
}

/**
 * Builds the image a Dockerfile describes and writes it to every destination.
 *
 * Work happens only where an instruction needs it: metadata instructions touch nothing but the config,
 * COPY/ADD write new layers straight from their sources using the base image's file index (never its
 * contents), and base layers are only copied to a destination that does not already have them.
 */
export async function build(options: BuildOptions): Promise<BuildResult> {
  const started = performance.now();
  const emit = makeEmitter(options.onEvent);
  const signal = options.signal;
  signal?.throwIfAborted();
  // In-place builds keep their work dir out of /tmp, which RUN commands often empty (`rm -rf /tmp/*`).
  const inPlaceRequested = typeof options.executor === 'object' && options.executor.rootfs === 'host';
  const workDir =
    options.workDir ?? (await mkdtemp(inPlaceRequested ? '/.kiln-' : path.join(os.tmpdir(), 'kiln-')));
  const ownWorkDir = options.workDir === undefined;
  const cleanups: (() => Promise<void>)[] = [];
  let ctx: Awaited<ReturnType<typeof openBuildContext>> = {};
  try {
    ctx = await openBuildContext(options, workDir);
    const df = await readDockerfile(options, ctx);
    const platform = options.platform ? platformOf(options.platform) : hostPlatform();
    let plan: BuildPlan;
    try {
      plan = planBuild(df.text, {
        buildArgs: options.buildArgs ?? {},
        ...(options.target ? { target: options.target } : {}),
        platform: `${platform.os}/${platform.architecture}${platform.variant ? `/${platform.variant}` : ''}`,
        buildPlatform: (() => {
          const h = hostPlatform();
          return `${h.os}/${h.architecture}${h.variant ? `/${h.variant}` : ''}`;
        })(),
      });
    } catch (e) {
      throw locate(e, df.name);
    }
    const warnings: BuildWarning[] = plan.warnings.map((w) => ({
      rule: w.rule,
      message: w.message,
      line: w.range.start.line,
      url: w.url,
    }));
    for (const w of plan.warnings)
      emit({
        type: 'warning',
        rule: w.rule,
        message: w.message,
        location: { line: w.range.start.line, column: w.range.start.column },
        url: w.url,
      });

    // RUN needs an executor: fail before any work, naming the line.
    const executor = options.executor === undefined ? defaultExecutor() : options.executor || undefined;
    const firstRun = plan.needed
      .map((i) => plan.stages[i]!.instructions.find((x: Instruction) => x.kind === 'run'))
      .find((x) => x !== undefined);
    const refuseRun = (code: string, why: string) => {
      const at = firstRun!.range.start;
      throw new KilnError(code, `${df.name}:${at.line}: ${firstRun!.original}: ${why}`, {
        location: { file: df.name, line: at.line, column: at.column },
      });
    };
    if (firstRun && !executor)
      refuseRun('KILN_NO_EXECUTOR', 'RUN needs an executor, and this build has none');
    // An ordinary user cannot give a RUN rootfs the image's owners: that takes a user namespace (the CLI
    // re-executes itself in one; embedders call reexecInUserNamespace()).
    if (
      firstRun &&
      executor?.name === 'namespace' &&
      process.platform === 'linux' &&
      process.getuid?.() !== 0
    )
      refuseRun(
        'KILN_ROOTLESS',
        `RUN as an ordinary user (uid ${process.getuid?.()}) needs kiln to run as root in a user namespace: start the program with reexecInUserNamespace() from @kiln/core (the kiln CLI does), or under \`unshare --map-root-user --map-auto --mount\``,
      );
    if (firstRun && executor?.name === 'namespace' && userNamespaceMapping() === 'single') {
      // Only uid 0 and gid 0 exist in this namespace: the base's other owners cannot be set on disk.
      const message = `this build runs in a user namespace that maps only root: files the base image gives to other owners become root's in RUN stages, and a RUN that switches to or chowns to other ids fails; ${SUBID_HINT}`;
      warnings.push({ rule: 'SingleIdUserNamespace', message, line: firstRun.range.start.line });
      emit({ type: 'warning', rule: 'SingleIdUserNamespace', message });
    }
    // An executor on the machine's own `/` (in-place, kaniko mode): refuse what it cannot do before any work.
    const inPlace = executor?.rootfs === 'host';
    if (inPlace) checkInPlacePlan(plan, df.name);

    let ignore: PathFilter | undefined;
    if (ctx.source) {
      try {
        ignore = await loadDockerignore(ctx.source, options.dockerfilePath ?? 'Dockerfile');
      } catch (e) {
        throw new KilnError('KILN_DOCKERIGNORE', `cannot read .dockerignore: ${(e as Error).message}`, {
          cause: e,
        });
      }
    } else ignore = dockerignore();

    const cacheDir =
      options.cacheDir ?? path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'kiln');
    const images: ImageAccess = openImageAccess({ ...options, cacheDir }, emit);
    const epoch = options.reproducible
      ? (options.sourceDateEpoch ?? Number(process.env.SOURCE_DATE_EPOCH ?? 0))
      : undefined;
    const created = epoch !== undefined ? new Date(epoch * 1000).toISOString() : new Date().toISOString();
    const hostRoot = inPlace
      ? await HostRoot.open({
          workDir,
          cacheDir,
          ...(ctx.dir ? { contextDir: ctx.dir } : {}),
          ...(options.ignorePaths ? { ignorePaths: options.ignorePaths } : {}),
          ...(options.keepPaths ? { keepPaths: options.keepPaths } : {}),
          destinations: options.destinations ?? [],
          secretFiles: Object.values(options.secrets ?? {}).flatMap((s) => (s.file ? [s.file] : [])),
          sshSources: Object.values(options.ssh ?? {}).flatMap((s) =>
            Array.isArray(s) && s.length ? s : [String(s)],
          ),
          ...(options.registry?.dockerConfigDir ? { dockerConfigDir: options.registry.dockerConfigDir } : {}),
        })
      : undefined;
    const ssh =
      options.ssh && Object.keys(options.ssh).length > 0
        ? await SshAgents.open(options.ssh, workDir)
        : undefined;
    if (ssh) cleanups.push(() => ssh.close());
    const timings: InstructionTiming[] = [];
    const dispatchWarnings: Warning[] = [];
    const stageCtx: StageContext = {
      plan,
      platform,
      images,
      ...(ctx.source ? { context: ctx.source } : {}),
      ...(ctx.dir ? { contextDir: ctx.dir } : {}),
      ...(options.secrets ? { secrets: options.secrets } : {}),
      ...(ssh ? { ssh } : {}),
      ...(options.ignorePaths?.length
        ? { ignorePaths: options.ignorePaths.map((p) => p.replace(/^\/+|\/+$/g, '')) }
        : {}),
      ...(ignore ? { ignore } : {}),
      workDir,
      cacheDir,
      created,
      ...(epoch !== undefined ? { epoch } : {}),
      deterministic: options.reproducible === true,
      ...(options.compressionLevel !== undefined ? { level: options.compressionLevel } : {}),
      buildArgs: options.buildArgs ?? {},
      ...(signal ? { signal } : {}),
      emit,
      timings,
      dockerfileName: df.name,
      results: new Map<number, Promise<StageResult>>(),
      cleanups,
      warnings: dispatchWarnings,
      ...(executor ? { executor } : {}),
      ...(hostRoot ? { hostRoot } : {}),
    };
    emit({
      type: 'build-start',
      stages: plan.needed.length,
      target: plan.stages[plan.target]!.name ?? String(plan.target),
    });
    if (hostRoot) {
      // One `/`, one stage at a time: stages run in Dockerfile order (a stage only reads earlier ones).
      for (const i of [...plan.needed].sort((a, b) => a - b))
        await runStage(stageCtx, i).catch((e) => Promise.reject(locate(e, df.name)));
    } else {
      // Every needed stage starts now; a stage waits only for the stages it reads.
      const all = plan.needed.map((i) => runStage(stageCtx, i));
      const settled = await Promise.allSettled(all);
      const failed = settled.find((s) => s.status === 'rejected');
      if (failed) throw locate((failed as PromiseRejectedResult).reason, df.name);
    }
    const final = await runStage(stageCtx, plan.target);
    // Dispatch-time warnings join the planner's; `# check=error=true` fails the build on them, as BuildKit does.
    dispatchWarnings.sort((a, b) => a.range.start.line - b.range.start.line);
    for (const w of dispatchWarnings)
      warnings.push({ rule: w.rule, message: w.message, line: w.range.start.line, url: w.url });
    try {
      failOnWarnings(plan.checks, dispatchWarnings);
    } catch (e) {
      throw locate(e, df.name);
    }
    const config = final.state.config;
    if (options.labels && Object.keys(options.labels).length)
      config.config.Labels = { ...config.config.Labels, ...options.labels };
    config.created = created;
    if (!config.architecture) Object.assign(config, emptyConfig(platform), { config: config.config });
    const written = await writeImage(final.state, {
      destinations: options.noPush ? [] : (options.destinations ?? []),
      images,
      emit,
      ...(signal ? { signal } : {}),
    });
    const durationMs = performance.now() - started;
    emit({ type: 'build-end', digest: written.digest, durationMs });
    const stages = [...stageCtx.results.keys()].sort((a, b) => a - b);
    const stageInfo = await Promise.all(
      stages.map(async (i) => {
        const r = await stageCtx.results.get(i)!;
        const name = plan.stages[i]!.name;
        return { index: i, ...(name ? { name } : {}), durationMs: r.durationMs };
      }),
    );
    return {
      ...written,
      stages: stageInfo,
      instructions: timings,
      warnings,
      durationMs,
    };
  } finally {
    for (const undo of cleanups.splice(0)) await undo().catch(() => {});
    await ctx.source?.close?.();
    if (ownWorkDir) await rm(workDir, { recursive: true, force: true });
  }
}
