import { DockerfileError, withLocation } from '../errors.js';
import { parseDockerfile } from '../parser/parse.js';
import { toInstruction } from './from-node.js';
import type { Instruction } from './types.js';

/**
 * parseInstruction types one instruction given as text, e.g. an ONBUILD trigger stored in a
 * base image's config (`RUN echo hi`). Throws DockerfileError unless the text is exactly one
 * instruction (heredoc bodies included).
 */
export function parseInstruction(text: string): Instruction {
  const ast = parseDockerfile(text);
  if (ast.children.length !== 1) {
    throw new DockerfileError(
      'INVALID_ARGUMENTS',
      `expected one instruction, got ${ast.children.length}: ${JSON.stringify(text)}`,
    );
  }
  const node = ast.children[0]!;
  return withLocation(() => toInstruction(node), node.range);
}
