import { readdirSync, readFileSync } from 'node:fs';
import { DockerfileError, dumpAst, parseDockerfile, planBuild } from '@kiln/dockerfile';
import { describe, expect, test } from 'vitest';

const dir = (name: string) => new URL(`./${name}/`, import.meta.url);
const cases = (name: string) =>
  readdirSync(dir(name), { withFileTypes: true }).filter((d) => d.isDirectory());
const read = (base: URL, file: string) => readFileSync(new URL(file, base), 'utf8');

describe('golden fixtures: fixtures/<case>/{Dockerfile,result}', () => {
  const all = cases('fixtures');
  test('there are golden cases', () => expect(all.length).toBeGreaterThanOrEqual(10));
  test.each(all.map((d) => d.name))('%s dumps as its result file', (name) => {
    const base = new URL(`${name}/`, dir('fixtures'));
    expect(dumpAst(read(base, 'Dockerfile'))).toBe(read(base, 'result'));
  });
  test.each(all.map((d) => d.name))('%s: dumpAst accepts an AST as well as text', (name) => {
    const base = new URL(`${name}/`, dir('fixtures'));
    const text = read(base, 'Dockerfile');
    expect(dumpAst(parseDockerfile(text))).toBe(dumpAst(text));
  });
});

describe('negative fixtures: negative/<case>/{Dockerfile,error} must fail', () => {
  const all = cases('negative');
  test('there are negative cases', () => expect(all.length).toBeGreaterThanOrEqual(30));
  test.each(all.map((d) => d.name))('%s fails with the expected code, line and text', (name) => {
    const base = new URL(`${name}/`, dir('negative'));
    const [code, line, ...words] = read(base, 'error').trim().split(' ');
    let caught: unknown;
    try {
      planBuild(read(base, 'Dockerfile'));
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(DockerfileError);
    const err = caught as DockerfileError;
    expect(err.code).toBe(code);
    if (line !== undefined) expect(err.line).toBe(Number(line));
    if (words.length > 0) expect(err.message).toContain(words.join(' '));
    expect(err.message.length).toBeGreaterThan(10);
  });
});
