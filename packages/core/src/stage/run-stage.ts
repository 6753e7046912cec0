import type { ContextSource, PathFilter } from '@kiln/context';
import {
  applyChecks,
  type BuildPlan,
  expandInstruction,
  type Instruction,
  parseInstruction,
  resolveArgValue,
  undefinedVarWarnings,
  type Warning,
} from '@kiln/dockerfile';
import { isSnapshotError } from '@kiln/snapshot';
import { KilnError } from '../errors.js';
import type { BuildEvent } from '../events.js';
import type { Executor } from '../executor.js';
import { emptyConfig } from '../image/config.js';
import type { ImageAccess, PlatformSpec } from '../image/images.js';
import type { InstructionTiming } from '../options.js';
import { baseFilesystem } from './base-fs.js';
import { addHistory, applyMetadata } from './dispatch.js';
import { applyCopy, applyWorkdir } from './filesystem-steps.js';
import type { HostRoot } from './host-root.js';
import { applyRun } from './run-step.js';
import type { SshAgents } from './ssh-agents.js';
import { emptyFilesystem, type StageFilesystem, StageState } from './stage-state.js';

/** Everything a stage needs from the build. */
export interface StageContext {
  plan: BuildPlan;
  platform: PlatformSpec;
  images: ImageAccess;
  context?: ContextSource;
  /** The context's directory on disk, when it is a local directory (RUN --mount=type=bind reads it). */
  contextDir?: string;
  secrets?: NonNullable<import('../options.js').BuildOptions['secrets']>;
  /** Agents for `RUN --mount=type=ssh`, by id (build option `ssh`). */
  ssh?: SshAgents;
  ignore?: PathFilter;
  /** Image paths RUN snapshots leave out (kaniko's --ignore-path), relative. */
  ignorePaths?: string[];
  workDir: string;
  cacheDir?: string;
  created: string;
  epoch?: number;
  deterministic: boolean;
  level?: number;
  buildArgs: Record<string, string>;
  signal?: AbortSignal;
  emit: (e: BuildEvent) => void;
  timings: InstructionTiming[];
  dockerfileName: string;
  /** One promise per started stage, so each stage runs once whoever needs it first. */
  results: Map<number, Promise<StageResult>>;
  executor?: Executor;
  /** Set when the executor runs on the machine's own `/` (`rootfs: 'host'`): stages take turns on it. */
  hostRoot?: HostRoot;
  /** Warnings found while dispatching (UndefinedVar on image-based stages). */
  warnings: Warning[];
  /** Undone at the end of the build, before the work dir is removed (overlay mounts). */
  cleanups: (() => Promise<void>)[];
}

/** A finished stage. */
export interface StageResult {
  state: StageState;
  durationMs: number;
}

/** Whether a stage's chain of bases ends in an image (rather than scratch). */
function rootsInImage(ctx: StageContext, index: number): boolean {
  let base = ctx.plan.stages[index]!.base;
  for (let hops = 0; base.kind === 'stage' && hops < ctx.plan.stages.length; hops++)
    base = ctx.plan.stages[base.index]!.base;
  return base.kind === 'image';
}

/** Runs stage `index` once; later callers get the same promise. */
export function runStage(ctx: StageContext, index: number): Promise<StageResult> {
  let p = ctx.results.get(index);
  if (!p) {
    p = execute(ctx, index);
    ctx.results.set(index, p);
  }
  return p;
}

/** The filesystem of a finished stage, as the base of another (`FROM stage`) or a `COPY --from` source. */
export function stageFilesystem(state: StageState): StageFilesystem {
  const base: StageFilesystem['base'] = { open: (p) => state.openFile(p) };
  if (state.fs.base.captured) base.captured = (p) => state.capturedFile(p);
  return { tree: () => state.tree(), base };
}

async function openBase(ctx: StageContext, index: number): Promise<StageState> {
  const stage = ctx.plan.stages[index]!;
  const base = stage.base;
  if (base.kind === 'scratch') {
    const platform = stage.platform ? ctx.images.platform(stage.platform) : ctx.platform;
    return new StageState(emptyConfig(platform), [], emptyFilesystem());
  }
  if (base.kind === 'stage') {
    const parent = (await runStage(ctx, base.index)).state;
    const s = new StageState(parent.config, parent.layers, stageFilesystem(parent));
    return s;
  }
  const platform = stage.platform ? ctx.images.platform(stage.platform) : ctx.platform;
  const img = await ctx.images.resolve(base.ref, platform);
  return new StageState(
    img.config,
    img.layers,
    baseFilesystem(img.layers, {
      workDir: ctx.workDir,
      ...(ctx.cacheDir ? { cacheDir: ctx.cacheDir } : {}),
      ...(ctx.signal ? { signal: ctx.signal } : {}),
    }),
  );
}

async function execute(ctx: StageContext, index: number): Promise<StageResult> {
  const started = performance.now();
  const stage = ctx.plan.stages[index]!;
  ctx.emit({
    type: 'stage-start',
    stage: index,
    ...(stage.name ? { name: stage.name } : {}),
    base:
      stage.base.kind === 'image'
        ? stage.base.ref
        : stage.base.kind === 'stage'
          ? `stage ${stage.base.index}`
          : 'scratch',
  });
  let state: StageState;
  try {
    state = await openBase(ctx, index);
  } catch (e) {
    const line = stage.from.range.start.line;
    if (KilnError.is(e) && !e.location)
      throw new KilnError(e.code, `${ctx.dockerfileName}:${line}: ${e.message}`, {
        cause: e,
        location: { file: ctx.dockerfileName, line, column: stage.from.range.start.column },
      });
    throw e;
  }
  // Build args in scope start empty in every stage; predefined platform args come only when declared.
  const triggers = state.config.config.OnBuild ?? [];
  if (triggers.length > 0) {
    // ONBUILD triggers of the base run first, then are consumed (they do not pass on to children).
    state.config.config.OnBuild = null;
    for (const trigger of triggers) await step(ctx, index, state, parseInstruction(trigger), -1);
  }
  let n = 0;
  for (const ins of stage.instructions) await step(ctx, index, state, ins, n++);
  ctx.hostRoot?.finished(state);
  const durationMs = performance.now() - started;
  ctx.emit({ type: 'stage-end', stage: index, ...(stage.name ? { name: stage.name } : {}), durationMs });
  return { state, durationMs };
}

async function step(
  ctx: StageContext,
  stageIndex: number,
  state: StageState,
  raw: Instruction,
  n: number,
): Promise<void> {
  ctx.signal?.throwIfAborted();
  const started = performance.now();
  const location = { line: raw.range.start.line, column: raw.range.start.column };
  ctx.emit({ type: 'instruction-start', stage: stageIndex, index: n, text: raw.original, location });
  let layer: { digest: string; size: number } | undefined;
  try {
    if (raw.kind === 'arg') {
      const env = state.expansionEnv();
      for (const decl of raw.args) {
        state.declaredArgs.add(decl.key);
        const { value } = resolveArgValue(decl, {
          buildArgs: ctx.buildArgs,
          globalArgs: ctx.plan.globalArgValues,
          env,
          escape: ctx.plan.escapeToken,
        });
        if (value !== undefined) {
          state.args.set(decl.key, value);
          env.set(decl.key, value);
        } else state.args.delete(decl.key);
      }
      addHistory(state, `ARG ${raw.args.map((a) => a.key).join(' ')}`, true, ctx.created);
    } else {
      const env = state.expansionEnv();
      const expanded = expandInstruction(raw, env, { escape: ctx.plan.escapeToken });
      const ins = expanded.instruction;
      // The planner checks UndefinedVar for stages built on scratch; on an image, the image's Env is only
      // known now, so those stages are checked here.
      if (expanded.undefinedVars.length && rootsInImage(ctx, stageIndex))
        for (const w of applyChecks(
          ctx.plan.checks,
          undefinedVarWarnings(raw, expanded.undefinedVars, {
            declaredArgs: state.declaredArgs,
            env: env.keys(),
          }),
        )) {
          ctx.warnings.push(w);
          ctx.emit({
            type: 'warning',
            rule: w.rule,
            message: w.message,
            location: { line: w.range.start.line, column: w.range.start.column },
            url: w.url,
          });
        }
      const meta = applyMetadata(state, ins);
      if (meta) addHistory(state, meta.createdBy, true, ctx.created);
      else if (ins.kind === 'workdir') {
        const rec = await applyWorkdir(ctx, state, ins);
        if (rec) layer = rec;
      } else if (ins.kind === 'copy' || ins.kind === 'add') {
        layer = await applyCopy(ctx, state, ins);
      } else if (ins.kind === 'run') {
        const rec = await applyRun(ctx, state, ins, stageIndex, n);
        if (rec) layer = rec;
      } else if (ins.kind === 'from') {
        // FROM is handled by the stage itself.
      }
    }
  } catch (e) {
    if (e instanceof KilnError && !e.location)
      throw new KilnError(e.code, `${ctx.dockerfileName}:${location.line}: ${e.message}`, {
        cause: e.cause ?? e,
        location: { file: ctx.dockerfileName, ...location },
      });
    // A layer the safe extractor or the file index refused (`..` in a name, a hardlink out of the root…) keeps
    // its own code, and its message names the entry.
    if (isSnapshotError(e))
      throw new KilnError(e.code, `${ctx.dockerfileName}:${location.line}: ${raw.original}: ${e.message}`, {
        cause: e,
        location: { file: ctx.dockerfileName, ...location },
      });
    if (e instanceof Error && !(e instanceof KilnError))
      throw new KilnError(
        'KILN_STEP_FAILED',
        `${ctx.dockerfileName}:${location.line}: ${raw.original}: ${e.message}`,
        { cause: e, location: { file: ctx.dockerfileName, ...location } },
      );
    throw e;
  }
  const durationMs = performance.now() - started;
  ctx.timings.push({ stage: stageIndex, text: raw.original, line: location.line, durationMs });
  ctx.emit({
    type: 'instruction-end',
    stage: stageIndex,
    index: n,
    text: raw.original,
    durationMs,
    ...(layer ? { layer } : {}),
  });
}
