import { describe, expect, test } from 'vitest';
import { BUILD_FLAGS, type CliIo, formatHelp, optionsFromFlags, parseArgs } from '../src/index.js';

/** The build options `kiln build <argv>` makes, with `env` as the environment. */
async function optionsFor(argv: string[], env: Record<string, string> = {}) {
  const { values, positionals } = parseArgs(argv, BUILD_FLAGS);
  return optionsFromFlags(values, positionals, { env } as unknown as CliIo);
}

describe('kaniko mode: --in-place and KILN_IN_PLACE=1 select the in-place executor', () => {
  test.each([
    [['--in-place'], {}, 'in-place'],
    [[], { KILN_IN_PLACE: '1' }, 'in-place'],
    [['--in-place=false'], { KILN_IN_PLACE: '1' }, undefined],
    [[], { KILN_IN_PLACE: '0' }, undefined],
    [[], {}, undefined],
  ] as const)('%j with %j → %s', async (flags, env, name) => {
    const o = await optionsFor([...flags, '--no-push'], env);
    expect(o.executor ? o.executor.name : undefined).toBe(name);
    if (name) expect(o.executor ? o.executor.rootfs : undefined).toBe('host');
  });

  test('files the CLI writes after the build are kept', async () => {
    const o = await optionsFor([
      '--in-place',
      ...['-d', 'registry.test/app:1', '--digest-file', '/dev/termination-log'],
      ...['--image-name-with-digest-file', 'out/names'],
    ]);
    expect(o.keepPaths).toEqual(['/dev/termination-log', 'out/names']);
    expect((await optionsFor(['-d', 'registry.test/app:1', '--digest-file', 'd'])).keepPaths).toBeUndefined();
  });

  test('--help documents the flag and the variable', () => {
    expect(formatHelp(BUILD_FLAGS)).toMatch(/--in-place .*KILN_IN_PLACE=1/);
  });
});
