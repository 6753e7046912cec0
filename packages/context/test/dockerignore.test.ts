import { describe, expect, it } from 'vitest';
import { dockerignore, isContextError, loadDockerignore, memoryContext } from '../src/index.js';
import { dockerignoreCases } from './dockerignore-cases.js';

describe('dockerignore: Docker semantics table', () => {
  it('has at least 60 cases', () => {
    expect(dockerignoreCases.length).toBeGreaterThanOrEqual(60);
  });
  it.each(dockerignoreCases.map(([lines, path, excluded]) => [JSON.stringify(lines), path, excluded, lines]))(
    '%s on %s → excluded=%s',
    (_label, path, excluded, lines) => {
      expect(
        dockerignore()
          .add(lines as string[])
          .ignores(path as string),
      ).toBe(excluded);
    },
  );
});

describe('dockerignore: file text', () => {
  it('splits text into lines, drops a BOM and CRLF, skips comments', () => {
    const m = dockerignore().add('\uFEFF# comment\r\n*.log\r\n\r\n!keep.log\n');
    expect(m.patterns).toEqual(['*.log', '!keep.log']);
    expect(m.ignores('a.log')).toBe(true);
    expect(m.ignores('keep.log')).toBe(false);
  });
  it('accepts paths with a leading ./ or / and a trailing /', () => {
    const m = dockerignore().add(['build']);
    expect(m.ignores('./build/')).toBe(true);
    expect(m.ignores('/build/x')).toBe(true);
  });
  it('rejects a lone "!" with a stable code', () => {
    expect(() => dockerignore().add(['!'])).toThrowError(/illegal exclusion pattern/);
    try {
      dockerignore().add(['!']);
    } catch (e) {
      expect(isContextError(e) && e.code).toBe('KILN_CONTEXT_BAD_PATTERN');
    }
  });
  it.each(['[', 'a[', '[^bc', '[]a]', '[-x]', '[x-]', '[a-b-c]', 'a\\'])(
    'rejects malformed pattern %s',
    (p) => {
      expect(() => dockerignore().add([p])).toThrowError(
        expect.objectContaining({ code: 'KILN_CONTEXT_BAD_PATTERN' }),
      );
    },
  );
  it('tells ignored from re-included like node-ignore test(), and makes filters', () => {
    const m = dockerignore().add(['*.md', '!README.md']);
    expect(m.test('a.md')).toEqual({ ignored: true, unignored: false });
    expect(m.test('README.md')).toEqual({ ignored: false, unignored: true });
    expect(m.test('main.go')).toEqual({ ignored: false, unignored: false });
    expect(['a.md', 'README.md', 'x'].filter(m.createFilter())).toEqual(['README.md', 'x']);
  });

  it('names the ignore file and line of a bad pattern, and adds nothing from a bad file', async () => {
    const ctx = memoryContext({ '.dockerignore': '# ok\n*.log\n\nsrc/[a-\n' });
    await expect(loadDockerignore(ctx)).rejects.toMatchObject({
      code: 'KILN_CONTEXT_BAD_PATTERN',
      message: expect.stringMatching(/^\.dockerignore: bad pattern "src\/\[a-": .* \(line 4\)$/),
    });
    const m = dockerignore();
    expect(() => m.add(['ok', '['])).toThrowError(/\(pattern 2\)/);
    expect(m.patterns).toEqual([]);
  });

  it('combines matchers and filters lists like node-ignore', () => {
    const m = dockerignore()
      .add(['*.tmp'])
      .add(dockerignore().add(['dist']));
    expect(m.filter(['a.tmp', 'dist/x', 'src/a.tmp', 'keep'])).toEqual(['src/a.tmp', 'keep']);
    expect(m.hasExceptions).toBe(false);
  });
});

describe('dockerignore: which excluded directories need walking', () => {
  it('skips a directory no exception can reach', () => {
    const m = dockerignore().add(['node_modules', '!src/keep']);
    expect(m.ignores('node_modules')).toBe(true);
    expect(m.mayIncludeUnder('node_modules')).toBe(false);
    expect(m.mayIncludeUnder('src')).toBe(true);
  });
  it('walks a directory an exception names below it, and its ancestors', () => {
    const m = dockerignore().add(['docs', '!docs/api/keep.md']);
    expect(m.mayIncludeUnder('docs')).toBe(true);
    expect(m.mayIncludeUnder('docs/api')).toBe(true);
    expect(m.mayIncludeUnder('docs/guide')).toBe(false);
    expect(m.mayIncludeUnder('docs/api/keep.md')).toBe(false);
  });
  it('walks everything an open-ended exception could reach', () => {
    const m = dockerignore().add(['**', '!**/*.go']);
    expect(m.mayIncludeUnder('vendor/deep/dir')).toBe(true);
    const n = dockerignore().add(['*', '!src/**/keep']);
    expect(n.mayIncludeUnder('src/a/b')).toBe(true);
    expect(n.mayIncludeUnder('other')).toBe(false);
  });
  it('wildcard exception segments are matched per segment', () => {
    const m = dockerignore().add(['pkgs', '!pkgs/*/README.md']);
    expect(m.mayIncludeUnder('pkgs')).toBe(true);
    expect(m.mayIncludeUnder('pkgs/core')).toBe(true);
    expect(m.mayIncludeUnder('pkgs/core/src')).toBe(false);
  });
});

describe('loadDockerignore', () => {
  it('prefers <Dockerfile>.dockerignore next to the Dockerfile over the root .dockerignore', async () => {
    const ctx = memoryContext({
      '.dockerignore': 'root-rule',
      'build/prod.Dockerfile': 'FROM scratch',
      'build/prod.Dockerfile.dockerignore': 'prod-rule',
    });
    const specific = await loadDockerignore(ctx, 'build/prod.Dockerfile');
    expect([specific.file, specific.patterns]).toEqual(['build/prod.Dockerfile.dockerignore', ['prod-rule']]);
    const fallback = await loadDockerignore(ctx, 'Dockerfile');
    expect([fallback.file, fallback.patterns]).toEqual(['.dockerignore', ['root-rule']]);
    const linked = await loadDockerignore(
      memoryContext({
        rules: 'a\n',
        '.dockerignore': { linkname: 'rules' },
        outside: { linkname: '/etc/passwd' },
      }),
    );
    expect(linked.patterns).toEqual(['a']);
    const escaping = await loadDockerignore(
      memoryContext({ '.dockerignore': { linkname: '../../etc/passwd' } }),
    );
    expect(escaping.patterns).toEqual([]);
    const none = await loadDockerignore(memoryContext({ Dockerfile: 'FROM scratch' }), 'Dockerfile');
    expect([none.file, none.patterns]).toEqual([undefined, []]);
  });
});
