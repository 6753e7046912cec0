// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Dockerfile text under test uses ${VAR}
import { readFileSync } from 'node:fs';
import { DockerfileError, parseDockerfile, planBuild, resolveArgValue } from '@kiln/dockerfile';
import { describe, expect, test } from 'vitest';

const codeOf = (fn: () => unknown): string | undefined => {
  try {
    fn();
  } catch (err) {
    return err instanceof DockerfileError ? err.code : `not a DockerfileError: ${String(err)}`;
  }
  return undefined;
};

describe('stage bases', () => {
  test.each<[string, unknown]>([
    ['FROM alpine', { kind: 'image', ref: 'alpine' }],
    ['FROM scratch', { kind: 'scratch' }],
    ['FROM SCRATCH', { kind: 'scratch' }],
    [
      'FROM docker.io/library/alpine:3.19@sha256:abc',
      { kind: 'image', ref: 'docker.io/library/alpine:3.19@sha256:abc' },
    ],
    ['ARG V=3.19\nFROM alpine:$V', { kind: 'image', ref: 'alpine:3.19' }],
    ['ARG R=reg.io\nARG V=1\nFROM ${R}/img:${V}-slim', { kind: 'image', ref: 'reg.io/img:1-slim' }],
    ['ARG A=x\nARG B=${A}y\nFROM $B', { kind: 'image', ref: 'xy' }],
    ['ARG IMG=scratch\nFROM $IMG', { kind: 'scratch' }],
    ['FROM alpine:${NOPE:-edge}', { kind: 'image', ref: 'alpine:edge' }],
  ])('%j', (text, base) => {
    const plan = planBuild(text);
    expect(plan.stages[plan.stages.length - 1]!.base).toEqual(base);
  });

  test('FROM <earlier stage> (any case) is a stage base', () => {
    const plan = planBuild('FROM alpine AS Base\nFROM BASE\nFROM base AS x');
    expect(plan.stages.map((s) => s.base)).toEqual([
      { kind: 'image', ref: 'alpine' },
      { kind: 'stage', index: 0 },
      { kind: 'stage', index: 0 },
    ]);
  });

  test('FROM naming a later stage means an image of that name', () => {
    const plan = planBuild('FROM later\nFROM alpine AS later');
    expect(plan.stages[0]!.base).toEqual({ kind: 'image', ref: 'later' });
  });

  test('FROM with a stage name expanded from a global ARG', () => {
    const plan = planBuild('ARG FROM_STAGE=build\nFROM alpine AS build\nFROM $FROM_STAGE');
    expect(plan.stages[1]!.base).toEqual({ kind: 'stage', index: 0 });
  });

  test('build args override global ARG defaults in FROM (Map or record)', () => {
    const text = 'ARG V=1\nFROM img:$V';
    expect(planBuild(text, { buildArgs: { V: '2' } }).stages[0]!.base).toEqual({
      kind: 'image',
      ref: 'img:2',
    });
    expect(planBuild(text, { buildArgs: new Map([['V', '3']]) }).stages[0]!.base).toEqual({
      kind: 'image',
      ref: 'img:3',
    });
  });

  test('a build arg not declared as a global ARG does not reach FROM', () => {
    const plan = planBuild('FROM img:${V:-none}', { buildArgs: { V: '2' } });
    expect(plan.stages[0]!.base).toEqual({ kind: 'image', ref: 'img:none' });
  });

  test('stage-level ARG does not reach a later FROM', () => {
    const plan = planBuild('FROM a\nARG V=9\nFROM img:${V:-global}');
    expect(plan.stages[1]!.base).toEqual({ kind: 'image', ref: 'img:global' });
  });

  test('stage name, index, platform and range', () => {
    const plan = planBuild(
      'ARG P=linux/arm64\nFROM --platform=$P alpine AS Build\nRUN x\nRUN y \\\n  z\nFROM scratch',
    );
    expect(plan.stages[0]).toMatchObject({ index: 0, name: 'build', platform: 'linux/arm64' });
    expect(plan.stages[0]!.range).toEqual({ start: { line: 2, column: 1 }, end: { line: 5, column: 4 } });
    expect(plan.stages[1]!.name).toBeUndefined();
    expect(plan.stages[1]!.from.image).toBe('scratch');
  });

  test('FROM --platform sees the automatic platform args', () => {
    const plan = planBuild('FROM --platform=$BUILDPLATFORM a\nFROM --platform=${TARGETOS}/${TARGETARCH} b', {
      buildPlatform: 'linux/amd64',
      platform: 'linux/arm/v7',
    });
    expect(plan.stages.map((s) => s.platform)).toEqual(['linux/amd64', 'linux/arm']);
  });
});

describe('instructions in the plan', () => {
  test('stay unexpanded and typed, FROM excluded', () => {
    const plan = planBuild('ARG X=1\nFROM a\nENV Y=$X\nCOPY $Y /d\nRUN echo $Y');
    expect(plan.stages[0]!.instructions.map((i) => i.kind)).toEqual(['env', 'copy', 'run']);
    expect(plan.stages[0]!.instructions[0]).toMatchObject({ pairs: [{ key: 'Y', value: '$X' }] });
    expect(plan.stages[0]!.instructions[1]).toMatchObject({ sources: ['$Y'] });
  });

  test('global ARG instructions are listed separately', () => {
    const plan = planBuild('ARG A=1\nARG B\nFROM x');
    expect(plan.globalArgs.map((g) => g.args)).toEqual([[{ key: 'A', value: '1' }], [{ key: 'B' }]]);
    expect(plan.globalArgValues).toMatchObject({ A: '1' });
    expect('B' in plan.globalArgValues).toBe(false);
  });

  test('escape token and directives travel with the plan', () => {
    const plan = planBuild('# escape=`\nFROM a');
    expect(plan.escapeToken).toBe('`');
    expect(plan.directives[0]).toMatchObject({ name: 'escape', value: '`' });
  });

  test('a plan can be made from an AST', () => {
    const ast = parseDockerfile('FROM a\nRUN x');
    expect(planBuild(ast).stages[0]!.instructions).toHaveLength(1);
  });
});

describe('--from resolution and the dependency graph', () => {
  const text = [
    'FROM alpine AS deps', // 0
    'FROM golang AS build', // 1
    'COPY --from=deps /a /a',
    'COPY --from=DEPS /b /b',
    'FROM node AS assets', // 2
    'FROM build AS test', // 3
    'RUN --mount=from=assets,target=/assets,source=/dist true',
    'FROM scratch AS final', // 4
    'COPY --from=1 /bin/app /app',
    'COPY --from=busybox:1.36 /bin/sh /sh',
    'COPY --from=docker.io/library/alpine /etc/os-release /',
  ].join('\n');

  test('names (any case), indexes and images resolve', () => {
    const plan = planBuild(text);
    const copies = (i: number) =>
      plan.stages[i]!.instructions.map((x) => (x.kind === 'copy' ? x.fromResolved : undefined));
    expect(copies(1)).toEqual([
      { kind: 'stage', index: 0 },
      { kind: 'stage', index: 0 },
    ]);
    expect(copies(4)).toEqual([
      { kind: 'stage', index: 1 },
      { kind: 'image', ref: 'busybox:1.36' },
      { kind: 'image', ref: 'docker.io/library/alpine' },
    ]);
    const run = plan.stages[3]!.instructions[0]!;
    expect(run.kind === 'run' && run.mounts[0]!.fromResolved).toEqual({ kind: 'stage', index: 2 });
  });

  test('graph and dependsOn list each stage dependency once', () => {
    const plan = planBuild(text);
    expect(plan.graph).toEqual([[], [0], [], [1, 2], [1]]);
    expect(plan.stages[3]!.dependsOn).toEqual([1, 2]);
  });

  test('default target is the last stage; unneeded stages are pruned', () => {
    const plan = planBuild(text);
    expect(plan.target).toBe(4);
    expect(plan.needed).toEqual([0, 1, 4]);
    expect(plan.stages.map((s) => s.needed)).toEqual([true, true, false, false, true]);
  });

  test('--target selects a stage (case-insensitive) and its transitive dependencies', () => {
    expect(planBuild(text, { target: 'TEST' }).needed).toEqual([0, 1, 2, 3]);
    expect(planBuild(text, { target: 'assets' }).needed).toEqual([2]);
    expect(planBuild(text, { target: 'deps' }).target).toBe(0);
  });

  test('an unknown target fails with a suggestion', () => {
    expect(() => planBuild(text, { target: 'tset' })).toThrow(
      /target stage "tset" could not be found \(did you mean test\?\)/,
    );
    expect(codeOf(() => planBuild(text, { target: 'nothing-like-it' }))).toBe('TARGET_NOT_FOUND');
  });

  test('ONBUILD COPY --from adds a dependency of the stage declaring it', () => {
    const plan = planBuild('FROM a AS tools\nFROM b AS base\nONBUILD COPY --from=tools /t /t\nFROM base');
    expect(plan.stages[1]!.dependsOn).toEqual([0]);
    expect(plan.needed).toEqual([0, 1, 2]);
  });

  test.each<[string, string]>([
    ['FROM a AS x\nCOPY --from=x /a /b', 'CIRCULAR_DEPENDENCY'],
    ['FROM a\nCOPY --from=0 /a /b', 'CIRCULAR_DEPENDENCY'],
    ['FROM a\nCOPY --from=later /a /b\nFROM b AS later', 'FROM_LATER_STAGE'],
    ['FROM a\nCOPY --from=1 /a /b\nFROM b', 'FROM_LATER_STAGE'],
    ['FROM a\nCOPY --from=5 /a /b', 'UNKNOWN_STAGE'],
    ['FROM a\nRUN --mount=from=z,target=/z x\nFROM b AS z', 'FROM_LATER_STAGE'],
    ['FROM a AS me\nRUN --mount=from=me,target=/z x', 'CIRCULAR_DEPENDENCY'],
    ['FROM a\nCOPY --from=${S} /a /b', 'INVALID_FLAG'],
    ['FROM a AS x\nFROM b AS x', 'DUPLICATE_STAGE_NAME'],
    ['FROM a AS x\nFROM b AS X', 'DUPLICATE_STAGE_NAME'],
    ['ARG A\nENV B=1\nFROM a', 'NO_STAGE'],
    ['ARG A', 'MISSING_FROM'],
    ['FROM a\nFOO bar', 'UNKNOWN_INSTRUCTION'],
    ['ARG I=\nFROM $I', 'INVALID_ARGUMENTS'],
  ])('%j → %s', (textCase, code) => {
    expect(codeOf(() => planBuild(textCase))).toBe(code);
  });

  test('errors name the line of the offending instruction and quote it', () => {
    try {
      planBuild('FROM a\nRUN x\nCOPY --from=later /a /b\nFROM b AS later');
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(DockerfileError);
      expect((err as DockerfileError).line).toBe(3);
      expect((err as DockerfileError).message).toContain('--from=later');
    }
  });
});

describe('platforms and predefined args', () => {
  test('default build and target platform is linux/amd64', () => {
    const plan = planBuild('FROM a');
    expect(plan.buildPlatform).toEqual({ os: 'linux', architecture: 'amd64' });
    expect(plan.targetPlatform).toEqual(plan.buildPlatform);
    expect(plan.globalArgValues).toMatchObject({
      TARGETPLATFORM: 'linux/amd64',
      TARGETOS: 'linux',
      TARGETARCH: 'amd64',
      TARGETVARIANT: '',
      BUILDPLATFORM: 'linux/amd64',
      BUILDOS: 'linux',
      BUILDARCH: 'amd64',
      BUILDVARIANT: '',
    });
  });

  test('target platform with variant; arm64/v8 normalises to arm64', () => {
    expect(planBuild('FROM a', { platform: 'linux/arm/v7' }).globalArgValues).toMatchObject({
      TARGETPLATFORM: 'linux/arm/v7',
      TARGETARCH: 'arm',
      TARGETVARIANT: 'v7',
    });
    expect(planBuild('FROM a', { platform: 'linux/arm64/v8' }).globalArgValues.TARGETPLATFORM).toBe(
      'linux/arm64',
    );
    expect(planBuild('FROM a', { buildPlatform: 'linux/arm64' }).globalArgValues.TARGETARCH).toBe('arm64');
  });

  test('platform args are usable in FROM without declaration', () => {
    const plan = planBuild('FROM img-$TARGETARCH', { platform: 'linux/s390x' });
    expect(plan.stages[0]!.base).toEqual({ kind: 'image', ref: 'img-s390x' });
    expect(plan.warnings.filter((w) => w.rule === 'UndefinedArgInFrom')).toEqual([]);
  });

  test('a build arg overrides a predefined platform arg', () => {
    expect(planBuild('FROM a', { buildArgs: { TARGETARCH: 'riscv64' } }).globalArgValues.TARGETARCH).toBe(
      'riscv64',
    );
  });

  test('an invalid platform is a DockerfileError', () => {
    expect(codeOf(() => planBuild('FROM a', { platform: 'linux' }))).toBe('INVALID_PLATFORM');
    expect(codeOf(() => planBuild('FROM a', { buildPlatform: 'a/b/c/d' }))).toBe('INVALID_PLATFORM');
  });

  test('proxy build args are passed through without declaration and are not "unused"', () => {
    const plan = planBuild('FROM a', {
      buildArgs: { HTTP_PROXY: 'http://p:3128', no_proxy: 'localhost', OTHER: '1' },
    });
    expect(plan.proxyArgs).toEqual({ HTTP_PROXY: 'http://p:3128', no_proxy: 'localhost' });
    expect(plan.unusedBuildArgs).toEqual(['OTHER']);
  });

  test('build args declared anywhere, platform args and BUILDKIT_* are not unused', () => {
    const plan = planBuild('ARG G\nFROM a\nARG S\nFROM b AS unbuilt\nARG U', {
      buildArgs: {
        G: '1',
        S: '2',
        U: '3',
        TARGETOS: 'linux',
        BUILDKIT_INLINE_CACHE: '1',
        SOURCE_DATE_EPOCH: '0',
        X: '4',
      },
      target: 'unbuilt',
    });
    expect(plan.unusedBuildArgs).toEqual(['X']);
    expect(plan.warnings.find((w) => w.rule === 'UnusedBuildArgs')?.message).toContain('X');
  });
});

describe('resolveArgValue (ARG scoping helper for core)', () => {
  const globalArgs = { G: 'global', TARGETARCH: 'amd64' };
  test.each<
    [
      string,
      { key: string; value?: string },
      Record<string, string>,
      Record<string, string>,
      string | undefined,
      string,
    ]
  >([
    ['build arg wins over default', { key: 'A', value: 'def' }, { A: 'cli' }, {}, 'cli', 'build-arg'],
    ['build arg wins over global', { key: 'G' }, { G: 'cli' }, {}, 'cli', 'build-arg'],
    [
      'default is expanded with the env',
      { key: 'A', value: '$HOME/x' },
      {},
      { HOME: '/root' },
      '/root/x',
      'default',
    ],
    ['re-declared global gets its value', { key: 'G' }, {}, {}, 'global', 'global'],
    ['default beats global value', { key: 'G', value: 'mine' }, {}, {}, 'mine', 'default'],
    ['predefined platform arg through declaration', { key: 'TARGETARCH' }, {}, {}, 'amd64', 'global'],
    ['undeclared elsewhere and no default: unset', { key: 'Z' }, {}, {}, undefined, 'unset'],
    ['empty default is a value', { key: 'E', value: '' }, {}, {}, '', 'default'],
  ])('%s', (_what, decl, buildArgs, env, value, source) => {
    const r = resolveArgValue(decl, { buildArgs, globalArgs, env });
    expect(r.value).toBe(value);
    expect(r.source).toBe(source);
  });

  test('a build arg value is not expanded, and the default is not evaluated', () => {
    const r = resolveArgValue(
      { key: 'A', value: '${NOPE:?would fail}' },
      { buildArgs: { A: '$X' }, env: {} },
    );
    expect(r.value).toBe('$X');
  });

  test('undefined variables of the default are reported', () => {
    expect(resolveArgValue({ key: 'A', value: '$MISSING' }, { env: {} }).undefinedVars).toEqual(['MISSING']);
  });
});

describe('resolveSourceRef (ONBUILD triggers read back from an image config)', () => {
  test('resolves against the plan stages like planBuild does', async () => {
    const { resolveSourceRef } = await import('@kiln/dockerfile');
    const plan = planBuild('FROM a AS tools\nFROM b AS base\nONBUILD COPY --from=tools /t /t\nFROM base');
    expect(resolveSourceRef(plan.stages, 'TOOLS', 2)).toEqual({ kind: 'stage', index: 0 });
    expect(resolveSourceRef(plan.stages, '1', 2)).toEqual({ kind: 'stage', index: 1 });
    expect(resolveSourceRef(plan.stages, 'alpine:3', 2)).toEqual({ kind: 'image', ref: 'alpine:3' });
    expect(codeOf(() => resolveSourceRef(plan.stages, 'base', 1))).toBe('CIRCULAR_DEPENDENCY');
    expect(codeOf(() => resolveSourceRef(plan.stages, '2', 1))).toBe('FROM_LATER_STAGE');
    expect(codeOf(() => resolveSourceRef(plan.stages, '9', 1))).toBe('UNKNOWN_STAGE');
    expect(codeOf(() => resolveSourceRef(plan.stages, '$X', 1))).toBe('INVALID_FLAG');
  });
});

describe('plans of golden fixtures', () => {
  const fixture = (name: string) =>
    readFileSync(new URL(`./fixtures/${name}/Dockerfile`, import.meta.url), 'utf8');

  test('every-instruction: one stage holding every instruction kind but FROM', () => {
    const plan = planBuild(fixture('every-instruction'));
    expect(plan.stages).toHaveLength(1);
    expect(plan.stages[0]!.base).toEqual({ kind: 'image', ref: 'debian:12-slim' });
    expect(new Set(plan.stages[0]!.instructions.map((i) => i.kind))).toEqual(
      new Set([
        'label',
        'maintainer',
        'env',
        'arg',
        'run',
        'add',
        'copy',
        'workdir',
        'user',
        'expose',
        'volume',
        'stopsignal',
        'healthcheck',
        'shell',
        'onbuild',
        'entrypoint',
        'cmd',
      ]),
    );
    expect(plan.warnings.map((w) => w.rule).sort()).toEqual(['LegacyKeyValueFormat', 'MaintainerDeprecated']);
  });

  test('go-multistage: platform args, mounts and the final stage', () => {
    const plan = planBuild(fixture('go-multistage'), {
      platform: 'linux/arm64',
      buildPlatform: 'linux/amd64',
    });
    expect(plan.stages.map((s) => [s.name, s.base, s.platform])).toEqual([
      ['build', { kind: 'image', ref: 'golang:1.22-alpine' }, 'linux/amd64'],
      ['final', { kind: 'image', ref: 'alpine:3.19' }, undefined],
    ]);
    expect(plan.needed).toEqual([0, 1]);
    const run = plan.stages[0]!.instructions[1]!;
    expect(run.kind === 'run' && run.mounts.map((m) => [m.type, m.target, m.readOnly])).toEqual([
      ['bind', 'go.mod', true],
      ['bind', 'go.sum', true],
      ['cache', '/go/pkg/mod', false],
    ]);
    expect(plan.warnings).toEqual([]);
  });
});

describe('expansion errors at plan time name their line', () => {
  test.each<[string, number]>([
    ['FROM a\nFROM img:${TAG:?unset}', 2],
    ['ARG A\nARG B=${A:?needs A}\nFROM x', 2],
    ['FROM --platform=${P:?} a', 1],
    ['FROM a\nFROM ${', 2],
  ])('%j fails at line %i', (text, line) => {
    try {
      planBuild(text);
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(DockerfileError);
      expect((err as DockerfileError).code).toBe('EXPANSION_ERROR');
      expect((err as DockerfileError).line).toBe(line);
    }
  });
});
