/**
 * OCI whiteouts (image-spec layer.md, "Whiteouts"): an empty file `.wh.<name>` deletes `<name>`
 * from lower layers; `.wh..wh..opq` in a directory hides everything the lower layers had in it.
 */
export const WHITEOUT_PREFIX = '.wh.';
/** The opaque-directory marker's file name. */
export const OPAQUE_WHITEOUT = '.wh..wh..opq';

/** What a base name means: an opaque marker, a whiteout of `target`, or an ordinary name. */
export function classifyWhiteout(
  base: string,
): { kind: 'opaque' } | { kind: 'whiteout'; target: string } | undefined {
  if (base === OPAQUE_WHITEOUT) return { kind: 'opaque' };
  if (base.startsWith(WHITEOUT_PREFIX))
    return { kind: 'whiteout', target: base.slice(WHITEOUT_PREFIX.length) };
  return undefined;
}
