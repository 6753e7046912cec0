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

/** `FROM [--platform=…] image [AS name]`: starts a stage. */
export interface FromInstruction extends InstructionBase {
  kind: 'from';
  /** Base image, stage name or `scratch`, unexpanded. */
  image: string;
  /** The `AS` name, lower-cased. */
  stageName?: string;
  /** `--platform` value, unexpanded. */
  platform?: string;
}

/** `RUN`: a command for the executor; its text is never expanded by kiln. */
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

/** `CMD`: the default command (or arguments to ENTRYPOINT). */
export interface CmdInstruction extends InstructionBase {
  kind: 'cmd';
  args: string[];
  json: boolean;
}

/** `ENTRYPOINT`: the command the image runs. */
export interface EntrypointInstruction extends InstructionBase {
  kind: 'entrypoint';
  args: string[];
  json: boolean;
}

/** `SHELL ["…"]`: the shell for later shell-form instructions (JSON form only). */
export interface ShellInstruction extends InstructionBase {
  kind: 'shell';
  args: string[];
}

/** `ENV`: environment variables for later instructions and the image. */
export interface EnvInstruction extends InstructionBase {
  kind: 'env';
  pairs: KeyValue[];
  /** `ENV key value` (one pair, the whole rest of the line as value). */
  legacy: boolean;
}

/** `LABEL`: image labels. */
export interface LabelInstruction extends InstructionBase {
  kind: 'label';
  pairs: KeyValue[];
  legacy: boolean;
}

/** `MAINTAINER` (deprecated): the image author. */
export interface MaintainerInstruction extends InstructionBase {
  kind: 'maintainer';
  name: string;
}

/** `EXPOSE`: ports, sorted as strings like BuildKit does. */
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

/** `COPY`: files from the context, a stage or an image. */
export interface CopyInstruction extends CopyLike {
  kind: 'copy';
  /** `--from` as written. */
  from?: string;
  /** Filled by planBuild: the stage index or image `--from` names. */
  fromResolved?: SourceRef;
  parents: boolean;
}

/** `ADD`: like COPY, plus URLs, git repositories and archive unpacking. */
export interface AddInstruction extends CopyLike {
  kind: 'add';
  checksum?: string;
  keepGitDir: boolean;
  /** `--unpack`; undefined means "archives from the context are unpacked, URLs are not". */
  unpack?: boolean;
}

/** `VOLUME`: mount points recorded in the image config (entries trimmed). */
export interface VolumeInstruction extends InstructionBase {
  kind: 'volume';
  paths: string[];
}

/** `USER user[:group]`. */
export interface UserInstruction extends InstructionBase {
  kind: 'user';
  user: string;
}

/** `WORKDIR`: the working directory, relative paths join the previous one. */
export interface WorkdirInstruction extends InstructionBase {
  kind: 'workdir';
  path: string;
}

/** One name of an ARG instruction; `value` is the unexpanded default. */
export interface ArgDeclaration {
  key: string;
  value?: string;
}

/** `ARG name[=default] …`: build arguments in scope from here on. */
export interface ArgInstruction extends InstructionBase {
  kind: 'arg';
  args: ArgDeclaration[];
}

/** `ONBUILD`: a trigger stored in the image for builds that use it as a base. */
export interface OnbuildInstruction extends InstructionBase {
  kind: 'onbuild';
  /** The trigger text stored in the image config (`RUN echo hi`). */
  expression: string;
  /** The trigger parsed as an instruction. */
  trigger: Instruction;
}

/** `STOPSIGNAL`: the signal that stops the container. */
export interface StopsignalInstruction extends InstructionBase {
  kind: 'stopsignal';
  signal: string;
}

/** `HEALTHCHECK`: how to probe the container; `NONE` disables an inherited one. */
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
