import type { FlagSpec } from './flags.js';

/** Parsed flags: strings for 'string', booleans for 'bool', arrays for 'list'. */
export type FlagValues = Record<string, string | boolean | string[]>;

/** A usage error: printed as one line, exit status 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

function distance(a: string, b: string): number {
  const d = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = d[0]!;
    d[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = d[j]!;
      d[j] = Math.min(d[j]! + 1, d[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return d[b.length]!;
}

/**
 * Parses argv the way kaniko's pflag does: `--name value`, `--name=value`, `-f value`, boolean flags bare or
 * with `=true|false`, list flags repeatable. Unknown flags are an error with a suggestion.
 */
export function parseArgs(
  argv: readonly string[],
  specs: readonly FlagSpec[],
): { values: FlagValues; positionals: string[] } {
  const byName = new Map<string, FlagSpec>();
  for (const s of specs) {
    byName.set(`--${s.name}`, s);
    if (s.short) byName.set(`-${s.short}`, s);
    for (const a of s.aliases ?? []) byName.set(`--${a}`, s);
  }
  const values: FlagValues = {};
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith('-') || arg === '-') {
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const key = eq > 0 ? arg.slice(0, eq) : arg;
    const spec = byName.get(key);
    if (!spec) {
      const near = specs
        .map((s) => s.name)
        .sort((x, y) => distance(key.replace(/^-+/, ''), x) - distance(key.replace(/^-+/, ''), y))[0];
      throw new UsageError(`unknown flag ${key}${near ? ` (did you mean --${near}?)` : ''}`);
    }
    let value: string | undefined = eq > 0 ? arg.slice(eq + 1) : undefined;
    if (spec.kind === 'bool') {
      if (value === undefined) values[spec.name] = true;
      else if (/^(true|1)$/i.test(value)) values[spec.name] = true;
      else if (/^(false|0)$/i.test(value)) values[spec.name] = false;
      else throw new UsageError(`flag --${spec.name} takes true or false, not "${value}"`);
      continue;
    }
    if (value === undefined) {
      value = argv[++i];
      if (value === undefined) throw new UsageError(`flag --${spec.name} needs a value`);
    }
    if (spec.kind === 'list') {
      const list = (values[spec.name] as string[] | undefined) ?? [];
      list.push(value);
      values[spec.name] = list;
    } else values[spec.name] = value;
  }
  return { values, positionals };
}

/** Formats the flag table for `--help`. */
export function formatHelp(specs: readonly FlagSpec[]): string {
  const rows = specs.map((s) => {
    const names = `${s.short ? `-${s.short}, ` : '    '}--${s.name}${s.kind === 'bool' ? '' : s.kind === 'list' ? ' value (repeatable)' : ' value'}`;
    return `  ${names.padEnd(46)} ${s.help}${s.ignoredNote ? ` [accepted: ${s.ignoredNote}]` : ''}`;
  });
  return rows.join('\n');
}
