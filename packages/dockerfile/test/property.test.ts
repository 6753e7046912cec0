// biome-ignore-all lint/suspicious/noTemplateCurlyInString: shell syntax under test uses ${VAR}
import { readdirSync, readFileSync } from 'node:fs';
import {
  commandArgv,
  DockerfileError,
  dumpAst,
  expandInstruction,
  expandWord,
  expandWords,
  parseDockerfile,
  planBuild,
  runCommandLine,
} from '@kiln/dockerfile';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';

/** Runs `fn`; anything thrown must be a DockerfileError with a code and a line >= 0. */
function onlyDockerfileErrors(fn: () => unknown): void {
  try {
    fn();
  } catch (err) {
    if (!(err instanceof DockerfileError)) throw err;
    expect(typeof err.code).toBe('string');
    expect(err.line).toBeGreaterThanOrEqual(0);
    expect(err.message.length).toBeGreaterThan(0);
  }
}

/** Everything the package does with one text, each step allowed to fail only with DockerfileError. */
function exercise(text: string, opts: Parameters<typeof planBuild>[1] = {}): void {
  onlyDockerfileErrors(() => dumpAst(text));
  onlyDockerfileErrors(() => {
    const ast = parseDockerfile(text);
    const lines = text.split('\n').length;
    for (const n of ast.children) {
      expect(n.range.start.line).toBeGreaterThanOrEqual(1);
      expect(n.range.end.line).toBeGreaterThanOrEqual(n.range.start.line);
      expect(n.range.end.line).toBeLessThanOrEqual(lines);
    }
    expect(dumpAst(ast)).toBe(dumpAst(text));
  });
  onlyDockerfileErrors(() => {
    const plan = planBuild(text, opts);
    const env = { A: 'a', HOME: '/root', EMPTY: '' };
    for (const stage of plan.stages) {
      for (const ins of stage.instructions) {
        onlyDockerfileErrors(() => expandInstruction(ins, env, { escape: plan.escapeToken }));
      }
    }
  });
}

const KEYWORDS = [
  'FROM',
  'RUN',
  'CMD',
  'LABEL',
  'MAINTAINER',
  'EXPOSE',
  'ENV',
  'ADD',
  'COPY',
  'ENTRYPOINT',
  'VOLUME',
];
const MORE = [
  'USER',
  'WORKDIR',
  'ARG',
  'ONBUILD',
  'STOPSIGNAL',
  'HEALTHCHECK',
  'SHELL',
  'BOGUS',
  'AS',
  'as',
  'NONE',
];
const FRAGMENTS = [
  ...KEYWORDS,
  ...MORE,
  'from',
  'Run',
  'copy',
  'scratch',
  'alpine:3.19',
  ' ',
  '  ',
  '\t',
  '\n',
  '\r\n',
  '\\',
  '\\\n',
  '`',
  '`\n',
  '#',
  '# escape=`\n',
  '# escape=\\\n',
  '# check=skip=all\n',
  '# check=error=true\n',
  '# syntax=docker/dockerfile:1\n',
  '"',
  "'",
  '[',
  ']',
  '["a", "b"]',
  '[1]',
  ',',
  '=',
  'a=b',
  '$',
  '$A',
  '${',
  '}',
  '${A:-x}',
  '${A#*}',
  '${A//a/b}',
  '${A:?e}',
  '<<EOF',
  '<<-EOF',
  "<<'EOF'",
  'EOF',
  '\tEOF',
  '--from=0',
  '--from=build',
  '--from=$X',
  '--chown=1:1',
  '--chmod=755',
  '--link',
  '--link=false',
  '--mount=type=cache,target=/c',
  '--mount=type=bind,from=0,target=/x',
  '--mount=',
  '--network=none',
  '--platform=$BUILDPLATFORM',
  '--interval=5s',
  '--retries=3',
  '--',
  '-',
  'CMD',
  '/a',
  'b',
  '0',
  '1',
  'é',
  '\u00a0',
  '\ufeff',
];

const fragmentText = fc
  .array(fc.constantFrom(...FRAGMENTS), { maxLength: 60 })
  .map((parts) => parts.join(''));
const lineText = fc
  .array(
    fc.tuple(
      fc.constantFrom(...KEYWORDS, ...MORE),
      fc.array(fc.constantFrom(...FRAGMENTS), { maxLength: 8 }),
    ),
    { maxLength: 12 },
  )
  .map((lines) => lines.map(([k, parts]) => `${k} ${parts.join(' ')}`).join('\n'));
const options = fc.record(
  {
    target: fc.constantFrom('build', 'a', 'nope', 'BUILD'),
    platform: fc.constantFrom('linux/arm64', 'linux/arm/v7', 'bad', 'windows/amd64'),
    buildArgs: fc.dictionary(
      fc.constantFrom('A', 'X', 'HTTP_PROXY', 'TARGETOS', 'BUILDKIT_DOCKERFILE_CHECK'),
      fc.string(),
    ),
  },
  { requiredKeys: [] },
);

const fixtureTexts = ['fixtures', 'negative'].flatMap((dir) => {
  const base = new URL(`./${dir}/`, import.meta.url);
  return readdirSync(base).map((name) => readFileSync(new URL(`${name}/Dockerfile`, base), 'utf8'));
});

/** A fixture with random characters inserted, deleted or replaced. */
const mutated = fc
  .tuple(
    fc.constantFrom(...fixtureTexts),
    fc.array(
      fc.tuple(
        fc.nat(),
        fc.constantFrom('insert', 'delete', 'replace'),
        fc.constantFrom(...FRAGMENTS, ...'\\`"\'$<{}[]=#\n\t '),
      ),
      { minLength: 1, maxLength: 6 },
    ),
  )
  .map(([text, edits]) => {
    let t = text;
    for (const [pos, op, s] of edits) {
      const at = t.length === 0 ? 0 : pos % (t.length + 1);
      if (op === 'insert') t = t.slice(0, at) + s + t.slice(at);
      else if (op === 'delete') t = t.slice(0, at) + t.slice(at + 1);
      else t = t.slice(0, at) + s + t.slice(at + 1);
    }
    return t;
  });

describe('no input ends in anything but a result or a DockerfileError', () => {
  test('arbitrary unicode text', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (text) => exercise(text)),
      { numRuns: 400 },
    );
  });

  test('random fragments of Dockerfile syntax', () => {
    fc.assert(
      fc.property(fragmentText, options, (text, opts) => exercise(text, opts)),
      { numRuns: 600 },
    );
  });

  test('random instruction lines with random arguments', () => {
    fc.assert(
      fc.property(lineText, options, (text, opts) => exercise(`FROM a AS build\n${text}`, opts)),
      {
        numRuns: 600,
      },
    );
  });

  test('mutated fixture Dockerfiles', () => {
    fc.assert(
      fc.property(mutated, options, (text, opts) => exercise(text, opts)),
      { numRuns: 600 },
    );
  });

  test('arbitrary words through the shell lexer, under both escape tokens', () => {
    const word = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 60 }),
      fc.array(fc.constantFrom(...FRAGMENTS), { maxLength: 12 }).map((p) => p.join('')),
    );
    fc.assert(
      fc.property(word, fc.constantFrom('\\', '`') as fc.Arbitrary<'\\' | '`'>, (w, escapeToken) => {
        onlyDockerfileErrors(() => {
          const s = expandWord(w, { A: 'a b', EMPTY: '' }, { escape: escapeToken });
          expect(typeof s).toBe('string');
        });
        onlyDockerfileErrors(() => {
          for (const x of expandWords(w, { A: 'a b' }, { escape: escapeToken }))
            expect(x.length).toBeGreaterThan(0);
        });
      }),
      { numRuns: 1000 },
    );
  });

  test('text without $, quotes or escapes expands to itself', () => {
    const plain = fc.string({ maxLength: 40 }).filter((s) => !/[$"'\\]/.test(s));
    fc.assert(
      fc.property(plain, (s) => {
        expect(expandWord(s, {})).toBe(s);
      }),
      { numRuns: 300 },
    );
  });
});

/** Mostly valid Dockerfiles, so that planning succeeds and later steps are exercised. */
const word = fc.constantFrom(
  'a',
  '$A',
  '${A:-x}',
  '"q w"',
  "'s'",
  '${B#*}',
  '\\$A',
  'x\\ y',
  '${A/a/b}',
  '/p',
  '.',
  '$',
);
const validLine = fc.oneof(
  fc
    .tuple(fc.constantFrom('RUN', 'run', 'CMD', 'ENTRYPOINT'), fc.array(word, { maxLength: 4 }))
    .map(([k, w]) => `${k} ${w.join(' ')}`),
  fc.array(word, { minLength: 2, maxLength: 4 }).map((w) => `COPY ${w.join(' ')}`),
  word.map((a) => `ENV K=${a}`),
  word.map((a) => `ARG A=${a}`),
  word.map((a) => `WORKDIR /${a}`),
  word.map((a) => `LABEL k=${a}`),
  word.map((a) => `EXPOSE ${a}`),
  word.map((a) => `USER ${a}`),
  fc.constantFrom(
    'RUN <<EOF\necho $A\nEOF',
    'RUN <<EOF\n#!/bin/sh\necho\nEOF',
    'COPY <<F /f\n$A\nF',
    'ONBUILD RUN x',
    'HEALTHCHECK --interval=3s CMD x',
    'FROM scratch AS s1',
    'COPY --from=0 /a /b',
    'RUN --mount=type=cache,target=/$A x',
  ),
);
const validFile = fc
  .tuple(fc.boolean(), fc.array(validLine, { maxLength: 15 }))
  .map(([bt, ls]) => `${bt ? '# escape=`\n' : ''}ARG A=1\nFROM scratch AS s0\n${ls.join('\n')}\n`);

describe('mostly valid Dockerfiles', () => {
  test('plan, and every instruction expands and yields a command line', () => {
    let planned = 0;
    fc.assert(
      fc.property(validFile, (text) => {
        onlyDockerfileErrors(() => {
          const plan = planBuild(text);
          planned++;
          for (const stage of plan.stages) {
            for (const ins of stage.instructions) {
              onlyDockerfileErrors(() =>
                expandInstruction(ins, new Map([['A', 'x y']]), { escape: plan.escapeToken }),
              );
              if (ins.kind === 'run') expect(runCommandLine(ins).argv.length).toBeGreaterThan(0);
              if (ins.kind === 'cmd' || ins.kind === 'entrypoint') commandArgv(ins);
            }
          }
        });
      }),
      { numRuns: 500 },
    );
    expect(planned).toBeGreaterThan(250);
  });
});

describe('hostile input is bounded', () => {
  test('deeply nested substitutions fail with a DockerfileError, not a stack overflow', () => {
    expect(() => expandWord(`${'${A:-'.repeat(20000)}${'}'.repeat(20000)}`, {})).toThrow(DockerfileError);
    expect(expandWord(`${'${A:-'.repeat(100)}x${'}'.repeat(100)}`, {})).toBe('x');
  });
  test('a long ONBUILD chain fails with a DockerfileError', () => {
    expect(() => parseDockerfile(`FROM a\n${'ONBUILD '.repeat(50000)}RUN x`)).toThrow(DockerfileError);
  });
  test('deeply nested JSON parses (as shell form)', () => {
    expect(parseDockerfile(`FROM a\nRUN ${'['.repeat(60000)}`).children[1]!.json).toBe(false);
  });
  test('physical lines of 64 KiB or more are refused like BuildKit; long logical lines are fine', () => {
    expect(() => planBuild(`FROM a\nRUN ${'x'.repeat(1_000_000)}`)).toThrow(
      /greater than max allowed size of 65535/,
    );
    expect(() => parseDockerfile(`FROM a\nLABEL a=${'é'.repeat(40000)}`)).toThrow(DockerfileError);
    expect(parseDockerfile(`FROM a\nRUN ${'x'.repeat(65000)}`).children).toHaveLength(2);
    const joined = parseDockerfile(`FROM a\nRUN ${'x \\\n'.repeat(40000)}y`).children[1]!;
    expect(joined.original.length).toBeGreaterThan(65536);
  });
});
