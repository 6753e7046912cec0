import type { Node, SourceRange, Warning } from '../ast.js';
import { type CheckRule, rules } from './rules.js';

/** Collects warnings; the library never prints. */
export class Linter {
  readonly warnings: Warning[] = [];

  warn<A extends unknown[]>(rule: CheckRule<A>, range: SourceRange, ...args: A): void {
    this.warnings.push({ rule: rule.name, message: rule.format(...args), url: rule.url, range });
  }
}

/** ConsistentInstructionCasing: keywords whose casing differs from the file's majority. */
export function checkInstructionCasing(nodes: readonly Node[], linter: Linter): void {
  let upper = 0;
  let lower = 0;
  const visit = (n: Node, f: (n: Node) => void) => {
    f(n);
    if (n.subcommand) visit(n.subcommand, f);
  };
  for (const n of nodes) {
    visit(n, (x) => {
      if (x.keyword === x.keyword.toUpperCase()) upper++;
      else if (x.keyword === x.keyword.toLowerCase()) lower++;
    });
  }
  const majority = lower > upper ? 'lowercase' : 'uppercase';
  for (const n of nodes) {
    visit(n, (x) => {
      const expected = majority === 'lowercase' ? x.keyword.toLowerCase() : x.keyword.toUpperCase();
      if (x.keyword !== expected)
        linter.warn(rules.ConsistentInstructionCasing, n.range, x.keyword, majority);
    });
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
  const words = name.toLowerCase().split(/[_\-.]/);
  if (words.some((w) => NOT_SECRET.has(w))) return false;
  return words.some((w) => SECRET_TOKENS.has(w));
}
