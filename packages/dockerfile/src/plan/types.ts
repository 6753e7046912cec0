import type { Directive, SourceRange, Warning } from '../ast.js';
import type { ArgInstruction, FromInstruction, Instruction } from '../instructions/types.js';

/** What a stage starts from. `ref` is the image reference after global-ARG expansion. */
export type StageBase =
  | { kind: 'scratch' }
  | { kind: 'stage'; index: number }
  | { kind: 'image'; ref: string };

/** One build stage (one FROM and the instructions up to the next). */
export interface Stage {
  /** 0-based position in the file. */
  index: number;
  /** The `AS` name, lower-cased. */
  name?: string;
  base: StageBase;
  /** `FROM --platform`, expanded with the global ARGs. */
  platform?: string;
  /** The FROM instruction (image and platform as written). */
  from: FromInstruction;
  /** Typed, UNEXPANDED instructions, in order (FROM excluded). COPY --from / RUN --mount from= are resolved. */
  instructions: Instruction[];
  /** Stages this one needs: its base stage and every `--from`/`from=` stage, ascending. */
  dependsOn: number[];
  /** Whether the target needs this stage (false: pruned, never built). */
  needed: boolean;
  /** From the FROM line to the end of the stage's last instruction. */
  range: SourceRange;
}

/** Options of `planBuild`. */
export interface PlanOptions {
  /** `--build-arg` values. */
  buildArgs?: Readonly<Record<string, string>> | ReadonlyMap<string, string>;
  /** Stage name to build; default: the last stage. */
  target?: string;
  /** Target platform `os/arch[/variant]`; default: `buildPlatform`. */
  platform?: string;
  /** Platform of the machine building; default `linux/amd64` (the package does no I/O to detect it). */
  buildPlatform?: string;
}

/** A parsed platform. */
export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

/** The result of planning a build. */
export interface BuildPlan {
  directives: Directive[];
  escapeToken: '\\' | '`';
  /** ARG instructions before the first FROM. */
  globalArgs: ArgInstruction[];
  /**
   * Values in global scope after build args: predefined platform args plus the global ARGs that
   * have a value. A stage sees one only after re-declaring it (`ARG NAME`).
   */
  globalArgValues: Record<string, string>;
  /** Proxy build args (`HTTP_PROXY` family, any case): given to every RUN without declaration. */
  proxyArgs: Record<string, string>;
  stages: Stage[];
  /** Index of the target stage. */
  target: number;
  /** Indexes of the stages to build, ascending (dependencies come first). */
  needed: number[];
  /** Dependency graph: stage index → indexes it depends on. */
  graph: number[][];
  targetPlatform: Platform;
  buildPlatform: Platform;
  /** Build args no ARG declares and that are not predefined. */
  unusedBuildArgs: string[];
  /** Lint warnings (parse-time ones included), in line order, `checks.skip` applied. */
  warnings: Warning[];
  /** The `# check=` directive (or `BUILDKIT_DOCKERFILE_CHECK` build arg) in effect. */
  checks: CheckSettings;
}

/** Which rules to skip (`all` skips every rule) and whether warnings fail the build. */
export interface CheckSettings {
  skip: string[];
  error: boolean;
}
