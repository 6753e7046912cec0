import type { Readable } from 'node:stream';
import { openInRoot } from '../executors/root-path.js';
import { cloneTree, FileTree } from '../fs/tree.js';
import { cloneConfig, envToMap, type ImageConfigFile } from '../image/config.js';
import type { LayerRecord } from '../image/layer-record.js';

/** Reads files of the base image that kiln did not write itself (the content is in the base layers). */
export interface BaseContentReader {
  open(path: string): Promise<Readable>;
  /** Contents captured while indexing (small files such as etc/passwd), when available. */
  captured?(path: string): Buffer | undefined;
}

/** Where a stage's filesystem knowledge comes from before any instruction: nothing, a base index, another stage. */
export interface StageFilesystem {
  /** The merged metadata tree; built on first use (it may download base layers to read their tar headers). */
  tree(): Promise<FileTree>;
  /** Reads the content of a file that came from the base image. */
  base: BaseContentReader;
}

/**
 * The state of one stage while its instructions run: the image config being written, the layers so far,
 * the build args in scope, and a lazily loaded view of the filesystem.
 */
export class StageState {
  config: ImageConfigFile;
  layers: LayerRecord[];
  /** ARG values in scope in this stage (not persisted in the image). */
  args = new Map<string, string>();
  /** Every ARG name declared in this stage so far, with or without a value (never an undefined variable). */
  declaredArgs = new Set<string>();
  /** Set when CMD was written in this stage: a later ENTRYPOINT then keeps it. */
  cmdSet = false;
  private treePromise?: Promise<FileTree>;
  /** The unpacked root filesystem, once a RUN needed it; later layers are applied to it too. */
  rootfsDir?: string;
  /** Set while the rootfs is being unpacked, so concurrent callers wait for the same work. */
  materializing?: Promise<string>;
  /**
   * Set when the stage gave up the machine's `/` to another stage (in-place builds): gives a directory
   * holding the stage's files again, unpacked on first use.
   */
  reopen?: () => Promise<string>;

  constructor(
    config: ImageConfigFile,
    layers: LayerRecord[],
    readonly fs: StageFilesystem,
  ) {
    this.config = cloneConfig(config);
    this.layers = [...layers];
  }

  /** The stage's filesystem tree, loaded from the base on first call, then changed by each instruction. */
  tree(): Promise<FileTree> {
    this.treePromise ??= this.fs.tree().then(cloneTree);
    return this.treePromise;
  }

  /**
   * Opens a regular file of the stage that kiln did not add itself: from the unpacked rootfs when there is one
   * (RUN may have changed it), else from the base image.
   */
  openFile(p: string): Promise<Readable> {
    // The path comes from the tree; opening it resolves the rootfs's own symlinks inside it, never on the host.
    if (this.rootfsDir) return openInRoot(this.rootfsDir, p);
    if (this.reopen) return this.reopen().then((dir) => openInRoot(dir, p));
    return this.fs.base.open(p);
  }

  /**
   * The base image's captured copy of a small file (etc/passwd…), while it is still the stage's file: never
   * once the stage's files are on disk or were (a RUN may have changed them; they are read from there).
   */
  capturedFile(p: string): Buffer | undefined {
    return this.rootfsDir || this.reopen ? undefined : this.fs.base.captured?.(p);
  }

  /** Variables visible to expansion: ARGs in scope, overridden by ENV (Docker's precedence). */
  expansionEnv(): Map<string, string> {
    const env = new Map(this.args);
    for (const [k, v] of envToMap(this.config.config.Env)) env.set(k, v);
    return env;
  }

  /** The working directory, `/` when unset. */
  get workdir(): string {
    return this.config.config.WorkingDir || '/';
  }
}

/** A filesystem with nothing in it (FROM scratch). */
export function emptyFilesystem(): StageFilesystem {
  const tree = new FileTree();
  return {
    tree: async () => tree,
    base: {
      open: async (p) => {
        throw new Error(`no base image content for /${p}`);
      },
    },
  };
}
