// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Dockerfile text under test uses ${VAR}
import {
  DockerfileError,
  expandInstruction,
  type Instruction,
  parseInstruction,
  planBuild,
} from '@kiln/dockerfile';
import { describe, expect, test } from 'vitest';

const one = (line: string) => parseInstruction(line);

describe('typed instructions', () => {
  test.each<[string, Partial<Instruction> & Record<string, unknown>]>([
    ['RUN echo hi', { kind: 'run', args: ['echo hi'], json: false, mounts: [], devices: [] }],
    ['RUN ["a", "b"]', { kind: 'run', args: ['a', 'b'], json: true }],
    ['RUN --network=none --security=insecure x', { kind: 'run', network: 'none', security: 'insecure' }],
    [
      'RUN --device=/dev/fuse --device=nvidia.com/gpu=all x',
      { kind: 'run', devices: ['/dev/fuse', 'nvidia.com/gpu=all'] },
    ],
    ['CMD ["a"]', { kind: 'cmd', args: ['a'], json: true }],
    ['CMD a b', { kind: 'cmd', args: ['a b'], json: false }],
    ['ENTRYPOINT ["/bin/x", "-y"]', { kind: 'entrypoint', args: ['/bin/x', '-y'], json: true }],
    ['SHELL ["pwsh", "-c"]', { kind: 'shell', args: ['pwsh', '-c'] }],
    [
      'ENV A=1 B="2 3"',
      {
        kind: 'env',
        pairs: [
          { key: 'A', value: '1' },
          { key: 'B', value: '"2 3"' },
        ],
        legacy: false,
      },
    ],
    ['ENV A 1 2', { kind: 'env', pairs: [{ key: 'A', value: '1 2' }], legacy: true }],
    ['LABEL a=b', { kind: 'label', pairs: [{ key: 'a', value: 'b' }], legacy: false }],
    ['MAINTAINER Jo', { kind: 'maintainer', name: 'Jo' }],
    ['EXPOSE 80 443/tcp 1000', { kind: 'expose', ports: ['1000', '443/tcp', '80'] }],
    ['VOLUME /a /b', { kind: 'volume', paths: ['/a', '/b'] }],
    ['USER app:app', { kind: 'user', user: 'app:app' }],
    ['WORKDIR /srv', { kind: 'workdir', path: '/srv' }],
    ['STOPSIGNAL SIGINT', { kind: 'stopsignal', signal: 'SIGINT' }],
    [
      'ARG A B=2 C=',
      { kind: 'arg', args: [{ key: 'A' }, { key: 'B', value: '2' }, { key: 'C', value: '' }] },
    ],
    ['FROM a AS Build', { kind: 'from', image: 'a', stageName: 'build' }],
    ['FROM --platform=$BUILDPLATFORM a', { kind: 'from', image: 'a', platform: '$BUILDPLATFORM' }],
    [
      'COPY a b /c/',
      { kind: 'copy', sources: ['a', 'b'], dest: '/c/', link: false, parents: false, exclude: [] },
    ],
    [
      'COPY --from=x --chown=1:2 --chmod=644 --link --parents --exclude=*.md --exclude=t a /b',
      {
        kind: 'copy',
        from: 'x',
        chown: '1:2',
        chmod: '644',
        link: true,
        parents: true,
        exclude: ['*.md', 't'],
      },
    ],
    ['COPY --link=false a b', { kind: 'copy', link: false }],
    ['COPY --link=TRUE a b', { kind: 'copy', link: true }],
    ['COPY ["a b", "/c"]', { kind: 'copy', sources: ['a b'], dest: '/c', json: true }],
    [
      'ADD --checksum=sha256:abc --keep-git-dir --unpack=false --chown=1 http://x/y /z',
      {
        kind: 'add',
        checksum: 'sha256:abc',
        keepGitDir: true,
        unpack: false,
        chown: '1',
        sources: ['http://x/y'],
      },
    ],
    ['ADD a b', { kind: 'add', keepGitDir: false, link: false }],
    ['ONBUILD RUN echo hi', { kind: 'onbuild', expression: 'RUN echo hi' }],
    ['onbuild   copy a b', { kind: 'onbuild', expression: 'copy a b' }],
    ['HEALTHCHECK NONE', { kind: 'healthcheck', test: ['NONE'] }],
    ['HEALTHCHECK CMD curl -f x', { kind: 'healthcheck', test: ['CMD-SHELL', 'curl -f x'] }],
    ['HEALTHCHECK CMD ["curl", "x"]', { kind: 'healthcheck', test: ['CMD', 'curl', 'x'] }],
    [
      'HEALTHCHECK --interval=1m30s --timeout=500ms --start-period=2s --start-interval=1.5s --retries=3 CMD x',
      {
        kind: 'healthcheck',
        interval: 90e9,
        timeout: 500e6,
        startPeriod: 2e9,
        startInterval: 1.5e9,
        retries: 3,
      },
    ],
    ['HEALTHCHECK --interval=0s CMD x', { kind: 'healthcheck', interval: 0 }],
    ['healthcheck cmd x', { kind: 'healthcheck', test: ['CMD-SHELL', 'x'] }],
  ])('%s', (line, expected) => {
    expect(one(line)).toMatchObject(expected);
  });

  test('every instruction keeps its range, original text and flags', () => {
    const i = one('COPY --link a b');
    expect(i).toMatchObject({ original: 'COPY --link a b', keyword: 'COPY', flags: ['--link'] });
    expect(i.range.start).toEqual({ line: 1, column: 1 });
  });

  test('ONBUILD carries its typed trigger', () => {
    const i = one('ONBUILD COPY --from=x a b');
    expect(i.kind === 'onbuild' && i.trigger).toMatchObject({
      kind: 'copy',
      from: 'x',
      sources: ['a'],
      dest: 'b',
    });
  });

  test('COPY heredoc sources become files named after the delimiter', () => {
    const i = one('COPY <<a.txt <<-"b.txt" /dst/\nhello $X\na.txt\n\t\tliteral $X\n\tb.txt\n');
    expect(i.kind === 'copy' && i.heredocSources).toEqual([
      { path: 'a.txt', data: 'hello $X\n', expand: true },
      { path: 'b.txt', data: 'literal $X\n', expand: false },
    ]);
    expect(i.kind === 'copy' && i.sources).toEqual([]);
  });

  test('ONBUILD expression carries heredoc bodies and delimiters, as stored in the image config', () => {
    const i = one('ONBUILD RUN <<EOF\necho hi\nEOF');
    expect(i.kind === 'onbuild' && i.expression).toBe('RUN <<EOF\necho hi\nEOF');
    expect(parseInstruction(i.kind === 'onbuild' ? i.expression : '')).toMatchObject({ kind: 'run' });
  });

  test('VOLUME entries are trimmed', () => {
    expect(one('VOLUME [" /data ", "/logs"]')).toMatchObject({ paths: ['/data', '/logs'] });
  });

  test('RUN heredocs are attached with their bodies', () => {
    const i = one('RUN <<EOF\nset -e\nEOF');
    expect(i.kind === 'run' && i.heredocs.map((h) => h.content)).toEqual(['set -e\n']);
  });
});

describe('RUN --mount', () => {
  const mount = (spec: string) => {
    const i = one(`RUN --mount=${spec} true`);
    if (i.kind !== 'run') throw new Error('not run');
    return i.mounts[0]!;
  };
  test.each<[string, Record<string, unknown>]>([
    ['target=/src', { type: 'bind', target: '/src', readOnly: true }],
    ['type=bind,source=.,target=/src,rw', { type: 'bind', source: '.', readOnly: false }],
    ['type=bind,src=a,dst=/b,readwrite=true', { source: 'a', target: '/b', readOnly: false }],
    ['type=bind,from=build,source=/out,target=/in', { from: 'build', source: '/out' }],
    [
      'type=cache,target=/root/.cache,id=go,sharing=locked',
      { type: 'cache', id: 'go', sharing: 'locked', readOnly: false },
    ],
    ['type=cache,target=/c,ro', { type: 'cache', readOnly: true }],
    ['type=cache,target=/c,mode=0700,uid=1000,gid=1000', { mode: '0700', uid: '1000', gid: '1000' }],
    ['type=tmpfs,target=/tmp,size=64m', { type: 'tmpfs', size: '64m' }],
    ['type=secret,id=npmrc,target=/root/.npmrc,required', { type: 'secret', id: 'npmrc', required: true }],
    ['type=secret,id=tok,env=TOKEN', { type: 'secret', env: 'TOKEN' }],
    ['type=ssh', { type: 'ssh', readOnly: true }],
    ['type=secret,id=x', { type: 'secret', readOnly: true }],
    ['type=tmpfs,target=/t', { type: 'tmpfs', readOnly: false }],
    ['type=bind,target=/t,rw=True', { readOnly: false }],
    ['type=bind,target=/t,ro=F', { readOnly: false }],
    ['type=ssh,id=gh,required=false', { type: 'ssh', id: 'gh', required: false }],
    ['TYPE=CACHE,target=/x', { type: 'cache' }],
    ['"type=bind,target=/a b"', { type: 'bind', target: '/a b' }],
  ])('%s', (spec, expected) => {
    expect(mount(spec)).toMatchObject(expected);
  });

  test('several --mount flags are kept in order', () => {
    const i = one('RUN --mount=type=cache,target=/a --mount=type=tmpfs,target=/b x');
    expect(i.kind === 'run' && i.mounts.map((m) => m.type)).toEqual(['cache', 'tmpfs']);
  });

  test.each([
    'type=volume,target=/x',
    'type=cache,targte=/x',
    'type=cache',
    'type=bind,target=/',
    'type=cache,target=/x,sharing=sometimes',
    'type=cache,target=/x,mode=rwx',
    'type=cache,target=/x,uid=root',
    'type=bind,target=/x,from=$STAGE',
    'type=bind,target=/x,readonly=maybe',
    'type=cache,target',
    'type=bind,target=/x,required',
    'type=cache,target=/x,required=true',
    'type=bind,target=/x,mode=0700',
    'type=tmpfs,target=/x,uid=1',
    'type=bind,target=/x,sharing=shared',
    'type=cache,target=/x,size=1m',
    'type=cache,target=/x,env=X',
    'type=secret,id=a,from=stage',
    'type=secret',
    'type=secret,id=a,source=b',
    'type=cache,target=/x,bogus',
  ])('rejects %s', (spec) => {
    expect(() => one(`RUN --mount=${spec} true`)).toThrow(DockerfileError);
  });
});

describe('instruction errors', () => {
  test.each<[string, string, RegExp?]>([
    ['FORM a', 'UNKNOWN_INSTRUCTION', /did you mean FROM/],
    ['CPOY a b', 'UNKNOWN_INSTRUCTION', /did you mean COPY/],
    ['XYZZY a', 'UNKNOWN_INSTRUCTION', /XYZZY$/],
    ['COPY --form=x a b', 'UNKNOWN_FLAG', /did you mean --from/],
    ['ADD --from=x a b', 'UNKNOWN_FLAG'],
    ['RUN --mount type=cache x', 'INVALID_FLAG'],
    ['RUN --network=bridge x', 'INVALID_FLAG', /unsupported network mode/],
    ['RUN --security=privileged x', 'INVALID_FLAG', /unsupported security mode/],
    ['ADD --parents a b', 'UNKNOWN_FLAG'],
    ['COPY --checksum=x a b', 'UNKNOWN_FLAG'],
    ['WORKDIR --x=1 /a', 'UNKNOWN_FLAG'],
    ['COPY --chown=a --chown=b x y', 'DUPLICATE_FLAG'],
    ['COPY --link=yes a b', 'INVALID_FLAG'],
    ['COPY --link= a b', 'INVALID_FLAG'],
    ['COPY --chown a b', 'INVALID_FLAG'],
    ['COPY a', 'INVALID_ARGUMENTS', /only one was provided/],
    ['COPY', 'INVALID_ARGUMENTS'],
    ['ADD onlyone', 'INVALID_ARGUMENTS'],
    ['ADD --checksum=sha256:00 http://a/1 http://a/2 /d/', 'INVALID_FLAG', /multiple sources/],
    ['COPY a <<EOF\nx\nEOF', 'INVALID_ARGUMENTS', /heredoc/],
    ['FROM', 'INVALID_ARGUMENTS'],
    ['FROM a b', 'INVALID_ARGUMENTS'],
    ['FROM a AS', 'INVALID_ARGUMENTS'],
    ['FROM a IS b', 'INVALID_ARGUMENTS'],
    ['FROM a AS b c', 'INVALID_ARGUMENTS'],
    ['FROM a AS 9lives', 'INVALID_STAGE_NAME'],
    ['FROM a AS na$me', 'INVALID_STAGE_NAME'],
    ['SHELL sh -c', 'INVALID_ARGUMENTS'],
    ['SHELL []', 'INVALID_ARGUMENTS', /at least one argument/],
    ['SHELL', 'INVALID_ARGUMENTS', /at least one argument/],
    ['ENV =x', 'INVALID_ARGUMENTS', /names can not be blank/],
    ['VOLUME [" "]', 'INVALID_ARGUMENTS'],
    ['ENV', 'INVALID_ARGUMENTS'],
    ['LABEL', 'INVALID_ARGUMENTS'],
    ['ARG', 'INVALID_ARGUMENTS'],
    ['ARG =x', 'INVALID_ARGUMENTS'],
    ['EXPOSE', 'INVALID_ARGUMENTS'],
    ['VOLUME', 'INVALID_ARGUMENTS'],
    ['VOLUME [""]', 'INVALID_ARGUMENTS'],
    ['USER', 'INVALID_ARGUMENTS'],
    ['WORKDIR', 'INVALID_ARGUMENTS'],
    ['STOPSIGNAL', 'INVALID_ARGUMENTS'],
    ['MAINTAINER', 'INVALID_ARGUMENTS'],
    ['ONBUILD', 'INVALID_ARGUMENTS'],
    ['ONBUILD ONBUILD RUN x', 'INVALID_ONBUILD'],
    ['ONBUILD FROM x', 'INVALID_ONBUILD'],
    ['ONBUILD MAINTAINER x', 'INVALID_ONBUILD'],
    ['ONBUILD BOGUS x', 'UNKNOWN_INSTRUCTION'],
    ['HEALTHCHECK', 'INVALID_ARGUMENTS'],
    ['HEALTHCHECK CMD', 'INVALID_HEALTHCHECK'],
    ['HEALTHCHECK NONE x', 'INVALID_HEALTHCHECK'],
    ['HEALTHCHECK PING x', 'INVALID_HEALTHCHECK', /try CMD/],
    ['HEALTHCHECK --interval=abc CMD x', 'INVALID_HEALTHCHECK'],
    ['HEALTHCHECK --interval=-1s CMD x', 'INVALID_HEALTHCHECK'],
    ['HEALTHCHECK --timeout=10us CMD x', 'INVALID_HEALTHCHECK', /1ms/],
    ['HEALTHCHECK --retries=x CMD x', 'INVALID_HEALTHCHECK'],
    ['HEALTHCHECK --retries=-2 CMD x', 'INVALID_HEALTHCHECK'],
  ])('%j → %s', (line, code, message) => {
    let caught: unknown;
    try {
      one(line);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(DockerfileError);
    expect((caught as DockerfileError).code).toBe(code);
    expect((caught as DockerfileError).line).toBe(1);
    if (message) expect((caught as DockerfileError).message).toMatch(message);
  });
});

describe('expandInstruction', () => {
  const env = { A: 'a', B: 'b c', HOME: '/root', EMPTY: '' };
  const expand = (line: string, e: Record<string, string> = env, escapeToken?: '\\' | '`') =>
    expandInstruction(one(line), e, { escape: escapeToken });

  test.each<[string, Record<string, unknown>]>([
    [
      'ENV X=$A Y="${B}" Z=\'$A\'',
      {
        pairs: [
          { key: 'X', value: 'a' },
          { key: 'Y', value: 'b c' },
          { key: 'Z', value: '$A' },
        ],
      },
    ],
    ['ENV $A=1', { pairs: [{ key: 'a', value: '1' }] }],
    ['ENV LEGACY $HOME/x y', { pairs: [{ key: 'LEGACY', value: '/root/x y' }] }],
    [
      'LABEL v=${A:-z} w=${NOPE:-z}',
      {
        pairs: [
          { key: 'v', value: 'a' },
          { key: 'w', value: 'z' },
        ],
      },
    ],
    ['ARG D=$HOME/d N', { args: [{ key: 'D', value: '/root/d' }, { key: 'N' }] }],
    ['WORKDIR $HOME/app', { path: '/root/app' }],
    ['WORKDIR "/a b"', { path: '/a b' }],
    ['USER ${A}:${A}', { user: 'a:a' }],
    ['STOPSIGNAL $NOPE', { signal: '' }],
    ['VOLUME $HOME/v /x', { paths: ['/root/v', '/x'] }],
    ['EXPOSE $P 80', { ports: ['80'] }],
    [
      'COPY --chown=$A:$A --chmod=$M $HOME/src $A/dst',
      { chown: 'a:a', chmod: '', sources: ['/root/src'], dest: 'a/dst' },
    ],
    ['COPY --from=stage /x /y', { from: 'stage' }],
    ['COPY --exclude=$A a b', { exclude: ['$A'] }],
    ['ADD --checksum=$A http://x/$A /d', { checksum: 'a', sources: ['http://x/a'] }],
    ['FROM --platform=$A img:$A', { image: 'img:a', platform: 'a' }],
    ['RUN echo $HOME', { args: ['echo $HOME'] }],
    [
      'RUN --mount=type=cache,target=$HOME/.cache,id=$A echo $A',
      { args: ['echo $A'], mounts: [expect.objectContaining({ target: '/root/.cache', id: 'a' })] },
    ],
    ['CMD echo $HOME', { args: ['echo $HOME'] }],
    ['ENTRYPOINT ["$HOME"]', { args: ['$HOME'] }],
    ['SHELL ["$A"]', { args: ['$A'] }],
    ['HEALTHCHECK CMD $A', { test: ['CMD-SHELL', '$A'] }],
    ['MAINTAINER $A', { name: '$A' }],
    ['ONBUILD ENV X=$A', { expression: 'ENV X=$A' }],
  ])('%s', (line, expected) => {
    expect(expand(line).instruction).toMatchObject(expected);
  });

  test('ENV pairs all see the environment from before the instruction', () => {
    const r = expand('ENV A=new B=$A', { A: 'old' });
    expect(r.instruction).toMatchObject({
      pairs: [
        { key: 'A', value: 'new' },
        { key: 'B', value: 'old' },
      ],
    });
  });

  test('reports used and undefined variables', () => {
    const r = expand('COPY $A ${NOPE} $EMPTY /d/${ALSO_NOPE:-x}');
    expect(r.usedVars.sort()).toEqual(['A', 'EMPTY']);
    expect(r.undefinedVars.sort()).toEqual(['ALSO_NOPE', 'NOPE']);
  });

  test('does not modify the input instruction', () => {
    const i = one('WORKDIR $HOME');
    expandInstruction(i, env);
    expect(i.kind === 'workdir' && i.path).toBe('$HOME');
  });

  test('COPY heredoc bodies expand unless the delimiter was quoted; quotes stay, \\ escapes', () => {
    const r = expand('COPY <<a <<"b" /d/\n"$A" \\$A \'x\'\na\n$A\nb\n');
    expect(r.instruction.kind === 'copy' && r.instruction.heredocSources.map((h) => h.data)).toEqual([
      '"a" $A \'x\'\n',
      '$A\n',
    ]);
  });

  test('RUN heredoc bodies are left to the shell', () => {
    const r = expand('RUN <<EOF\necho $A\nEOF');
    expect(r.instruction.kind === 'run' && r.instruction.heredocs[0]!.content).toBe('echo $A\n');
  });

  test('the backtick escape is honoured', () => {
    expect(expand('WORKDIR C:\\$A', env, '`').instruction).toMatchObject({ path: 'C:\\a' });
    expect(expand('WORKDIR `$A', env, '`').instruction).toMatchObject({ path: '$A' });
  });

  test('bad syntax is a DockerfileError at the instruction line', () => {
    expect(() => expand('WORKDIR ${A')).toThrow(DockerfileError);
    const plan = planBuild('FROM a\nRUN x\nWORKDIR ${NOPE:?must be set}');
    try {
      expandInstruction(plan.stages[0]!.instructions[1]!, {});
      expect.unreachable();
    } catch (err) {
      expect((err as DockerfileError).line).toBe(3);
      expect((err as DockerfileError).message).toContain('NOPE: must be set');
    }
    expect(() => expand('ENV X=${NOPE:?required}')).toThrow(/required/);
  });

  test('works on planned instructions (resolved --from kept)', () => {
    const plan = planBuild('FROM a AS b\nFROM c\nCOPY --from=b $A /x');
    const copy = plan.stages[1]!.instructions[0]!;
    expect(expandInstruction(copy, env).instruction).toMatchObject({
      sources: ['a'],
      fromResolved: { kind: 'stage', index: 0 },
    });
  });
});
