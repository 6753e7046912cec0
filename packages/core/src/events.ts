import diagnosticsChannel from 'node:diagnostics_channel';

/** Where an instruction is in the Dockerfile. */
export interface SourceLocation {
  line: number;
  column: number;
}

/**
 * Everything `build()` reports while it works. The library never prints; the CLI renders these.
 * Each event is also published on the `node:diagnostics_channel` channel `kiln:build` (see {@link buildChannel}).
 */
export type BuildEvent =
  | { type: 'build-start'; stages: number; target: string }
  | { type: 'stage-start'; stage: number; name?: string; base: string }
  | { type: 'stage-end'; stage: number; name?: string; durationMs: number }
  | {
      type: 'instruction-start';
      stage: number;
      index: number;
      text: string;
      location: SourceLocation;
    }
  | {
      type: 'instruction-end';
      stage: number;
      index: number;
      text: string;
      durationMs: number;
      layer?: { digest: string; size: number };
    }
  | { type: 'run-output'; stage: number; index: number; stream: 'stdout' | 'stderr'; text: string }
  /**
   * How a RUN's changes were found (`overlay`: its own upper dir; `dir-diff`: the whole rootfs compared with a
   * record made before the command), how long that took (the command and the layer writing excluded) and how
   * many layer entries it gave. Sent after the command, before its `instruction-end`.
   */
  | {
      type: 'snapshot';
      stage: number;
      index: number;
      method: 'overlay' | 'dir-diff';
      durationMs: number;
      entries: number;
    }
  | { type: 'warning'; rule: string; message: string; location?: SourceLocation; url?: string }
  | { type: 'pull'; digest: string; bytes: number; reason: string }
  | { type: 'push'; destination: string; digest: string; bytes: number; mounted?: boolean; existed?: boolean }
  | { type: 'output'; destination: string; digest: string }
  | { type: 'build-end'; digest: string; durationMs: number };

/** The diagnostics channel every build event is published on. */
export const buildChannel = diagnosticsChannel.channel('kiln:build');

/** Sends an event to the caller's callback and to the diagnostics channel. */
export function makeEmitter(onEvent?: (e: BuildEvent) => void): (e: BuildEvent) => void {
  return (e) => {
    if (buildChannel.hasSubscribers) buildChannel.publish(e);
    onEvent?.(e);
  };
}
