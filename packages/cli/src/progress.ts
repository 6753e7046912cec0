import type { BuildEvent } from '@kiln/core';
import type { CliIo } from './main.js';

/** Renders build events: readable lines (colour on a TTY) or one JSON object per line. */
export function createProgress(io: CliIo, format: string | undefined, verbosity: string | undefined) {
  const fmt = format ?? (io.stderr.isTTY ? 'color' : 'text');
  if (!['color', 'text', 'json'].includes(fmt))
    throw new Error(`--log-format "${fmt}" must be color, text or json`);
  const quiet = verbosity !== undefined && ['panic', 'fatal', 'error'].includes(verbosity);
  const debug = verbosity !== undefined && ['debug', 'trace'].includes(verbosity);
  const color = fmt === 'color';
  const dim = (s: string) => (color ? `\x1b[2m${s}\x1b[0m` : s);
  const bold = (s: string) => (color ? `\x1b[1m${s}\x1b[0m` : s);
  const yellow = (s: string) => (color ? `\x1b[33m${s}\x1b[0m` : s);
  const out = (line: string) => io.stderr.write(`${line}\n`);
  return {
    event(e: BuildEvent) {
      if (fmt === 'json') {
        out(JSON.stringify({ time: new Date().toISOString(), ...e }));
        return;
      }
      if (quiet && e.type !== 'warning') return;
      switch (e.type) {
        case 'stage-start':
          out(bold(`[stage ${e.name ?? e.stage}] FROM ${e.base}`));
          break;
        case 'instruction-start':
          out(`  ${e.text}`);
          break;
        case 'instruction-end':
          if (debug || e.layer)
            out(
              dim(
                `    ${(e.durationMs / 1000).toFixed(2)}s${e.layer ? ` layer ${e.layer.digest.slice(7, 19)} ${e.layer.size} B` : ''}`,
              ),
            );
          break;
        case 'warning':
          out(yellow(`warning: ${e.rule}: ${e.message}${e.location ? ` (line ${e.location.line})` : ''}`));
          break;
        case 'push':
          if (debug)
            out(
              dim(
                `  push ${e.digest.slice(7, 19)} → ${e.destination}${e.mounted ? ' (mounted)' : e.existed ? ' (exists)' : ''}`,
              ),
            );
          break;
        case 'output':
          out(`pushed ${e.destination}@${e.digest}`);
          break;
        case 'build-end':
          out(bold(`built ${e.digest} in ${(e.durationMs / 1000).toFixed(2)}s`));
          break;
        default:
          if (debug) out(dim(JSON.stringify(e)));
      }
    },
    done() {},
  };
}
