import { readdir } from 'node:fs/promises';
import {
  diffDirectories,
  type LayerEntry,
  layerFromOverlayUpper,
  opaqueDirectories,
  recordTree,
  withoutTouchedDirectories,
} from '@kiln/snapshot';
import { mountOverlay, type OverlayMount } from './overlay-mount.js';
import type { StageContext } from './run-stage.js';
import type { StageState } from './stage-state.js';

/** How a RUN's changes were found: its overlay upper dir, or a directory diff of the whole rootfs. */
export type SnapshotMethod = 'overlay' | 'dir-diff';

/** What the `snapshot` event reports. */
export interface SnapshotReport {
  method: SnapshotMethod;
  /**
   * Time spent finding the changes, the command's own time excluded: for `overlay`, putting a fresh upper dir
   * in place before the command and reading it after; for `dir-diff`, recording the tree before and diffing
   * it after. Writing the layer is not included.
   */
  durationMs: number;
  /** Layer entries found (whiteouts included). */
  entries: number;
}

/** A stage's overlay, and the opaque directories of each of its layers (the base has none). */
interface StageOverlay {
  mount: OverlayMount;
  opaque: Map<string, readonly string[]>;
  /** False once a rotation failed: the upper dir then mixes steps, and RUNs fall back to the directory diff. */
  rotating: boolean;
}

const overlays = new WeakMap<StageState, StageOverlay>();

/**
 * Whether RUN stages may use overlayfs at all. `KILN_OVERLAY=0` turns it off: the rootfs is unpacked into a
 * plain directory and RUN changes are found by directory diff, as without root.
 */
export function overlayAllowed(): boolean {
  return process.env.KILN_OVERLAY !== '0';
}

/**
 * Mounts the stage's overlay over the unpacked base `lower` (undone at the end of the build); resolves the
 * merged view, or undefined when overlay is off or cannot be mounted.
 */
export async function mountStageOverlay(
  ctx: StageContext,
  state: StageState,
  lower: string,
): Promise<string | undefined> {
  if (!overlayAllowed()) return undefined;
  const mount = await mountOverlay(lower, ctx.workDir);
  if (!mount) return undefined;
  ctx.cleanups.push(() => mount.unmount());
  overlays.set(state, { mount, opaque: new Map([[lower, []]]), rotating: true });
  return mount.merged;
}

/** Tracks one RUN's changes from before the command until {@link RunSnapshot.finish}. */
export interface RunSnapshot {
  finish(): Promise<{ entries: LayerEntry[]; report: SnapshotReport }>;
}

/**
 * Starts watching the stage's rootfs for one RUN's changes. With an overlay, the upper dir is rotated first
 * (when anything, a COPY included, wrote to it since the last RUN) so that it receives exactly this RUN's
 * changes, and reading it costs O(changes); otherwise every path's metadata is recorded now and compared
 * afterwards (O(files)). `ignore`: relative paths left out with everything below them.
 */
export async function startSnapshot(
  ctx: StageContext,
  state: StageState,
  rootfs: string,
  ignore: readonly string[],
): Promise<RunSnapshot> {
  const signal = ctx.signal ? { signal: ctx.signal } : {};
  const started = performance.now();
  const ov = overlays.get(state);
  if (ov?.rotating && ov.mount.merged === rootfs) {
    const { mount } = ov;
    if ((await readdir(mount.upper)).length > 0) {
      const done = mount.upper;
      const opaque =
        ov.opaque.get(done) ??
        (await opaqueDirectories(done, { xattrNamespace: mount.xattrNamespace, ...signal }));
      if (await mount.rotate()) ov.opaque.set(done, opaque);
      else ov.rotating = false;
    }
    if (ov.rotating) {
      const prepareMs = performance.now() - started;
      return {
        async finish() {
          const t = performance.now();
          const changes = await layerFromOverlayUpper(mount.upper, {
            ignore,
            lowers: mount.lowers.map((dir) => ({ dir, opaque: ov.opaque.get(dir) ?? [] })),
            xattrNamespace: mount.xattrNamespace,
            ...signal,
          });
          ov.opaque.set(mount.upper, changes.opaque);
          const durationMs = prepareMs + performance.now() - t;
          return {
            entries: changes.entries,
            report: { method: 'overlay', durationMs, entries: changes.entries.length },
          };
        },
      };
    }
  }
  const before = await recordTree(rootfs, { ignore, ...signal });
  const prepareMs = performance.now() - started;
  return {
    async finish() {
      const t = performance.now();
      const diff = withoutTouchedDirectories(await diffDirectories(before, signal), before);
      const durationMs = prepareMs + performance.now() - t;
      return {
        entries: diff.entries,
        report: { method: 'dir-diff', durationMs, entries: diff.entries.length },
      };
    },
  };
}
