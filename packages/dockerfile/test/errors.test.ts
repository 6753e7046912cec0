import { DockerfileError, planBuild } from '@kiln/dockerfile';
import { describe, expect, test } from 'vitest';

describe('DockerfileError', () => {
  test('carries code, line, column and endLine', () => {
    const err = new DockerfileError('UNKNOWN_INSTRUCTION', 'unknown instruction: X', {
      line: 3,
      column: 2,
      endLine: 4,
    });
    expect(err).toMatchObject({
      code: 'UNKNOWN_INSTRUCTION',
      line: 3,
      column: 2,
      endLine: 4,
      name: 'DockerfileError',
    });
    expect(err).toBeInstanceOf(Error);
    expect(err.message).toBe('unknown instruction: X');
  });

  test('endLine defaults to line; no location gives zeros', () => {
    expect(new DockerfileError('MISSING_FROM', 'm', { line: 5, column: 1 }).endLine).toBe(5);
    expect(new DockerfileError('TARGET_NOT_FOUND', 'm')).toMatchObject({ line: 0, column: 0, endLine: 0 });
  });

  test('instanceof works for an error from another copy of the package (Symbol.for brand)', () => {
    class Foreign extends Error {
      get [Symbol.for('kiln.dockerfile.error')]() {
        return true;
      }
    }
    expect(new Foreign('x')).toBeInstanceOf(DockerfileError);
    expect(new Error('x')).not.toBeInstanceOf(DockerfileError);
    expect((null as unknown) instanceof DockerfileError).toBe(false);
  });

  test('messages quote long offending lines shortened', () => {
    try {
      planBuild(`FROM a\nRUN x\nBOGUS ${'y'.repeat(500)}`);
      expect.unreachable();
    } catch (err) {
      expect((err as DockerfileError).message.length).toBeLessThan(200);
    }
    try {
      planBuild(`ARG A\nRUN ${'z'.repeat(500)}\nFROM a`);
      expect.unreachable();
    } catch (err) {
      expect((err as DockerfileError).code).toBe('NO_STAGE');
      expect((err as DockerfileError).message).toContain('...');
      expect((err as DockerfileError).message.length).toBeLessThan(220);
    }
  });

  test.each<[string, string, number, number]>([
    ['FROM a\n  FORM b', 'UNKNOWN_INSTRUCTION', 2, 3],
    ['FROM a\nRUN x\n    COPY --nope=1 a b', 'UNKNOWN_FLAG', 3, 5],
    ['\n\nFROM a AS 1x', 'INVALID_STAGE_NAME', 3, 1],
    ['FROM a\nRUN <<EOF\nx', 'UNTERMINATED_HEREDOC', 2, 1],
  ])('%j → %s at %i:%i', (text, code, line, column) => {
    try {
      planBuild(text);
      expect.unreachable();
    } catch (err) {
      expect(err).toMatchObject({ code, line, column });
    }
  });
});
