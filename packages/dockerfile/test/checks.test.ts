// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Dockerfile text under test uses ${VAR}
import { DockerfileError, planBuild, rules } from '@kiln/dockerfile';
import { describe, expect, test } from 'vitest';

/** `rule@line` for every warning of the plan. */
const warned = (text: string, opts = {}) =>
  planBuild(text, opts).warnings.map((w) => `${w.rule}@${w.range.start.line}`);

describe('build checks as warnings', () => {
  test.each<[string, string, string[]]>([
    ['JSONArgsRecommended for shell-form CMD', 'FROM a\nCMD run it', ['JSONArgsRecommended@2']],
    ['JSONArgsRecommended for shell-form ENTRYPOINT', 'FROM a\nENTRYPOINT run it', ['JSONArgsRecommended@2']],
    ['no JSONArgsRecommended for exec form', 'FROM a\nCMD ["x"]\nENTRYPOINT ["y"]', []],
    ['no JSONArgsRecommended after SHELL', 'FROM a\nSHELL ["bash", "-c"]\nCMD run it', []],
    ['MaintainerDeprecated', 'FROM a\nMAINTAINER me', ['MaintainerDeprecated@2']],
    ['FromAsCasing upper FROM lower as', 'FROM a as b', ['FromAsCasing@1']],
    ['FromAsCasing lower from upper AS', 'from a AS b', ['FromAsCasing@1']],
    ['FromAsCasing with an image named as', 'FROM as as b', ['FromAsCasing@1']],
    ['no FromAsCasing with an image named as', 'FROM as AS b', []],
    ['no FromAsCasing when matching', 'FROM a AS b\nfrom c as d', ['ConsistentInstructionCasing@2']],
    ['StageNameCasing', 'FROM a AS Builder', ['StageNameCasing@1']],
    ['ReservedStageName', 'FROM a AS context', ['ReservedStageName@1']],
    [
      'ConsistentInstructionCasing flags the minority',
      'FROM a\nRUN x\nrun y\nCOPY a b',
      ['ConsistentInstructionCasing@3'],
    ],
    [
      'ConsistentInstructionCasing with lowercase majority',
      'from a\nrun x\nRUN y',
      ['ConsistentInstructionCasing@3'],
    ],
    ['ConsistentInstructionCasing flags mixed case', 'FROM a\nRun x', ['ConsistentInstructionCasing@2']],
    ['LegacyKeyValueFormat for ENV', 'FROM a\nENV A b', ['LegacyKeyValueFormat@2']],
    ['LegacyKeyValueFormat for LABEL', 'FROM a\nLABEL a b', ['LegacyKeyValueFormat@2']],
    ['no LegacyKeyValueFormat for key=value', 'FROM a\nENV A=b\nLABEL a=b', []],
    ['UndefinedArgInFrom', 'FROM img:$TAG', ['UndefinedArgInFrom@1']],
    ['no UndefinedArgInFrom for a declared ARG without value', 'ARG TAG\nFROM img${TAG}', []],
    ['WorkdirRelativePath', 'FROM a\nWORKDIR app', ['WorkdirRelativePath@2']],
    ['no WorkdirRelativePath after an absolute WORKDIR', 'FROM a\nWORKDIR /srv\nWORKDIR app', []],
    [
      'MultipleInstructionsDisallowed for CMD',
      'FROM a\nCMD ["a"]\nCMD ["b"]',
      ['MultipleInstructionsDisallowed@2'],
    ],
    [
      'MultipleInstructionsDisallowed for ENTRYPOINT and HEALTHCHECK',
      'FROM a\nENTRYPOINT ["a"]\nHEALTHCHECK NONE\nENTRYPOINT ["b"]\nHEALTHCHECK NONE',
      ['MultipleInstructionsDisallowed@2', 'MultipleInstructionsDisallowed@3'],
    ],
    ['MultipleInstructionsDisallowed is per stage', 'FROM a\nCMD ["a"]\nFROM b\nCMD ["b"]', []],
    ['SecretsUsedInArgOrEnv for ARG', 'FROM a\nARG GITHUB_TOKEN', ['SecretsUsedInArgOrEnv@2']],
    ['SecretsUsedInArgOrEnv for ENV', 'FROM a\nENV DB_PASSWORD=x', ['SecretsUsedInArgOrEnv@2']],
    ['no SecretsUsedInArgOrEnv for public keys', 'FROM a\nENV PUBLIC_KEY=x\nARG KEYBOARD', []],
    [
      'secret words are separated by underscores only',
      'FROM a\nARG API-KEY\nENV my_secret=1',
      ['SecretsUsedInArgOrEnv@3'],
    ],
    ['RedundantTargetPlatform', 'FROM --platform=$TARGETPLATFORM a', ['RedundantTargetPlatform@1']],
    [
      'FromPlatformFlagConstDisallowed',
      'FROM --platform=linux/amd64 a',
      ['FromPlatformFlagConstDisallowed@1'],
    ],
    ['no platform warning for $BUILDPLATFORM', 'FROM --platform=$BUILDPLATFORM a', []],
    ['ExposeProtoCasing', 'FROM a\nEXPOSE 80/TCP', ['ExposeProtoCasing@2']],
    ['ExposeInvalidFormat', 'FROM a\nEXPOSE 127.0.0.1:80:80', ['ExposeInvalidFormat@2']],
    ['NoEmptyContinuation', 'FROM a\nRUN a \\\n\n  b', ['NoEmptyContinuation@2']],
    ['UndefinedVar in a scratch stage', 'FROM scratch\nCOPY $NOPE /x', ['UndefinedVar@2']],
    ['no UndefinedVar for ENV and ARG names', 'FROM scratch\nARG A\nENV B=1\nCOPY $A$B /x', []],
    ['no UndefinedVar for PATH', 'FROM scratch\nENV PATH=/x:$PATH', []],
    [
      'a global ARG is not visible in a stage without re-declaration',
      'ARG V=1\nFROM scratch\nCOPY $V /x',
      ['UndefinedVar@3'],
    ],
    ['a re-declared global ARG is visible', 'ARG V=1\nFROM scratch\nARG V\nCOPY $V /x', []],
    ['an ARG is visible only after its declaration', 'FROM scratch\nCOPY $V /x\nARG V=1', ['UndefinedVar@2']],
    [
      'ENV feeds later expansion',
      'FROM scratch\nENV A=/x\nWORKDIR $A\nCOPY ${A}/f $B /d',
      ['UndefinedVar@4'],
    ],
    ['ARG defaults see earlier ENV', 'FROM scratch\nENV A=1\nARG B=$A$C', ['UndefinedVar@3']],
    [
      'UndefinedVar flows through stage bases',
      'FROM scratch AS a\nENV X=1\nFROM a\nWORKDIR /$X$Y',
      ['UndefinedVar@4'],
    ],
    ['no UndefinedVar for image bases (Env unknown)', 'FROM alpine\nCOPY $NOPE /x', []],
    ['no UndefinedVar for RUN text', 'FROM scratch\nRUN echo $NOPE', []],
    [
      'clean file',
      'FROM alpine AS build\nRUN make\nFROM scratch\nCOPY --from=build /out /\nCMD ["/app"]',
      [],
    ],
  ])('%s', (_what, text, expected) => {
    expect(warned(text).sort()).toEqual(expected.sort());
  });

  test('warnings carry message, rule URL and range', () => {
    const [w] = planBuild('FROM a\nMAINTAINER me').warnings;
    expect(w).toEqual({
      rule: 'MaintainerDeprecated',
      message: rules.MaintainerDeprecated.format(),
      url: 'https://docs.docker.com/go/dockerfile/rule/maintainer-deprecated/',
      range: { start: { line: 2, column: 1 }, end: { line: 2, column: 14 } },
    });
  });

  test('UndefinedVar suggests a close name', () => {
    const [w] = planBuild('FROM scratch\nENV VERSION=1\nCOPY $VERSOIN /x').warnings;
    expect(w!.message).toContain('did you mean $VERSION');
  });

  test('every rule has a name, a description and a docs URL', () => {
    for (const [name, rule] of Object.entries(rules)) {
      expect(rule.name).toBe(name);
      expect(rule.description.length).toBeGreaterThan(10);
      expect(rule.url).toMatch(/^https:\/\/docs\.docker\.com\/go\/dockerfile\/rule\/[a-z-]+\/$/);
    }
  });

  test('warnings are sorted by line', () => {
    const lines = planBuild('FROM a\nCMD x\nMAINTAINER m\nENV A b').warnings.map((w) => w.range.start.line);
    expect(lines).toEqual([...lines].sort((a, b) => a - b));
  });
});

describe('# check= directive', () => {
  test('skip= removes the named rules', () => {
    expect(warned('# check=skip=MaintainerDeprecated\nFROM a\nMAINTAINER m\nCMD x')).toEqual([
      'JSONArgsRecommended@4',
    ]);
  });
  test('skip= takes a comma list', () => {
    expect(
      warned('# check=skip=MaintainerDeprecated,JSONArgsRecommended\nFROM a\nMAINTAINER m\nCMD x'),
    ).toEqual([]);
  });
  test('skip=all removes every warning', () => {
    expect(warned('# check=skip=all\nFROM a\nMAINTAINER m\nCMD x')).toEqual([]);
  });
  test('error=true turns remaining warnings into a CHECK_FAILED error at the first one', () => {
    try {
      planBuild('# check=error=true\nFROM a\nCMD x');
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(DockerfileError);
      expect((err as DockerfileError).code).toBe('CHECK_FAILED');
      expect((err as DockerfileError).line).toBe(3);
      expect((err as DockerfileError).message).toContain('JSONArgsRecommended');
    }
  });
  test('error=true with no warnings passes', () => {
    expect(planBuild('# check=error=true\nFROM a\nCMD ["x"]').warnings).toEqual([]);
  });
  test('error takes Go boolean spellings', () => {
    expect(() => planBuild('# check=error=1\nFROM a\nCMD x')).toThrow(DockerfileError);
    expect(() => planBuild('# check=error=F\nFROM a\nCMD x')).not.toThrow();
  });
  test('skip and error combine', () => {
    expect(warned('# check=skip=JSONArgsRecommended;error=true\nFROM a\nCMD x')).toEqual([]);
  });
  test('BUILDKIT_DOCKERFILE_CHECK build arg overrides the directive', () => {
    expect(
      warned('# check=skip=all\nFROM a\nCMD x', { buildArgs: { BUILDKIT_DOCKERFILE_CHECK: 'skip=none' } }),
    ).toEqual(['JSONArgsRecommended@3']);
  });
  test.each(['error=maybe', 'bogus=1'])('invalid option %s is an INVALID_DIRECTIVE error', (v) => {
    expect(() => planBuild(`# check=${v}\nFROM a`)).toThrow(DockerfileError);
  });
});

describe('InvalidDefaultArgInFrom and skipChecks', () => {
  test('a global ARG whose default gives an invalid base name warns even when a build arg fixes it', () => {
    expect(warned('ARG TAG\nFROM alpine:${TAG}', { buildArgs: { TAG: '3' } })).toEqual([
      'InvalidDefaultArgInFrom@2',
    ]);
    expect(warned('ARG IMG=\nFROM ${IMG}', { buildArgs: { IMG: 'x' } })).toEqual([
      'InvalidDefaultArgInFrom@2',
    ]);
  });
  test('a usable default does not warn', () => {
    expect(warned('ARG TAG=3\nFROM alpine:${TAG}')).toEqual([]);
    expect(() => planBuild('ARG TAG\nFROM alpine:${TAG}')).not.toThrow();
    expect(warned('ARG TAG\nFROM alpine:${TAG}')).toEqual(['InvalidDefaultArgInFrom@2']);
    expect(warned('ARG TAG\nFROM alpine:${TAG:-latest}')).toEqual([]);
  });
  test('parseDockerfile skipChecks drops parse-time warnings', async () => {
    const { parseDockerfile } = await import('@kiln/dockerfile');
    expect(parseDockerfile('FROM a\nRUN a \\\n\nb', { skipChecks: true }).warnings).toEqual([]);
    expect(parseDockerfile('FROM a\nRUN a \\\n\nb').warnings).toHaveLength(1);
  });
});

describe('ConsistentInstructionCasing scope', () => {
  test('global ARGs before the first FROM are not counted or flagged', () => {
    expect(warned('arg A=1\narg B=2\narg C=3\nFROM a\nRUN x')).toEqual([]);
  });
  test('ONBUILD triggers are not counted separately', () => {
    expect(warned('FROM a\nONBUILD run x')).toEqual([]);
  });
  test('a tie counts as upper case', () => {
    expect(warned('FROM a\nrun x')).toEqual(['ConsistentInstructionCasing@2']);
  });
});

describe('dispatch-time helpers for core', () => {
  test('plan.checks reflects the directive', () => {
    expect(planBuild('# check=skip=A,B;error=false\nFROM a').checks).toEqual({
      skip: ['A', 'B'],
      error: false,
    });
    expect(planBuild('FROM a').checks).toEqual({ skip: [], error: false });
  });

  test('undefinedVarWarnings skips declared ARGs and suggests a close name', async () => {
    const { undefinedVarWarnings, expandInstruction, parseInstruction } = await import('@kiln/dockerfile');
    const ins = parseInstruction('COPY $DECLARED $VERSON $OTHER /x');
    const { undefinedVars } = expandInstruction(ins, { VERSION: '1' });
    const ws = undefinedVarWarnings(ins, undefinedVars, { declaredArgs: ['DECLARED'], env: ['VERSION'] });
    expect(ws.map((w) => [w.rule, w.message])).toEqual([
      ['UndefinedVar', rules.UndefinedVar.format('VERSON', 'VERSION')],
      ['UndefinedVar', rules.UndefinedVar.format('OTHER')],
    ]);
    expect(ws[0]!.range).toEqual(ins.range);
  });

  test('applyChecks and failOnWarnings apply skip and error to dispatch-time warnings', async () => {
    const { applyChecks, failOnWarnings, undefinedVarWarnings, parseInstruction } = await import(
      '@kiln/dockerfile'
    );
    const ws = undefinedVarWarnings(parseInstruction('WORKDIR $X'), ['X'], { declaredArgs: [], env: [] });
    expect(applyChecks({ skip: ['UndefinedVar'], error: true }, ws)).toEqual([]);
    expect(applyChecks({ skip: ['all'], error: false }, ws)).toEqual([]);
    expect(applyChecks({ skip: [], error: false }, ws)).toEqual(ws);
    expect(() => failOnWarnings({ skip: [], error: true }, ws)).toThrow(DockerfileError);
    expect(() => failOnWarnings({ skip: [], error: false }, ws)).not.toThrow();
  });
});
