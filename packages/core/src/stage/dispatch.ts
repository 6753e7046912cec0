import type { Instruction } from '@kiln/dockerfile';
import { KilnError } from '../errors.js';
import type { HistoryEntry } from '../image/config.js';
import { setEnv } from '../image/config.js';
import { commandLine, exposedPorts } from '../instructions/metadata.js';
import type { StageState } from './stage-state.js';

/** What dispatching one instruction produced for history and events. */
export interface DispatchOutcome {
  /** The history `created_by` text. */
  createdBy: string;
  /** Whether a layer was added. */
  layer: boolean;
}

/**
 * Applies a metadata-only instruction (one that changes the config, never the filesystem) to the stage,
 * with its words already expanded. Returns undefined for instructions that are not metadata-only.
 */
export function applyMetadata(state: StageState, ins: Instruction): DispatchOutcome | undefined {
  const c = state.config.config;
  switch (ins.kind) {
    case 'env':
      for (const { key, value } of ins.pairs) setEnv(c, key, value);
      return { createdBy: `ENV ${ins.pairs.map((p) => `${p.key}=${p.value}`).join(' ')}`, layer: false };
    case 'label':
      c.Labels ??= {};
      for (const { key, value } of ins.pairs) c.Labels[key] = value;
      return { createdBy: `LABEL ${ins.pairs.map((p) => `${p.key}=${p.value}`).join(' ')}`, layer: false };
    case 'maintainer':
      state.config.author = ins.name;
      return { createdBy: `MAINTAINER ${ins.name}`, layer: false };
    case 'expose': {
      c.ExposedPorts ??= {};
      for (const p of exposedPorts(ins.ports, ins.original)) c.ExposedPorts[p] = {};
      return { createdBy: `EXPOSE map[${ins.ports.join(' ')}]`, layer: false };
    }
    case 'volume':
      c.Volumes ??= {};
      for (const v of ins.paths) {
        if (v.trim() === '')
          throw new KilnError(
            'KILN_BAD_VOLUME',
            `${ins.original}: VOLUME specified can not be an empty string`,
          );
        c.Volumes[v] = {};
      }
      return { createdBy: `VOLUME [${ins.paths.join(' ')}]`, layer: false };
    case 'user':
      c.User = ins.user;
      return { createdBy: `USER ${ins.user}`, layer: false };
    case 'stopsignal':
      c.StopSignal = ins.signal;
      return { createdBy: `STOPSIGNAL ${ins.signal}`, layer: false };
    case 'shell':
      c.Shell = ins.args;
      return { createdBy: `SHELL [${ins.args.join(' ')}]`, layer: false };
    case 'cmd':
      c.Cmd = commandLine(c, ins.args, ins.json);
      state.cmdSet = true;
      return { createdBy: `CMD [${c.Cmd.map((a) => JSON.stringify(a)).join(' ')}]`, layer: false };
    case 'entrypoint':
      c.Entrypoint = commandLine(c, ins.args, ins.json);
      // Docker: an ENTRYPOINT resets a CMD inherited from the base; a CMD written earlier in this stage stays.
      if (!state.cmdSet) c.Cmd = null;
      return {
        createdBy: `ENTRYPOINT [${c.Entrypoint.map((a) => JSON.stringify(a)).join(' ')}]`,
        layer: false,
      };
    case 'healthcheck': {
      if (ins.test[0] === 'NONE') c.Healthcheck = { Test: ['NONE'] };
      else {
        const h: NonNullable<typeof c.Healthcheck> = { Test: ins.test };
        if (ins.interval) h.Interval = ins.interval;
        if (ins.timeout) h.Timeout = ins.timeout;
        if (ins.startPeriod) h.StartPeriod = ins.startPeriod;
        if (ins.startInterval) h.StartInterval = ins.startInterval;
        if (ins.retries) h.Retries = ins.retries;
        c.Healthcheck = h;
      }
      return { createdBy: `HEALTHCHECK ${JSON.stringify(ins.test)}`, layer: false };
    }
    case 'onbuild':
      c.OnBuild = [...(c.OnBuild ?? []), ins.expression];
      return { createdBy: `ONBUILD ${ins.expression}`, layer: false };
    default:
      return undefined;
  }
}

/** Adds a history entry. */
export function addHistory(
  state: StageState,
  createdBy: string,
  emptyLayer: boolean,
  created?: string,
): void {
  const h: HistoryEntry = { created_by: createdBy, comment: 'kiln' };
  if (created) h.created = created;
  if (emptyLayer) h.empty_layer = true;
  state.config.history = [...(state.config.history ?? []), h];
}
