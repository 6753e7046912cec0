import {
  commandArgv,
  DEFAULT_SHELL,
  parseInstruction,
  type RunInstruction,
  runCommandLine,
} from '@kiln/dockerfile';
import { describe, expect, test } from 'vitest';

const run = (text: string) => parseInstruction(text) as RunInstruction;

describe('runCommandLine', () => {
  test.each<[string, string[]]>([
    ['RUN echo hi', ['/bin/sh', '-c', 'echo hi']],
    ['RUN ["/bin/echo", "hi"]', ['/bin/echo', 'hi']],
    ['RUN a \\\n  b', ['/bin/sh', '-c', 'a   b']],
    ['RUN <<EOF\necho one\necho two\nEOF', ['/bin/sh', '-c', 'echo one\necho two\n']],
    ['RUN <<-EOF\n\techo tabbed\n\tEOF', ['/bin/sh', '-c', 'echo tabbed\n']],
    ["RUN <<'EOF'\necho $HOME\nEOF", ['/bin/sh', '-c', 'echo $HOME\n']],
    ['RUN python3 <<EOF\nprint(1)\nEOF', ['/bin/sh', '-c', 'python3 <<EOF\nprint(1)\nEOF']],
    ['RUN <<A <<B\n1\nA\n2\nB', ['/bin/sh', '-c', '<<A <<B\n1\nA\n2\nB']],
    ['RUN <<-EOF cat\n\tx\n\tEOF', ['/bin/sh', '-c', '<<-EOF cat\n\tx\nEOF']],
  ])('%j', (text, argv) => {
    expect(runCommandLine(run(text))).toEqual({ argv, files: [] });
  });

  test('a heredoc-only RUN with a shebang runs a mounted script', () => {
    expect(runCommandLine(run('RUN <<SCRIPT\n#!/usr/bin/env python3\nprint(1)\nSCRIPT'))).toEqual({
      argv: ['/bin/sh', '-c', '/dev/pipes/SCRIPT'],
      files: [{ path: '/dev/pipes/SCRIPT', data: '#!/usr/bin/env python3\nprint(1)\n', mode: 0o755 }],
    });
  });

  test('a SHELL replaces the default shell for shell form only', () => {
    expect(runCommandLine(run('RUN echo hi'), ['bash', '-eo', 'pipefail', '-c']).argv).toEqual([
      'bash',
      '-eo',
      'pipefail',
      '-c',
      'echo hi',
    ]);
    expect(runCommandLine(run('RUN ["x"]'), ['bash', '-c']).argv).toEqual(['x']);
  });
});

describe('commandArgv', () => {
  test.each<[string, string[]]>([
    ['CMD ["a", "b"]', ['a', 'b']],
    ['CMD a b', ['/bin/sh', '-c', 'a b']],
    ['CMD []', []],
    ['ENTRYPOINT ["/x"]', ['/x']],
    ['ENTRYPOINT exec /x', ['/bin/sh', '-c', 'exec /x']],
  ])('%s', (text, argv) => {
    const i = parseInstruction(text);
    if (i.kind !== 'cmd' && i.kind !== 'entrypoint') throw new Error(i.kind);
    expect(commandArgv(i)).toEqual(argv);
  });

  test('the default shell is /bin/sh -c', () => {
    expect(DEFAULT_SHELL).toEqual(['/bin/sh', '-c']);
  });
});
