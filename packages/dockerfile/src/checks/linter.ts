import type { Node, SourceRange, Warning } from '../ast.js';
import { type CheckRule, rules } from './rules.js';

/** Collects warnings; the library never prints. */
export class Linter {
  readonly warnings: Warning[] = [];

  warn<A extends unknown[]>(rule: CheckRule<A>, range: SourceRange, ...args: A): void {
    this.warnings.push({ rule: rule.name, message: rule.format(...args), url: rule.url, range });
  }
}

/**
 * ConsistentInstructionCasing: instructions from the first FROM on (global ARGs and ONBUILD
 * triggers are not counted, as in BuildKit) whose keyword is mixed-case or differs from the
 * majority casing; a tie counts as upper case.
 */
export function checkInstructionCasing(nodes: readonly Node[], linter: Linter): void {
  const first = nodes.findIndex((n) => n.value === 'from');
  if (first < 0) return;
  const staged = nodes.slice(first);
  let upper = 0;
  let lower = 0;
  for (const n of staged) {
    if (n.keyword === n.keyword.toUpperCase()) upper++;
    else if (n.keyword === n.keyword.toLowerCase()) lower++;
  }
  const majority = lower > upper ? 'lowercase' : 'uppercase';
  for (const n of staged) {
    const expected = majority === 'lowercase' ? n.keyword.toLowerCase() : n.keyword.toUpperCase();
    if (n.keyword !== expected) linter.warn(rules.ConsistentInstructionCasing, n.range, n.keyword, majority);
  }
}

const SECRET_TOKENS = new Set([
  'apikey',
  'auth',
  'credential',
  'credentials',
  'key',
  'password',
  'pword',
  'passwd',
  'secret',
  'token',
]);
const NOT_SECRET = new Set(['public']);

/** SecretsUsedInArgOrEnv: a name made of words such as PASSWORD, TOKEN or API_KEY. */
export function looksSecret(name: string): boolean {
  // Words are separated by underscores only, as in BuildKit's rule (API-KEY is one word).
  const words = name.toLowerCase().split('_');
  if (words.some((w) => NOT_SECRET.has(w))) return false;
  return words.some((w) => SECRET_TOKENS.has(w));
}
