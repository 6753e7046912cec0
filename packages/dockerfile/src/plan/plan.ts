import type { DockerfileAst, SourceRange } from '../ast.js';
import { parseCheckConfig } from '../checks/check-directive.js';
import { checkInstructionCasing, Linter } from '../checks/linter.js';
import { rules } from '../checks/rules.js';
import { applyChecks, failOnWarnings } from '../checks/runtime.js';
import { stageChecks } from '../checks/stage-checks.js';
import { DockerfileError, excerpt, withLocation } from '../errors.js';
import { toInstruction } from '../instructions/from-node.js';
import type { ArgInstruction, FromInstruction, Instruction, SourceRef } from '../instructions/types.js';
import { parseDockerfile } from '../parser/parse.js';
import { expandWordWithMatches } from '../shell/lexer.js';
import { didYouMean, suggest } from '../suggest.js';
import { isPredefinedArg, isProxyArg, lookup, platformArgs, resolveArgValue } from './args.js';
import { parsePlatform } from './platform.js';
import { resolveSourceRef } from './resolve-from.js';
import type { BuildPlan, PlanOptions, Stage, StageBase } from './types.js';

const RESERVED_STAGE_NAMES = new Set(['scratch', 'context']);
const at = (r: SourceRange) => ({ line: r.start.line, column: r.start.column, endLine: r.end.line });

interface RawStage {
  from: FromInstruction;
  instructions: Instruction[];
}

/** Splits typed instructions into global ARGs and stages; only ARG may precede the first FROM. */
function splitStages(instructions: Instruction[]): { globals: ArgInstruction[]; stages: RawStage[] } {
  const globals: ArgInstruction[] = [];
  const stages: RawStage[] = [];
  for (const ins of instructions) {
    if (ins.kind === 'from') stages.push({ from: ins, instructions: [] });
    else if (stages.length > 0) stages[stages.length - 1]!.instructions.push(ins);
    else if (ins.kind === 'arg') globals.push(ins);
    else {
      throw new DockerfileError(
        'NO_STAGE',
        `no build stage in current context: ${ins.keyword} before the first FROM: ${excerpt(ins.original)}`,
        at(ins.range),
      );
    }
  }
  if (stages.length === 0) {
    const last = instructions[instructions.length - 1];
    throw new DockerfileError(
      'MISSING_FROM',
      'dockerfile contains no stages to build: add a FROM instruction',
      last ? at(last.range) : { line: 1, column: 1 },
    );
  }
  return { globals, stages };
}

/**
 * planBuild parses (if given text), types every instruction and plans the build: global ARGs,
 * stages with their bases (scratch, an earlier stage, or an image ref expanded with global
 * ARGs), `COPY --from` / `RUN --mount from=` resolved to a stage index or an image, the
 * dependency graph, the stages the target needs, unused build args and lint warnings.
 * Instructions stay unexpanded: core expands them at dispatch with `expandInstruction`, since the
 * base image's Env takes part. Throws DockerfileError for every hard error.
 */
export function planBuild(textOrAst: string | DockerfileAst, opts: PlanOptions = {}): BuildPlan {
  const ast = typeof textOrAst === 'string' ? parseDockerfile(textOrAst) : textOrAst;
  const escapeToken = ast.escapeToken;
  const linter = new Linter();
  checkInstructionCasing(ast.children, linter);
  const typed = ast.children.map((n) => withLocation(() => toInstruction(n), n.range));
  const { globals, stages: raw } = splitStages(typed);

  const buildPlatform = parsePlatform(opts.buildPlatform ?? 'linux/amd64');
  const targetPlatform = opts.platform ? parsePlatform(opts.platform) : buildPlatform;
  const buildArgs = opts.buildArgs ?? {};

  // Global scope: automatic platform args, then each global ARG (build arg wins over default).
  const globalEnv = new Map<string, string>(Object.entries(platformArgs(targetPlatform, buildPlatform)));
  for (const [k, v] of buildArgs instanceof Map ? buildArgs : Object.entries(buildArgs)) {
    if (globalEnv.has(k)) globalEnv.set(k, v);
  }
  const declared = new Set<string>();
  const declaredGlobal = new Set<string>();
  // The same scope with defaults only (no build args), for InvalidDefaultArgInFrom.
  const defaultsEnv = new Map(globalEnv);
  for (const ins of globals) {
    for (const a of ins.args) {
      declared.add(a.key);
      declaredGlobal.add(a.key);
      const r = withLocation(
        () => resolveArgValue(a, { buildArgs, globalArgs: globalEnv, env: globalEnv, escape: escapeToken }),
        ins.range,
      );
      if (r.value !== undefined) globalEnv.set(a.key, r.value);
      try {
        const d = resolveArgValue(a, { globalArgs: defaultsEnv, env: defaultsEnv, escape: escapeToken });
        if (d.value !== undefined) defaultsEnv.set(a.key, d.value);
      } catch {
        // A default that cannot expand without build args (`${X:?}`) only matters if used.
      }
    }
  }

  // Stage names first: `--from` may name any stage, and a later one is an error, not an image.
  const byName = new Map<string, number>();
  raw.forEach((s, i) => {
    const name = s.from.stageName;
    if (name === undefined) return;
    if (byName.has(name)) {
      throw new DockerfileError(
        'DUPLICATE_STAGE_NAME',
        `duplicate stage name ${JSON.stringify(name)}: ${excerpt(s.from.original)}`,
        at(s.from.range),
      );
    }
    byName.set(name, i);
  });

  const stageNames = raw.map((s) => ({ name: s.from.stageName }));
  const stages: Stage[] = raw.map((s, index) => planStage(s, index));

  function planStage(s: RawStage, index: number): Stage {
    const from = s.from;
    fromChecks(from);
    const r = withLocation(
      () => expandWordWithMatches(from.image, globalEnv, { escape: escapeToken }),
      from.range,
    );
    for (const name of r.unmatched) {
      if (!declaredGlobal.has(name)) {
        linter.warn(rules.UndefinedArgInFrom, from.range, name, suggest(name, declaredGlobal));
      }
    }
    const image = r.result;
    const usedGlobals = [...r.matched, ...r.unmatched].filter((n) => declaredGlobal.has(n));
    if (usedGlobals.length > 0) checkDefaultArgs(from, usedGlobals);
    if (image === '') {
      throw new DockerfileError(
        'INVALID_ARGUMENTS',
        `base name (${from.image}) should not be blank`,
        at(from.range),
      );
    }
    let base: StageBase;
    const stageIndex = byName.get(image.toLowerCase());
    if (stageIndex !== undefined && stageIndex < index) base = { kind: 'stage', index: stageIndex };
    else if (image.toLowerCase() === 'scratch') base = { kind: 'scratch' };
    else base = { kind: 'image', ref: image };
    const stage: Stage = {
      index,
      base,
      from,
      instructions: s.instructions,
      dependsOn: [],
      needed: false,
      range: { start: from.range.start, end: (s.instructions[s.instructions.length - 1] ?? from).range.end },
    };
    if (from.stageName !== undefined) stage.name = from.stageName;
    if (from.platform !== undefined)
      stage.platform = withLocation(
        () => expandWordWithMatches(from.platform!, globalEnv, { escape: escapeToken }).result,
        from.range,
      );
    const deps = new Set<number>();
    if (base.kind === 'stage') deps.add(base.index);
    const resolve = (ref: string, range: SourceRange): SourceRef => {
      const r = resolveSourceRef(stageNames, ref, index, range);
      if (r.kind === 'stage') deps.add(r.index);
      return r;
    };
    const visit = (ins: Instruction): void => {
      if (ins.kind === 'copy' && ins.from !== undefined) ins.fromResolved = resolve(ins.from, ins.range);
      if (ins.kind === 'run') {
        for (const m of ins.mounts) if (m.from !== undefined) m.fromResolved = resolve(m.from, ins.range);
      }
      if (ins.kind === 'onbuild') visit(ins.trigger);
    };
    s.instructions.forEach(visit);
    stage.dependsOn = [...deps].sort((a, b) => a - b);
    return stage;
  }

  function checkDefaultArgs(from: FromInstruction, used: string[]): void {
    let withDefaults: string;
    try {
      withDefaults = expandWordWithMatches(from.image, defaultsEnv, { escape: escapeToken }).result;
    } catch {
      return;
    }
    if (!looksLikeImageName(withDefaults)) {
      linter.warn(rules.InvalidDefaultArgInFrom, from.range, used.join(', '));
    }
  }

  function fromChecks(from: FromInstruction): void {
    // With a stage name, the typed FROM had exactly `image AS name` after the flags.
    const words = from.original.trim().split(/\s+/);
    const asWord = from.stageName !== undefined ? words[words.length - 2] : undefined;
    if (asWord) {
      const fromUpper = from.keyword === from.keyword.toUpperCase();
      const asUpper = asWord === asWord.toUpperCase();
      if (fromUpper !== asUpper) linter.warn(rules.FromAsCasing, from.range, from.keyword, asWord);
      const written = words[words.length - 1]!;
      if (written !== written.toLowerCase()) linter.warn(rules.StageNameCasing, from.range, written);
    }
    if (from.stageName && RESERVED_STAGE_NAMES.has(from.stageName)) {
      linter.warn(rules.ReservedStageName, from.range, from.stageName);
    }
    if (from.platform !== undefined) {
      if (/^\$\{?TARGETPLATFORM\}?$/.test(from.platform))
        linter.warn(rules.RedundantTargetPlatform, from.range, from.platform);
      else if (!from.platform.includes('$'))
        linter.warn(rules.FromPlatformFlagConstDisallowed, from.range, from.platform);
    }
  }

  // Target and reachability.
  let target = stages.length - 1;
  if (opts.target !== undefined) {
    const t = byName.get(opts.target.toLowerCase());
    if (t === undefined) {
      throw new DockerfileError(
        'TARGET_NOT_FOUND',
        `target stage ${JSON.stringify(opts.target)} could not be found${didYouMean(opts.target, byName.keys())}`,
      );
    }
    target = t;
  }
  const stack = [target];
  while (stack.length > 0) {
    const i = stack.pop()!;
    const st = stages[i]!;
    if (st.needed) continue;
    st.needed = true;
    stack.push(...st.dependsOn);
  }

  for (const st of stages) {
    for (const ins of st.instructions)
      for (const a of ins.kind === 'arg' ? ins.args : []) declared.add(a.key);
  }
  stageChecks(stages, linter, { escape: escapeToken, buildArgs, globalEnv });

  const unusedBuildArgs = [...(buildArgs instanceof Map ? buildArgs.keys() : Object.keys(buildArgs))].filter(
    (k) => !declared.has(k) && !isPredefinedArg(k),
  );
  const proxyArgs: Record<string, string> = {};
  for (const [k, v] of buildArgs instanceof Map ? buildArgs : Object.entries(buildArgs))
    if (isProxyArg(k)) proxyArgs[k] = v;

  const warnings = [...ast.warnings, ...linter.warnings];
  if (unusedBuildArgs.length > 0) {
    warnings.push({
      rule: 'UnusedBuildArgs',
      message: `build args not declared by any ARG: ${unusedBuildArgs.join(', ')}`,
      url: 'https://docs.docker.com/reference/dockerfile/#arg',
      range: stages[target]!.from.range,
    });
  }
  warnings.sort((a, b) => a.range.start.line - b.range.start.line);
  const override = lookup(buildArgs, 'BUILDKIT_DOCKERFILE_CHECK');
  const directive = ast.directives.find((d) => d.name === 'check');
  const value = override ?? directive?.value;
  const cfg =
    value === undefined ? undefined : parseCheckConfig(value, override === undefined ? directive : undefined);
  const checks = { skip: cfg ? [...cfg.skip] : [], error: cfg?.error ?? false };
  const checked = applyChecks(checks, warnings);
  failOnWarnings(checks, checked);

  return {
    directives: ast.directives,
    escapeToken,
    globalArgs: globals,
    globalArgValues: Object.fromEntries(globalEnv),
    proxyArgs,
    stages,
    target,
    needed: stages.filter((s) => s.needed).map((s) => s.index),
    graph: stages.map((s) => s.dependsOn),
    targetPlatform,
    buildPlatform,
    unusedBuildArgs,
    warnings: checked,
    checks,
  };
}

/** A loose image reference check: non-empty, no blanks, no dangling `:`/`@`, no empty path part. */
function looksLikeImageName(ref: string): boolean {
  return (
    ref !== '' &&
    !/\s/.test(ref) &&
    !/[:@/]$/.test(ref) &&
    !ref.startsWith('/') &&
    !ref.includes('//') &&
    !ref.includes(':@')
  );
}
