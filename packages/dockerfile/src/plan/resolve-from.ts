import type { SourceRange } from '../ast.js';
import { DockerfileError } from '../errors.js';
import type { SourceRef } from '../instructions/types.js';

/** Where the reference was written, for error locations. */
const at = (r?: SourceRange) =>
  r ? { line: r.start.line, column: r.start.column, endLine: r.end.line } : undefined;

/**
 * resolveSourceRef resolves a `COPY --from` / `RUN --mount from=` value seen in stage `current`:
 * a stage name (any case) or a 0-based index gives an earlier stage, anything else an image.
 * Naming the current stage is CIRCULAR_DEPENDENCY, a later one FROM_LATER_STAGE, an index past
 * the last stage UNKNOWN_STAGE, and a variable INVALID_FLAG (BuildKit expands none here).
 * planBuild applies it to every instruction; core uses it for ONBUILD triggers read from a
 * base stage's config (`resolveSourceRef(plan.stages, ref, stageIndex)`).
 */
export function resolveSourceRef(
  stages: readonly { name?: string }[],
  ref: string,
  current: number,
  range?: SourceRange,
): SourceRef {
  if (ref.includes('$')) {
    throw new DockerfileError(
      'INVALID_FLAG',
      `variable expansion is not supported for --from=${ref}; define a stage with FROM using a global ARG instead`,
      at(range),
    );
  }
  const lc = ref.toLowerCase();
  let index: number | undefined = stages.findIndex((s) => s.name === lc);
  if (index < 0) index = undefined;
  if (index === undefined && /^\d+$/.test(ref)) {
    index = Number.parseInt(ref, 10);
    if (index >= stages.length) {
      throw new DockerfileError(
        'UNKNOWN_STAGE',
        `--from=${ref}: there is no stage with index ${index}`,
        at(range),
      );
    }
  }
  if (index === undefined) return { kind: 'image', ref };
  if (index === current) {
    throw new DockerfileError(
      'CIRCULAR_DEPENDENCY',
      `circular dependency detected on stage: ${ref}`,
      at(range),
    );
  }
  if (index > current) {
    throw new DockerfileError(
      'FROM_LATER_STAGE',
      `--from=${ref} refers to stage ${index}, which is defined after the current stage ${current}`,
      at(range),
    );
  }
  return { kind: 'stage', index };
}
