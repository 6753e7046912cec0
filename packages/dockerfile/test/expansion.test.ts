// biome-ignore-all lint/suspicious/noTemplateCurlyInString: shell syntax under test uses ${VAR}
import { readFileSync } from 'node:fs';
import { DockerfileError, expandWord, expandWords, expandWordWithMatches } from '@kiln/dockerfile';
import { describe, expect, test } from 'vitest';

const env = {
  HOME: '/root',
  A: 'a',
  B: 'b',
  EMPTY: '',
  WORDS: 'x y  z',
  FILE: 'archive.tar.gz',
  PATHS: '/usr/local/bin:/usr/bin:/bin',
  SPACE: ' ',
  DOTS: 'a.b.c.d',
};

/** Reads a `|`-separated table, skipping comments; the last column may contain no `|`. */
function table(file: string, columns: number): string[][] {
  const text = readFileSync(new URL(file, import.meta.url), 'utf8');
  return text
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.startsWith('#'))
    .map((line) => {
      const parts = line.split(' | ');
      const head = parts.slice(0, columns - 1);
      const last = parts.slice(columns - 1).join(' | ');
      return [...head, last.endsWith(' |') ? '' : last].map((p, i) =>
        i === 0 && columns === 3 ? p.trim() : p,
      );
    });
}

describe('expandWord: expansion-cases.txt', () => {
  const cases = table('./expansion-cases.txt', 3).map(([esc, word, expected]) => {
    const w = word!.endsWith(' |') ? word!.slice(0, -2) : word!;
    return { esc: esc as '\\' | '`', word: w, expected: expected! };
  });
  test('the table is not empty', () => expect(cases.length).toBeGreaterThan(100));
  test.each(cases)('escape $esc: $word → $expected', ({ esc, word, expected }) => {
    if (expected === 'ERROR') {
      expect(() => expandWord(word, env, { escape: esc })).toThrow(DockerfileError);
    } else {
      expect(expandWord(word, env, { escape: esc })).toBe(expected);
    }
  });
});

describe('expandWords: words-cases.txt', () => {
  const cases = table('./words-cases.txt', 2).map(([word, expected]) => ({
    word: word!,
    expected: expected!,
  }));
  test.each(cases)('$word → $expected', ({ word, expected }) => {
    expect(expandWords(word, env)).toEqual(JSON.parse(expected));
  });
});

describe('variable reporting', () => {
  test('reports matched and unmatched variables once each', () => {
    const r = expandWordWithMatches('$A ${NOPE} $A ${NOPE2:-x} "$B"', env);
    expect(r.matched.sort()).toEqual(['A', 'B']);
    expect(r.unmatched.sort()).toEqual(['NOPE', 'NOPE2']);
  });
  test('single-quoted references are not lookups', () => {
    expect(expandWordWithMatches("'$X'", env).unmatched).toEqual([]);
  });
  test('accepts a Map as env', () => {
    expect(expandWord('$K', new Map([['K', 'v']]))).toBe('v');
  });
  test('variable names are case-sensitive', () => {
    expect(expandWord('$home', env)).toBe('');
  });
  test('skipUnsetEnv keeps unset references as written', () => {
    expect(expandWord('$A $NOPE ${NOPE} ${NOPE:-d}', env, { skipUnsetEnv: true })).toBe(
      'a $NOPE ${NOPE} ${NOPE:-d}',
    );
  });
  test('rawQuotes keeps the quotes', () => {
    expect(expandWord(`"a" 'b'`, env, { rawQuotes: true })).toBe(`"a" 'b'`);
  });
  test('error message quotes the word and the reason', () => {
    expect(() => expandWord('${NOPE:?must be set}', env)).toThrow(
      /"\$\{NOPE:\?must be set\}".*NOPE: must be set/,
    );
    expect(() => expandWord('${NOPE?}', env)).toThrow(/NOPE: is not allowed to be unset/);
    expect(() => expandWord('${EMPTY:?}', env)).toThrow(/EMPTY: is not allowed to be empty/);
    expect(() => expandWord('${A:#x}', env)).toThrow(/unsupported modifier \(:#\)/);
    expect(() => expandWord('${}', env)).toThrow(/bad substitution/);
  });
  test('the error has a stable code', () => {
    try {
      expandWord('"open', env);
      expect.unreachable();
    } catch (err) {
      expect((err as DockerfileError).code).toBe('EXPANSION_ERROR');
    }
  });
});
