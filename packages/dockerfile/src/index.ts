export type {
  Directive,
  DockerfileAst,
  Heredoc,
  Node,
  ParseOptions,
  Position,
  SourceRange,
  Warning,
} from './ast.js';
export { type CheckRule, type RuleName, rules } from './checks/rules.js';
export { applyChecks, failOnWarnings, undefinedVarWarnings, type VariableScope } from './checks/runtime.js';
export { DockerfileError, type DockerfileErrorCode, type DockerfileErrorLocation } from './errors.js';
export {
  commandArgv,
  DEFAULT_SHELL,
  type InlineFile,
  type RunCommandLine,
  runCommandLine,
} from './instructions/command-line.js';
export type { ExpandedInstruction, ExpandOptions } from './instructions/expand.js';
export { expandInstruction } from './instructions/expand.js';
export { parseInstruction } from './instructions/parse-instruction.js';
export type * from './instructions/types.js';
export { dumpAst } from './parser/dump.js';
export { parseDockerfile } from './parser/parse.js';
export { type ArgContext, PROXY_ARGS, type ResolvedArg, resolveArgValue } from './plan/args.js';
export { planBuild } from './plan/plan.js';
export { formatPlatform, parsePlatform } from './plan/platform.js';
export { resolveSourceRef } from './plan/resolve-from.js';
export type { BuildPlan, PlanOptions, Platform, Stage, StageBase } from './plan/types.js';
export {
  type Env,
  type ExpansionResult,
  expandWord,
  expandWords,
  expandWordWithMatches,
  type LexOptions,
} from './shell/lexer.js';
