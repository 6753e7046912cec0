// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Dockerfile text under test uses ${VAR}
import { DockerfileError, dumpAst, parseDockerfile } from '@kiln/dockerfile';
import { describe, expect, test } from 'vitest';

/** [what the case pins, Dockerfile text, expected dump lines]. */
const dumpCases: [string, string, string[]][] = [
  ['keyword is lower-cased in the dump', 'FROM a\nrun x', ['(from "a")', '(run "x")']],
  ['mixed-case keywords are recognised', 'FrOm a\nCoPy b c', ['(from "a")', '(copy "b" "c")']],
  ['shell form keeps inner spacing', 'FROM a\nRUN  a   b  ', ['(from "a")', '(run "a   b")']],
  ['exec form splits JSON strings', 'FROM a\nRUN ["a","b c"]', ['(from "a")', '(run "a" "b c")']],
  [
    'JSON with trailing text falls back to shell form',
    'FROM a\nCMD ["a"] x',
    ['(from "a")', '(cmd "[\\"a\\"] x")'],
  ],
  ['single-quoted JSON falls back to shell form', "FROM a\nCMD ['a']", ['(from "a")', `(cmd "['a']")`]],
  ['empty JSON array gives no arguments', 'FROM a\nENTRYPOINT []', ['(from "a")', '(entrypoint)']],
  ['JSON escapes are decoded', 'FROM a\nCMD ["a\\tb", "\\u0041"]', ['(from "a")', '(cmd "a\\tb" "A")']],
  [
    'a lone surrogate escape decodes to U+FFFD',
    'FROM a\nCMD ["\\ud800x"]',
    ['(from "a")', '(cmd "\ufffdx")'],
  ],
  [
    'a number out of float64 range falls back to shell form',
    'FROM a\nCMD [1e999]',
    ['(from "a")', '(cmd "[1e999]")'],
  ],
  ['RUN without arguments', 'FROM a\nRUN', ['(from "a")', '(run)']],
  ['CMD without arguments', 'FROM a\nCMD', ['(from "a")', '(cmd)']],
  ['COPY splits on whitespace', 'FROM a\nCOPY  a\tb   c', ['(from "a")', '(copy "a" "b" "c")']],
  ['COPY JSON keeps spaces', 'FROM a\nCOPY ["a b", "c"]', ['(from "a")', '(copy "a b" "c")']],
  ['VOLUME JSON', 'FROM a\nVOLUME ["/v"]', ['(from "a")', '(volume "/v")']],
  ['VOLUME list', 'FROM a\nVOLUME /v /w', ['(from "a")', '(volume "/v" "/w")']],
  ['EXPOSE list', 'FROM a\nEXPOSE 80 53/udp', ['(from "a")', '(expose "80" "53/udp")']],
  ['FROM with stage name', 'FROM a AS b', ['(from "a" "AS" "b")']],
  ['FROM with platform flag', 'FROM --platform=linux/arm64 a', ['(from ["--platform=linux/arm64"] "a")']],
  ['USER takes the rest of the line', 'FROM a\nUSER a b', ['(from "a")', '(user "a b")']],
  ['WORKDIR takes the rest of the line', 'FROM a\nWORKDIR /a b', ['(from "a")', '(workdir "/a b")']],
  ['MAINTAINER takes the rest', 'FROM a\nMAINTAINER Jo <j@x>', ['(from "a")', '(maintainer "Jo <j@x>")']],
  ['STOPSIGNAL', 'FROM a\nSTOPSIGNAL 9', ['(from "a")', '(stopsignal "9")']],
  ['ENV legacy form', 'FROM a\nENV K some value', ['(from "a")', '(env "K" "some value" "")']],
  ['ENV key=value form', 'FROM a\nENV K=v L=w', ['(from "a")', '(env "K" "v" "=" "L" "w" "=")']],
  ['ENV keeps quotes for later', 'FROM a\nENV K="a b"', ['(from "a")', '(env "K" "\\"a b\\"" "=")']],
  ['ENV value with = inside', 'FROM a\nENV K=a=b', ['(from "a")', '(env "K" "a=b" "=")']],
  ['ENV empty value', 'FROM a\nENV K=', ['(from "a")', '(env "K" "" "=")']],
  ['ENV escaped space', 'FROM a\nENV K=a\\ b', ['(from "a")', '(env "K" "a\\\\ b" "=")']],
  ['LABEL multiple', 'FROM a\nLABEL a=b "c d"=e', ['(from "a")', '(label "a" "b" "=" "\\"c d\\"" "e" "=")']],
  ['ARG names and defaults', 'FROM a\nARG x y=1', ['(from "a")', '(arg "x" "y=1")']],
  ['ARG quoted default', 'FROM a\nARG y="1 2"', ['(from "a")', '(arg "y=\\"1 2\\"")']],
  ['ONBUILD wraps its trigger', 'FROM a\nONBUILD RUN x', ['(from "a")', '(onbuild (run "x"))']],
  [
    'ONBUILD trigger flags',
    'FROM a\nONBUILD ADD --chown=1 a b',
    ['(from "a")', '(onbuild (add ["--chown=1"] "a" "b"))'],
  ],
  ['ONBUILD without trigger', 'FROM a\nONBUILD', ['(from "a")', '(onbuild)']],
  ['SHELL JSON', 'FROM a\nSHELL ["sh", "-c"]', ['(from "a")', '(shell "sh" "-c")']],
  ['HEALTHCHECK NONE', 'FROM a\nHEALTHCHECK NONE', ['(from "a")', '(healthcheck "NONE")']],
  ['flags with quotes', 'FROM a\nCOPY --chown="a b" x y', ['(from "a")', '(copy ["--chown=a b"] "x" "y")']],
  ['flag with single quotes', "FROM a\nCOPY --from='s' x y", ['(from "a")', '(copy ["--from=s"] "x" "y")']],
  [
    'flags stop at the first non-flag',
    'FROM a\nRUN --network=none echo --x',
    ['(from "a")', '(run ["--network=none"] "echo --x")'],
  ],
  ['double dash ends flags', 'FROM a\nCOPY -- --a b', ['(from "a")', '(copy "--a" "b")']],
  ['a single dash is not a flag', 'FROM a\nCOPY -a b', ['(from "a")', '(copy "-a" "b")']],
  ['flag escape', 'FROM a\nCOPY --chown=a\\ b x y', ['(from "a")', '(copy ["--chown=a b"] "x" "y")']],
  ['unknown instruction keeps an empty argument', 'FROM a\nNOPE x', ['(from "a")', '(nope "")']],
  ['comment lines are skipped', '# c\nFROM a\n  # indented comment\nRUN x', ['(from "a")', '(run "x")']],
  [
    'hash inside a line is an argument',
    'FROM a\nRUN echo # not a comment',
    ['(from "a")', '(run "echo # not a comment")'],
  ],
  ['blank lines are skipped', '\n\nFROM a\n\n\nRUN x\n\n', ['(from "a")', '(run "x")']],
  ['indented instructions', '   FROM a\n\tRUN x', ['(from "a")', '(run "x")']],
  ['continuation joins without separator', 'FROM a\nRUN a\\\nb', ['(from "a")', '(run "ab")']],
  ['continuation keeps leading whitespace', 'FROM a\nRUN a \\\n  b', ['(from "a")', '(run "a   b")']],
  [
    'continuation with trailing blanks after the escape',
    'FROM a\nRUN a \\ \t\nb',
    ['(from "a")', '(run "a b")'],
  ],
  ['comment inside continuation is dropped', 'FROM a\nRUN a \\\n# x\nb', ['(from "a")', '(run "a b")']],
  ['indented comment inside continuation', 'FROM a\nRUN a \\\n   # x\nb', ['(from "a")', '(run "a b")']],
  ['blank line inside continuation is dropped', 'FROM a\nRUN a \\\n\nb', ['(from "a")', '(run "a b")']],
  [
    'escaped escape does not continue',
    'FROM a\nRUN a \\\\\nRUN b',
    ['(from "a")', '(run "a \\\\\\\\")', '(run "b")'],
  ],
  ['continuation at end of file', 'FROM a\nRUN a \\', ['(from "a")', '(run "a")']],
  ['escape alone on a line continues', 'FROM a\nRUN \\\nx', ['(from "a")', '(run "x")']],
  ['keyword split by continuation', 'FROM a\nRU\\\nN x', ['(from "a")', '(run "x")']],
  ['backtick escape continues lines', '# escape=`\nFROM a\nRUN a `\nb', ['(from "a")', '(run "a b")']],
  [
    'backslash is literal under backtick escape',
    '# escape=`\nFROM a\nRUN a \\\nRUN b',
    ['(from "a")', '(run "a \\\\")', '(run "b")'],
  ],
  [
    'escape directive is case-insensitive with spaces',
    '#  ESCAPE = `\nFROM a\nRUN a `\nb',
    ['(from "a")', '(run "a b")'],
  ],
  [
    'directive after a comment is a comment',
    '# hello\n# escape=`\nFROM a\nRUN a `\nRUN b',
    ['(from "a")', '(run "a `")', '(run "b")'],
  ],
  [
    'directive after a blank line is a comment',
    '\n# escape=`\nFROM a\nRUN a \\\nb',
    ['(from "a")', '(run "a b")'],
  ],
  [
    'directive after an instruction is a comment',
    'FROM a\n# escape=`\nRUN a \\\nb',
    ['(from "a")', '(run "a b")'],
  ],
  ['CRLF line endings', 'FROM a\r\nRUN x\r\n', ['(from "a")', '(run "x")']],
  ['CRLF continuation', 'FROM a\r\nRUN x \\\r\n  y\r\n', ['(from "a")', '(run "x   y")']],
  ['BOM is ignored', '\ufeffFROM a', ['(from "a")']],
  [
    'heredoc lines are not instructions',
    'FROM a\nRUN <<E\nFROM nope\nE\nRUN y',
    ['(from "a")', '(run "<<E")', '(run "y")'],
  ],
  ['heredoc after text', 'FROM a\nRUN cat <<E > f\nx\nE', ['(from "a")', '(run "cat <<E > f")']],
  [
    'no heredoc when << is inside a word',
    'FROM a\nRUN cat<<E\nE',
    ['(from "a")', '(run "cat<<E")', '(e "")'],
  ],
  [
    'no heredoc for other instructions',
    'FROM a\nENV A=<<E\nE',
    ['(from "a")', '(env "A" "<<E" "=")', '(e "")'],
  ],
  ['no heredoc in JSON form', 'FROM a\nRUN ["<<E"]\nE', ['(from "a")', '(run "<<E")', '(e "")']],
  ['ONBUILD RUN heredoc', 'FROM a\nONBUILD RUN <<E\nFROM x\nE', ['(from "a")', '(onbuild (run "<<E"))']],
  ['Go quoting of control characters', 'FROM a\nRUN a\u0001b', ['(from "a")', '(run "a\\x01b")']],
  ['Go quoting keeps printable unicode', 'FROM a\nRUN é✓', ['(from "a")', '(run "é✓")']],
  ['Go quoting escapes non-breaking space', 'FROM a\nRUN a\u00a0b', ['(from "a")', '(run "a\\u00a0b")']],
];

describe('dumpAst (BuildKit parser result format)', () => {
  test.each(dumpCases)('%s', (_what, text, lines) => {
    expect(dumpAst(text)).toBe(`${lines.join('\n')}\n`);
  });
});

describe('parseDockerfile structure', () => {
  test('node keeps keyword, original line, flags and JSON flag', () => {
    const [, copy, cmd] = parseDockerfile('FROM a\ncopy --link a \\\n  b\nCMD ["x"]').children;
    expect(copy).toMatchObject({
      value: 'copy',
      keyword: 'copy',
      original: 'copy --link a   b',
      flags: ['--link'],
    });
    expect(copy!.json).toBe(false);
    expect(cmd!.json).toBe(true);
  });

  test('ranges are 1-based lines and columns, end column exclusive', () => {
    const ast = parseDockerfile('FROM a\n  RUN x \\\n    y\n\nCMD z');
    expect(ast.children.map((c) => c.range)).toEqual([
      { start: { line: 1, column: 1 }, end: { line: 1, column: 7 } },
      { start: { line: 2, column: 3 }, end: { line: 3, column: 6 } },
      { start: { line: 5, column: 1 }, end: { line: 5, column: 6 } },
    ]);
  });

  test('a heredoc instruction ends on its terminator line', () => {
    const ast = parseDockerfile('FROM a\nRUN <<A <<B\n1\nA\n2\nB\nCMD x');
    expect(ast.children[1]!.range.end.line).toBe(6);
    expect(ast.children[2]!.range.start.line).toBe(7);
  });

  test('heredoc bodies are kept raw with their newlines', () => {
    const [, run] = parseDockerfile('FROM a\nRUN <<EOF\necho $HOME\n  # kept\n\nEOF\n').children;
    expect(run!.heredocs).toEqual([
      expect.objectContaining({
        name: 'EOF',
        content: 'echo $HOME\n  # kept\n\n',
        expand: true,
        chomp: false,
      }),
    ]);
  });

  test('several heredocs on one line are read in order', () => {
    const [, copy] = parseDockerfile('FROM a\nCOPY <<one <<two /d/\n1\none\n2\ntwo\n').children;
    expect(copy!.heredocs.map((h) => [h.name, h.content])).toEqual([
      ['one', '1\n'],
      ['two', '2\n'],
    ]);
  });

  test('quoted delimiters disable expansion', () => {
    const names = (line: string) =>
      parseDockerfile(`FROM a\n${line}\nbody\nEOF\n`).children[1]!.heredocs.map((h) => [h.name, h.expand]);
    expect(names('RUN <<EOF')).toEqual([['EOF', true]]);
    expect(names('RUN <<"EOF"')).toEqual([['EOF', false]]);
    expect(names("RUN <<'EOF'")).toEqual([['EOF', false]]);
    expect(names('RUN <<E"O"F')).toEqual([['EOF', false]]);
  });

  test('<<- strips tabs from the terminator and marks chomp; fd prefix is read', () => {
    const [, run] = parseDockerfile('FROM a\nRUN 3<<-EOF\n\tx\n\t\tEOF\n').children;
    expect(run!.heredocs[0]).toMatchObject({ name: 'EOF', chomp: true, fileDescriptor: 3, content: '\tx\n' });
  });

  test('a terminator with trailing spaces does not end the heredoc', () => {
    expect(() => parseDockerfile('FROM a\nRUN <<EOF\nx\nEOF \n')).toThrow(/unterminated heredoc/);
  });

  test('heredoc bodies keep CRLF bytes but the terminator matches', () => {
    const [, run] = parseDockerfile('FROM a\r\nRUN <<EOF\r\nx\r\nEOF\r\n').children;
    expect(run!.heredocs[0]!.content).toBe('x\r\n');
  });

  test('directives are returned with ranges', () => {
    const ast = parseDockerfile('# syntax=docker/dockerfile:1\n# check=skip=all\n# escape=`\nFROM a');
    expect(ast.directives.map((d) => [d.name, d.value, d.range.start.line])).toEqual([
      ['syntax', 'docker/dockerfile:1', 1],
      ['check', 'skip=all', 2],
      ['escape', '`', 3],
    ]);
    expect(ast.escapeToken).toBe('`');
  });

  test('an unknown directive ends directive scanning', () => {
    const ast = parseDockerfile('# foo=bar\n# escape=`\nFROM a');
    expect(ast.directives).toEqual([]);
    expect(ast.escapeToken).toBe('\\');
  });

  test('comments above an instruction are attached to it', () => {
    const ast = parseDockerfile('FROM a\n# first\n#second\nRUN x');
    expect(ast.children[1]!.comments).toEqual(['first', 'second']);
  });

  test('an empty continuation line gives a NoEmptyContinuation warning at the instruction', () => {
    const ast = parseDockerfile('FROM a\nRUN a \\\n\n b');
    expect(ast.warnings).toEqual([
      expect.objectContaining({
        rule: 'NoEmptyContinuation',
        range: expect.objectContaining({ start: { line: 2, column: 1 } }),
      }),
    ]);
  });

  test.each([
    ['', 'EMPTY_DOCKERFILE'],
    ['\n\n  \n', 'EMPTY_DOCKERFILE'],
    ['# only a comment', 'EMPTY_DOCKERFILE'],
    ['# escape=x\nFROM a', 'INVALID_ESCAPE'],
    ['# escape=\\\n# escape=`\nFROM a', 'DUPLICATE_DIRECTIVE'],
    ['# syntax=a\n# SYNTAX=b\nFROM a', 'DUPLICATE_DIRECTIVE'],
    ['FROM a\nRUN <<EOF\n', 'UNTERMINATED_HEREDOC'],
    ['FROM a\nRUN ["a", 1]', 'INVALID_JSON_ARRAY'],
    ['FROM a\nCOPY ["a", null]', 'INVALID_JSON_ARRAY'],
    ['FROM a\nENV K', 'INVALID_ARGUMENTS'],
    ['FROM a\nLABEL k=v x', 'INVALID_ARGUMENTS'],
  ])('parse error %j → %s', (text, code) => {
    expect(() => parseDockerfile(text)).toThrow(DockerfileError);
    try {
      parseDockerfile(text);
    } catch (err) {
      expect((err as DockerfileError).code).toBe(code);
      expect((err as DockerfileError).line).toBeGreaterThan(0);
    }
  });

  test('unknown instructions parse; only planning rejects them', () => {
    expect(parseDockerfile('FROM a\nBOGUS x').children[1]!.value).toBe('bogus');
  });
});

describe('continuation whitespace as BuildKit joins it', () => {
  test('blank and comment lines inside continuations', () => {
    const text = [
      'FROM alpine',
      'RUN first \\',
      '',
      '    second \\',
      '',
      '    third',
      'RUN flat \\',
      '# a comment',
      '   after',
      'RUN deep \\',
      '    # an indented comment',
      '    tail',
    ].join('\n');
    const ast = parseDockerfile(text);
    expect(ast.children.map((c) => c.original)).toEqual([
      'FROM alpine',
      'RUN first     second     third',
      'RUN flat    after',
      'RUN deep     tail',
    ]);
    expect(ast.warnings.map((w) => [w.rule, w.range.start.line])).toEqual([['NoEmptyContinuation', 2]]);
  });
});
