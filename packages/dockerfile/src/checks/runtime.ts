import type { SourceRange, Warning } from '../ast.js';
import { DockerfileError } from '../errors.js';
import type { Instruction } from '../instructions/types.js';
import type { CheckSettings } from '../plan/types.js';
import { suggest } from '../suggest.js';
import { rules } from './rules.js';

/** Drops the warnings whose rule `checks.skip` names (or all of them for `all`). */
export function applyChecks(checks: CheckSettings, warnings: readonly Warning[]): Warning[] {
  if (checks.skip.includes('all')) return [];
  return warnings.filter((w) => !checks.skip.includes(w.rule));
}

/**
 * failOnWarnings throws `CHECK_FAILED` at the first warning when `# check=error=true` is in
 * effect (after skips); planBuild calls it for plan-time warnings, core may call it again with
 * the warnings it found at dispatch, as BuildKit fails the build at its end.
 */
export function failOnWarnings(checks: CheckSettings, warnings: readonly Warning[]): void {
  if (!checks.error || warnings.length === 0) return;
  const first = warnings[0]!;
  throw new DockerfileError(
    'CHECK_FAILED',
    `lint violation found for rules: ${[...new Set(warnings.map((w) => w.rule))].join(', ')} (first: ${first.message})`,
    { line: first.range.start.line, column: first.range.start.column },
  );
}

/** What is in scope when an instruction is dispatched. */
export interface VariableScope {
  /** ARG names declared in the stage so far, with or without a value: never reported. */
  declaredArgs: Iterable<string>;
  /** Names currently set (for the "did you mean" suggestion). */
  env: Iterable<string>;
}

/**
 * undefinedVarWarnings turns `expandInstruction(...).undefinedVars` into UndefinedVar warnings at
 * the instruction, skipping declared ARG names, with a suggestion from the names in scope. Core
 * uses it at dispatch, where the base image's Env is known.
 */
export function undefinedVarWarnings(
  instruction: Pick<Instruction, 'range'>,
  undefinedVars: readonly string[],
  scope: VariableScope,
): Warning[] {
  const declared = new Set(scope.declaredArgs);
  const out: Warning[] = [];
  for (const name of undefinedVars) {
    if (declared.has(name)) continue;
    out.push(undefinedVar(name, instruction.range, suggest(name, scope.env)));
  }
  return out;
}

function undefinedVar(name: string, range: SourceRange, suggestion: string | undefined): Warning {
  const rule = rules.UndefinedVar;
  return { rule: rule.name, message: rule.format(name, suggestion), url: rule.url, range };
}
