import { existsSync } from 'node:fs';
import { lstat } from 'node:fs/promises';
import type { BuildPlan } from '@kiln/dockerfile';
import type { FileSystem } from '@kiln/snapshot';
import { KilnError } from '../errors.js';
import { extractLayers } from '../image/extract-layers.js';
import { findOwnPaths, type OwnPathsInput } from './own-paths.js';
import { guardedFileSystem, PathGuard, prune } from './path-guard.js';
import type { StageContext } from './run-stage.js';
import type { StageState } from './stage-state.js';

/**
 * HostRoot: the machine's own `/` as the root filesystem of RUN, for an executor with `rootfs: 'host'` (the
 * in-place executor, kaniko mode). One stage's filesystem is on `/` at a time (stages run one after another):
 *
 * - the first time a stage needs a root filesystem, `/` is emptied of everything that is not kiln's own
 *   ({@link findOwnPaths}) and the stage's layers (base and kiln's own so far) are unpacked over it with the
 *   safe extractor, which cannot write, change or remove anything kiln owns ({@link guardedFileSystem});
 * - when a later stage needs `/`, the stage holding it (finished by then) gives it up: it is emptied again
 *   and the new stage unpacked — unless the new stage starts with all of the holder's layers (`FROM holder`),
 *   in which case only the new layers are applied. A stage that gave up `/` and is read later (`COPY --from`,
 *   a bind mount) is unpacked into the work dir on first use, as in the other executors;
 * - snapshots of `/` leave kiln's own paths out ({@link HostRoot.ignored}).
 *
 * Files the running Node needs to start again (its binary and libraries in shared system directories) are
 * kept by the emptying unless the image has its own at the same path.
 */
export class HostRoot {
  /** Paths (relative to the root) every snapshot leaves out. */
  readonly ignored: string[];
  readonly #own: PathGuard;
  readonly #keep: PathGuard;
  #holder?: StageState;
  readonly #finished = new WeakSet<StageState>();

  private constructor(
    readonly root: string,
    own: string[],
    runtime: string[],
    private readonly dev: number,
  ) {
    const exists = (p: string) => existsSync(p);
    this.#own = new PathGuard(own, own.filter(exists));
    const all = [...own, ...runtime];
    this.#keep = new PathGuard(all, all.filter(exists));
    this.ignored = this.#own.relativeTo(root);
  }

  /** Finds kiln's own paths for this build (see {@link findOwnPaths}). `root` is `/` except in unit tests. */
  static async open(input: OwnPathsInput, root = '/'): Promise<HostRoot> {
    const { own, runtime } = await findOwnPaths(input);
    return HostRoot.of(root, own, runtime);
  }

  /** A HostRoot with the given protected paths (absolute, symlink-free), for tests. */
  static async of(root: string, own: string[], runtime: string[] = []): Promise<HostRoot> {
    return new HostRoot(root, own, runtime, (await lstat(root)).dev);
  }

  /** Options for every extraction into the root: the guarded file system. */
  extractOptions(): { fs: FileSystem } {
    return { fs: guardedFileSystem(this.#own, this.dev) };
  }

  /** Marks a stage finished: it no longer needs `/`, and reads of it may come from a copy. */
  finished(state: StageState): void {
    this.#finished.add(state);
  }

  isFinished(state: StageState): boolean {
    return this.#finished.has(state);
  }

  /** Deletes everything in the root that is neither kiln's own nor a runtime file. */
  async empty(): Promise<void> {
    await prune(this.root, this.#keep, this.dev);
  }

  /**
   * Puts the stage's filesystem on the root and returns the root. Callers memoize it per stage
   * (`state.materializing`), so it runs once per stage.
   */
  async take(ctx: StageContext, state: StageState): Promise<string> {
    const holder = this.#holder;
    if (holder && !this.#finished.has(holder))
      throw new KilnError(
        'KILN_IN_PLACE_BUSY',
        'the in-place executor holds one stage on / at a time, and another stage still needs it',
      );
    const keep =
      holder !== undefined &&
      holder.layers.length <= state.layers.length &&
      holder.layers.every((l, i) => l.diffId === state.layers[i]!.diffId);
    if (holder) this.#release(ctx, holder);
    this.#holder = state;
    if (!keep) await this.empty();
    const layers = keep ? state.layers.slice(holder!.layers.length) : state.layers;
    await extractLayers(layers, this.root, {
      allowDevices: 'skip',
      ...this.extractOptions(),
      ...(ctx.signal ? { signal: ctx.signal } : {}),
    });
    state.rootfsDir = this.root;
    return this.root;
  }

  /** The holder gives up the root; later reads of its files come from a copy unpacked on first use. */
  #release(ctx: StageContext, holder: StageState): void {
    holder.rootfsDir = undefined;
    holder.materializing = undefined;
    let copy: Promise<string> | undefined;
    holder.reopen = () =>
      (copy ??= import('./run-step.js').then(({ materialize }) => materialize(ctx, holder)));
  }
}

/**
 * Refuses, before any work, what an in-place build cannot do: running as anyone but root (unpacking an image
 * over `/` needs it), and `RUN --network=none` (the executor cannot isolate the network), naming the line.
 */
export function checkInPlacePlan(plan: BuildPlan, file: string): void {
  if (process.getuid?.() !== 0)
    throw new KilnError(
      'KILN_IN_PLACE_ROOT',
      'an in-place build unpacks images over / and must run as root (or use the namespace executor)',
    );
  for (const i of plan.needed)
    for (const ins of plan.stages[i]!.instructions)
      if (ins.kind === 'run' && ins.network === 'none') {
        const { line, column } = ins.range.start;
        throw new KilnError(
          'KILN_RUN_UNSUPPORTED',
          `${file}:${line}: ${ins.original}: the in-place executor cannot isolate the network (--network=none); use the namespace executor`,
          { location: { file, line, column } },
        );
      }
}
