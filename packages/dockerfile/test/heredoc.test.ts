import { DockerfileError, parseDockerfile } from '@kiln/dockerfile';
import { describe, expect, test } from 'vitest';

const heredocsOf = (text: string) =>
  parseDockerfile(text).children.map((c) =>
    c.heredocs.map((h) => ({
      name: h.name,
      content: h.content,
      expand: h.expand,
      chomp: h.chomp,
      fd: h.fileDescriptor,
    })),
  );

describe('heredoc extraction', () => {
  test('a sequence of instructions with and without heredocs', () => {
    const text = [
      'FROM busybox',
      'ENV WHO=you',
      'WORKDIR <<NOPE', // WORKDIR takes no heredoc: the next line is an instruction of its own
      'NOPE',
      'RUN <<BLANK',
      'BLANK',
      'RUN 5<<FD',
      'FD',
      "RUN '<<QUOTED'",
      'RUN <<KEEP',
      '\tone',
      '\ttwo',
      'KEEP',
      'RUN <<-STRIP',
      '\tthree',
      '\t\tSTRIP',
      "RUN <<-'RAW'",
      '\t$WHO stays',
      'RAW',
      'RUN --mount=type=tmpfs,target=/t <<WITHFLAGS',
      '# a shell comment, not a Dockerfile comment',
      'WITHFLAGS',
      'COPY <<P <<Q /into/',
      'Q',
      'P',
      'P',
      'Q',
    ].join('\n');
    expect(heredocsOf(text)).toEqual([
      [],
      [],
      [],
      [],
      [{ name: 'BLANK', content: '', expand: true, chomp: false, fd: 0 }],
      [{ name: 'FD', content: '', expand: true, chomp: false, fd: 5 }],
      [],
      [{ name: 'KEEP', content: '\tone\n\ttwo\n', expand: true, chomp: false, fd: 0 }],
      [{ name: 'STRIP', content: '\tthree\n', expand: true, chomp: true, fd: 0 }],
      [{ name: 'RAW', content: '\t$WHO stays\n', expand: false, chomp: true, fd: 0 }],
      [
        {
          name: 'WITHFLAGS',
          content: '# a shell comment, not a Dockerfile comment\n',
          expand: true,
          chomp: false,
          fd: 0,
        },
      ],
      [
        { name: 'P', content: 'Q\n', expand: true, chomp: false, fd: 0 },
        { name: 'Q', content: 'P\n', expand: true, chomp: false, fd: 0 },
      ],
    ]);
    expect(parseDockerfile(text).children[3]!.value).toBe('nope');
  });

  test.each([
    ['RUN ["whoami"]', []],
    ['RUN ["<<EOF"]', []],
    ['RUN "<<EOF"', []],
    ['RUN <<<EOF', []],
    ['RUN <<', []],
    ['RUN <<-', []],
    ['RUN <EOF', []],
    ['RUN x<<EOF', []],
  ])('%s has no heredoc', (line, expected) => {
    expect(parseDockerfile(`FROM a\n${line}`).children[1]!.heredocs).toEqual(expected);
  });

  test.each([
    ['RUN <<EOF', ['EOF']],
    ['RUN <<-EOF', ['EOF']],
    ["RUN <<'EOF'", ['EOF']],
    ['RUN <<"EOF"', ['EOF']],
    ["RUN <<-'EOF'", ['EOF']],
    ['RUN 4<<EOF', ['EOF']],
    ['RUN <<EOF <<EOF2', ['EOF', 'EOF2']],
    ['RUN cat <<A | tee <<B', ['A', 'B']],
    ['ADD <<EOF /x', ['EOF']],
    ['ONBUILD COPY <<EOF /x', ['EOF']],
  ])('%s declares %j', (line, names) => {
    const body = names.map((n) => `x\n${n}\n`).join('');
    const node = parseDockerfile(`FROM a\n${line}\n${body}`).children[1]!;
    expect(node.heredocs.map((h) => h.name)).toEqual(names);
  });

  test('a heredoc header on a continued line is found', () => {
    const node = parseDockerfile('FROM a\nRUN --network=none \\\n  <<EOF\nbody\nEOF').children[1]!;
    expect(node.heredocs.map((h) => h.content)).toEqual(['body\n']);
  });

  test('the escape directive does not change heredoc delimiter lexing', () => {
    const node = parseDockerfile('# escape=`\nFROM a\nRUN <<"E`F"\nx\nE`F').children[1]!;
    expect(node.heredocs[0]!.name).toBe('E`F');
  });

  test('an unterminated heredoc names the instruction line and the delimiter', () => {
    try {
      parseDockerfile('FROM a\n\nRUN <<END\nx\n');
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(DockerfileError);
      expect((err as DockerfileError).line).toBe(3);
      expect((err as DockerfileError).message).toContain('<<END');
    }
  });
});

test('a quoted delimiter with a space is a heredoc on the line, but its split words are plain COPY sources', async () => {
  const { planBuild } = await import('@kiln/dockerfile');
  const plan = planBuild('FROM a\nCOPY <<"A B" /x\nbody\nA B\n');
  const copy = plan.stages[0]!.instructions[0]!;
  expect(copy.kind === 'copy' && [copy.sources, copy.heredocSources]).toEqual([['<<"A', 'B"'], []]);
});
