import type { Heredoc, SourceRange } from '../ast.js';

/** What every typed instruction carries. Words are UNEXPANDED (quotes and `$VAR` as written). */
export interface InstructionBase {
  range: SourceRange;
  /** The logical line as written (continuations joined). */
  original: string;
  /** The keyword as written (`COPY`, `copy`). */
  keyword: string;
  /** The flags as written, e.g. `--from=build`. */
  flags: string[];
}

/** One `key=value` (or legacy `key value`) pair; both sides unexpanded. */
export interface KeyValue {
  key: string;
  value: string;
}

/** A file made from a heredoc (`COPY <<EOF /dest`). */
export interface HeredocSource {
  /** The heredoc delimiter, used as the file name. */
  path: string;
  /** The body (tabs already stripped for `<<-`), unexpanded. */
  data: string;
  /** Whether the body is expanded (unquoted delimiter). */
  expand: boolean;
}

/** Where `COPY --from` or `RUN --mount from=` reads: an earlier stage or an image. */
export type SourceRef = { kind: 'stage'; index: number } | { kind: 'image'; ref: string };

/** One `RUN --mount=…` as parsed; string values unexpanded (expandInstruction expands all but `from`). */
export interface MountSpec {
  type: 'bind' | 'cache' | 'tmpfs' | 'secret' | 'ssh';
  target?: string;
  source?: string;
  /** Stage name, index or image; never expanded (BuildKit forbids variables here). */
  from?: string;
  /** Filled by planBuild. */
  fromResolved?: SourceRef;
  readOnly: boolean;
  id?: string;
  sharing?: 'shared' | 'private' | 'locked';
  required?: boolean;
  /** Octal file mode as written (`0400`). */
  mode?: string;
  uid?: string;
  gid?: string;
  /** tmpfs size as written (`64m`). */
  size?: string;
  /** secret: also (or only) expose it as this environment variable. */
  env?: string;
  /** The flag value as written. */
  raw: string;
}

export interface FromInstruction extends InstructionBase {
  kind: 'from';
  /** Base image, stage name or `scratch`, unexpanded. */
  image: string;
  /** The `AS` name, lower-cased. */
  stageName?: string;
  /** `--platform` value, unexpanded. */
  platform?: string;
}

export interface RunInstruction extends InstructionBase {
  kind: 'run';
  /** Exec form: the array. Shell form: one element, the command text (never expanded). */
  args: string[];
  json: boolean;
  mounts: MountSpec[];
  network?: string;
  security?: string;
  devices: string[];
  heredocs: Heredoc[];
}

export interface CmdInstruction extends InstructionBase {
  kind: 'cmd';
  args: string[];
  json: boolean;
}

export interface EntrypointInstruction extends InstructionBase {
  kind: 'entrypoint';
  args: string[];
  json: boolean;
}

export interface ShellInstruction extends InstructionBase {
  kind: 'shell';
  args: string[];
}

export interface EnvInstruction extends InstructionBase {
  kind: 'env';
  pairs: KeyValue[];
  /** `ENV key value` (one pair, the whole rest of the line as value). */
  legacy: boolean;
}

export interface LabelInstruction extends InstructionBase {
  kind: 'label';
  pairs: KeyValue[];
  legacy: boolean;
}

export interface MaintainerInstruction extends InstructionBase {
  kind: 'maintainer';
  name: string;
}

export interface ExposeInstruction extends InstructionBase {
  kind: 'expose';
  ports: string[];
}

/** Shared by COPY and ADD. */
export interface CopyLike extends InstructionBase {
  /** Sources from the context or `--from`, unexpanded (heredoc words removed). */
  sources: string[];
  heredocSources: HeredocSource[];
  dest: string;
  json: boolean;
  chown?: string;
  chmod?: string;
  link: boolean;
  exclude: string[];
}

export interface CopyInstruction extends CopyLike {
  kind: 'copy';
  /** `--from` as written. */
  from?: string;
  /** Filled by planBuild: the stage index or image `--from` names. */
  fromResolved?: SourceRef;
  parents: boolean;
}

export interface AddInstruction extends CopyLike {
  kind: 'add';
  checksum?: string;
  keepGitDir: boolean;
  /** `--unpack`; undefined means "archives from the context are unpacked, URLs are not". */
  unpack?: boolean;
}

export interface VolumeInstruction extends InstructionBase {
  kind: 'volume';
  paths: string[];
}

export interface UserInstruction extends InstructionBase {
  kind: 'user';
  user: string;
}

export interface WorkdirInstruction extends InstructionBase {
  kind: 'workdir';
  path: string;
}

/** One name of an ARG instruction; `value` is the unexpanded default. */
export interface ArgDeclaration {
  key: string;
  value?: string;
}

export interface ArgInstruction extends InstructionBase {
  kind: 'arg';
  args: ArgDeclaration[];
}

export interface OnbuildInstruction extends InstructionBase {
  kind: 'onbuild';
  /** The trigger text stored in the image config (`RUN echo hi`). */
  expression: string;
  /** The trigger parsed as an instruction. */
  trigger: Instruction;
}

export interface StopsignalInstruction extends InstructionBase {
  kind: 'stopsignal';
  signal: string;
}

export interface HealthcheckInstruction extends InstructionBase {
  kind: 'healthcheck';
  /** `['NONE']`, `['CMD', ...argv]` or `['CMD-SHELL', text]`. */
  test: string[];
  /** Durations in nanoseconds like the image config; undefined when not given. */
  interval?: number;
  timeout?: number;
  startPeriod?: number;
  startInterval?: number;
  retries?: number;
}

/** A typed instruction: a discriminated union on `kind`. */
export type Instruction =
  | FromInstruction
  | RunInstruction
  | CmdInstruction
  | EntrypointInstruction
  | ShellInstruction
  | EnvInstruction
  | LabelInstruction
  | MaintainerInstruction
  | ExposeInstruction
  | CopyInstruction
  | AddInstruction
  | VolumeInstruction
  | UserInstruction
  | WorkdirInstruction
  | ArgInstruction
  | OnbuildInstruction
  | StopsignalInstruction
  | HealthcheckInstruction;

/** The `kind` values. */
export type InstructionKind = Instruction['kind'];
