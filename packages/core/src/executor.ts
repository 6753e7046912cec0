import type { Writable } from 'node:stream';

/** A mount set up for one RUN (`RUN --mount=...`). */
export interface RunMount {
  type: 'bind' | 'cache' | 'tmpfs' | 'secret' | 'ssh';
  target: string;
  source?: string;
  readonly?: boolean;
}

/** One RUN to execute inside a stage's root filesystem. */
export interface RunRequest {
  argv: string[];
  env: string[];
  cwd: string;
  user: string;
  rootfs: string;
  mounts: RunMount[];
  network: 'default' | 'none' | 'host';
  signal?: AbortSignal;
  stdout: Writable;
  stderr: Writable;
}

/**
 * Executes RUN instructions. kiln's own executors come with the RUN support; callers can pass any object with
 * this shape. `run` resolves with the exit status.
 */
export interface Executor {
  readonly name: string;
  /**
   * Where the executor runs commands. Absent: in `RunRequest.rootfs`, a directory kiln unpacks the stage into.
   * `'host'`: on this machine's own `/` (the in-place executor, kaniko mode); `build()` then unpacks each stage
   * over `/` (leaving kiln's own files alone), passes `rootfs: '/'`, and runs stages one after another.
   */
  readonly rootfs?: 'host';
  run(request: RunRequest): Promise<{ exitCode: number }>;
}
