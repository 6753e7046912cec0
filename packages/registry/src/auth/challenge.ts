/**
 * Parsing of `WWW-Authenticate` headers (RFC 7235 auth-params), as registries send them:
 * `Bearer realm="https://auth/token",service="registry",scope="repository:x:pull"` or
 * `Basic realm="Registry Realm"`.
 */

/** Challenge: one scheme and its parameters (names lower-cased). */
export interface Challenge {
  scheme: 'bearer' | 'basic' | string;
  params: Record<string, string>;
}

/** parseChallenges: parses every challenge in a `WWW-Authenticate` value; unknown text is skipped. */
export function parseChallenges(header: string | null | undefined): Challenge[] {
  if (!header) return [];
  const out: Challenge[] = [];
  const re = /\s*([A-Za-z][\w-]*)(?:\s+|$)/y;
  const paramRe = /\s*([\w-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*,?/y;
  let i = 0;
  while (i < header.length) {
    re.lastIndex = i;
    const m = re.exec(header);
    if (!m) break;
    const challenge: Challenge = { scheme: m[1]!.toLowerCase(), params: {} };
    i = re.lastIndex;
    for (;;) {
      paramRe.lastIndex = i;
      const p = paramRe.exec(header);
      if (!p) break;
      // A token followed by whitespace then another token is the next scheme, not a parameter.
      challenge.params[p[1]!.toLowerCase()] =
        p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : (p[3] ?? '');
      i = paramRe.lastIndex;
    }
    out.push(challenge);
    while (header[i] === ',' || header[i] === ' ') i++;
  }
  return out;
}
