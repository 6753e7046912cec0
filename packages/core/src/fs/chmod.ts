import { KilnError } from '../errors.js';

/**
 * A parsed `--chmod` value: octal (`755`, `0644`) or symbolic (`u+x,go-w`, `a=rX`).
 * `apply` gives the new mode for an entry with the old mode; symbolic `X` adds execute only for
 * directories and files that already have an execute bit, as chmod(1) does.
 */
export interface ChmodSpec {
  apply(mode: number, isDir: boolean): number;
}

export function parseChmod(spec: string): ChmodSpec {
  if (/^[0-7]{1,4}$/.test(spec)) {
    const m = Number.parseInt(spec, 8);
    return { apply: () => m };
  }
  const clauses = spec.split(',');
  const ops: { who: number; op: string; perms: string }[] = [];
  for (const c of clauses) {
    const m = /^([ugoa]*)([-+=])([rwxXst]*)$/.exec(c);
    if (!m)
      throw new KilnError(
        'KILN_BAD_CHMOD',
        `invalid --chmod value "${spec}": "${c}" is neither octal nor symbolic`,
      );
    let who = 0;
    for (const w of m[1] || 'a') who |= w === 'u' ? 0o4700 : w === 'g' ? 0o2070 : w === 'o' ? 0o1007 : 0o7777;
    ops.push({ who, op: m[2]!, perms: m[3]! });
  }
  return {
    apply(mode, isDir) {
      let cur = mode & 0o7777;
      for (const { who, op, perms } of ops) {
        let bits = 0;
        for (const p of perms) {
          if (p === 'r') bits |= 0o444;
          else if (p === 'w') bits |= 0o222;
          else if (p === 'x') bits |= 0o111;
          else if (p === 'X') bits |= isDir || cur & 0o111 ? 0o111 : 0;
          else if (p === 's') bits |= 0o6000;
          else if (p === 't') bits |= 0o1000;
        }
        bits &= who;
        if (op === '+') cur |= bits;
        else if (op === '-') cur &= ~bits;
        else cur = (cur & ~(who & 0o7777)) | bits;
      }
      return cur;
    },
  };
}
