import type { SourceRange } from '../ast.js';
import { DockerfileError } from '../errors.js';
import { expandInstruction } from '../instructions/expand.js';
import type { Instruction } from '../instructions/types.js';
import { resolveArgValue } from '../plan/args.js';
import type { PlanOptions, Stage } from '../plan/types.js';
import { type Linter, looksSecret } from './linter.js';
import { rules } from './rules.js';
import { undefinedVarWarnings } from './runtime.js';

/** The PATH a scratch stage starts with (BuildKit adds it to every Linux stage lacking one). */
const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** What the per-stage checks need from the planner. */
export interface StageCheckContext {
  escape: '\\' | '`';
  buildArgs: NonNullable<PlanOptions['buildArgs']>;
  globalEnv: Map<string, string>;
}

/**
 * Per-stage rules. UndefinedVar is checked only for stages whose base chain ends in scratch:
 * for an image base the image's Env is unknown here, so core reports it at dispatch using
 * `expandInstruction`'s `undefinedVars`.
 */
export function stageChecks(stages: Stage[], linter: Linter, ctx: StageCheckContext): void {
  const finalEnv: (Map<string, string> | undefined)[] = [];
  for (const st of stages) {
    const known =
      st.base.kind === 'scratch'
        ? new Map([['PATH', DEFAULT_PATH]])
        : st.base.kind === 'stage' && finalEnv[st.base.index]
          ? new Map(finalEnv[st.base.index])
          : undefined;
    const argNames = new Set<string>();
    const seen = new Map<string, number>();
    let shellChanged = false;
    let absoluteWorkdir = false;
    const counted = st.instructions.filter(
      (i) => i.kind === 'cmd' || i.kind === 'entrypoint' || i.kind === 'healthcheck',
    );
    for (const ins of counted) seen.set(ins.kind, (seen.get(ins.kind) ?? 0) + 1);
    const remaining = new Map(seen);
    for (const ins of st.instructions) {
      switch (ins.kind) {
        case 'shell':
          shellChanged = true;
          break;
        case 'cmd':
        case 'entrypoint':
          if (!ins.json && !shellChanged)
            linter.warn(rules.JSONArgsRecommended, ins.range, ins.keyword.toUpperCase());
          break;
        case 'maintainer':
          linter.warn(rules.MaintainerDeprecated, ins.range);
          break;
        case 'env':
        case 'label':
          if (ins.legacy) linter.warn(rules.LegacyKeyValueFormat, ins.range, ins.keyword.toUpperCase());
          if (ins.kind === 'env')
            for (const p of ins.pairs)
              if (looksSecret(p.key)) linter.warn(rules.SecretsUsedInArgOrEnv, ins.range, 'ENV', p.key);
          break;
        case 'arg':
          for (const a of ins.args) {
            argNames.add(a.key);
            if (looksSecret(a.key)) linter.warn(rules.SecretsUsedInArgOrEnv, ins.range, 'ARG', a.key);
          }
          break;
        case 'workdir':
          if (ins.path.startsWith('/') || ins.path.startsWith('$')) absoluteWorkdir = true;
          else if (!absoluteWorkdir && st.base.kind !== 'stage')
            linter.warn(rules.WorkdirRelativePath, ins.range, ins.path);
          break;
        case 'expose':
          for (const p of ins.ports) {
            if (p.includes('$')) continue;
            const slash = p.indexOf('/');
            const proto = slash < 0 ? '' : p.slice(slash + 1);
            if (proto !== proto.toLowerCase()) linter.warn(rules.ExposeProtoCasing, ins.range, p);
            if ((slash < 0 ? p : p.slice(0, slash)).includes(':'))
              linter.warn(rules.ExposeInvalidFormat, ins.range, p);
          }
          break;
      }
      if (ins.kind === 'cmd' || ins.kind === 'entrypoint' || ins.kind === 'healthcheck') {
        const left = remaining.get(ins.kind)! - 1;
        remaining.set(ins.kind, left);
        if (left > 0) linter.warn(rules.MultipleInstructionsDisallowed, ins.range, ins.keyword.toUpperCase());
      }
      if (known) simulate(ins, known, argNames, linter, ctx);
    }
    finalEnv[st.index] = known;
  }
}

/** Feeds one instruction through expansion with the known env; reports undefined variables. */
function simulate(
  ins: Instruction,
  env: Map<string, string>,
  argNames: Set<string>,
  linter: Linter,
  ctx: StageCheckContext,
): void {
  try {
    if (ins.kind === 'arg') {
      for (const a of ins.args) {
        const r = resolveArgValue(a, {
          buildArgs: ctx.buildArgs,
          globalArgs: ctx.globalEnv,
          env,
          escape: ctx.escape,
        });
        report(r.undefinedVars, ins.range, env, argNames, linter);
        if (r.value !== undefined) env.set(a.key, r.value);
      }
      return;
    }
    const { instruction, undefinedVars } = expandInstruction(ins, env, { escape: ctx.escape });
    report(undefinedVars, ins.range, env, argNames, linter);
    if (instruction.kind === 'env') for (const p of instruction.pairs) env.set(p.key, p.value);
  } catch (err) {
    // Expansion errors depend on dispatch-time values (`${X:?}`); core raises them there.
    if (!(err instanceof DockerfileError)) throw err;
  }
}

function report(
  names: string[],
  range: SourceRange,
  env: Map<string, string>,
  args: Set<string>,
  linter: Linter,
) {
  linter.warnings.push(...undefinedVarWarnings({ range }, names, { declaredArgs: args, env: env.keys() }));
}
