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
export { DockerfileError, type DockerfileErrorCode, type DockerfileErrorLocation } from './errors.js';
export { dumpAst } from './parser/dump.js';
export { parseDockerfile } from './parser/parse.js';
export {
  type Env,
  type ExpansionResult,
  expandWord,
  expandWords,
  expandWordWithMatches,
  type LexOptions,
} from './shell/lexer.js';
