import { DockerfileError, type DockerfileErrorLocation } from '../errors.js';
import { didYouMean } from '../suggest.js';

/** How a flag takes its value. `strings` may repeat. */
export type FlagKind = 'string' | 'strings' | 'bool';

/** Parsed flags: strings, string lists and booleans by name (without `--`). */
export interface ParsedFlags {
  string: Map<string, string>;
  strings: Map<string, string[]>;
  bool: Map<string, boolean>;
}

/** Shared result for the common case of an instruction without flags; never mutated. */
const NO_FLAGS: ParsedFlags = { string: new Map(), strings: new Map(), bool: new Map() };

/**
 * Parses `--name=value` / `--name` flags against the instruction's allowed set, like BuildKit:
 * unknown names (with a suggestion), repeats of single-valued flags, missing values and
 * non-boolean values for boolean flags are errors.
 */
export function parseFlags(
  flags: readonly string[],
  allowed: Readonly<Record<string, FlagKind>>,
  keyword: string,
  where: DockerfileErrorLocation,
): ParsedFlags {
  if (flags.length === 0) return NO_FLAGS;
  const out: ParsedFlags = { string: new Map(), strings: new Map(), bool: new Map() };
  const seen = new Set<string>();
  for (const flag of flags) {
    if (!flag.startsWith('--')) {
      throw new DockerfileError('INVALID_FLAG', `${keyword}: flag should start with --: ${flag}`, where);
    }
    if (flag === '--') break;
    const eq = flag.indexOf('=');
    const name = eq < 0 ? flag.slice(2) : flag.slice(2, eq);
    const value = eq < 0 ? undefined : flag.slice(eq + 1);
    const kind = Object.hasOwn(allowed, name) ? allowed[name] : undefined;
    if (!kind) {
      const names = Object.keys(allowed).map((n) => `--${n}`);
      throw new DockerfileError(
        'UNKNOWN_FLAG',
        `${keyword}: unknown flag: --${name}${didYouMean(`--${name}`, names)}`,
        where,
      );
    }
    if (seen.has(name) && kind !== 'strings') {
      throw new DockerfileError('DUPLICATE_FLAG', `${keyword}: duplicate flag specified: --${name}`, where);
    }
    seen.add(name);
    if (kind === 'bool') {
      if (value === '')
        throw new DockerfileError('INVALID_FLAG', `${keyword}: missing a value on flag: --${name}`, where);
      const v = (value ?? 'true').toLowerCase();
      if (v !== 'true' && v !== 'false') {
        throw new DockerfileError(
          'INVALID_FLAG',
          `${keyword}: expecting boolean value for flag --${name}, not: ${value}`,
          where,
        );
      }
      out.bool.set(name, v === 'true');
      continue;
    }
    if (value === undefined) {
      throw new DockerfileError('INVALID_FLAG', `${keyword}: missing a value on flag: --${name}`, where);
    }
    if (kind === 'string') out.string.set(name, value);
    else {
      const list = out.strings.get(name) ?? [];
      list.push(value);
      out.strings.set(name, list);
    }
  }
  return out;
}
