import { chompHeredocContent, parseHeredocWord } from '../parser/heredoc.js';
import type { CmdInstruction, EntrypointInstruction, RunInstruction } from './types.js';

/** The shell BuildKit prepends to shell-form commands on Linux when SHELL was not used. */
export const DEFAULT_SHELL: readonly string[] = ['/bin/sh', '-c'];

/** A file a RUN needs mounted read-only while it runs (a heredoc script with a shebang). */
export interface InlineFile {
  /** Absolute path inside the container, `/dev/pipes/<NAME>`. */
  path: string;
  data: string;
  /** 0o755. */
  mode: number;
}

/** What to execute for a RUN. */
export interface RunCommandLine {
  argv: string[];
  /** Files to mount (read-only) for the duration of the command. */
  files: InlineFile[];
}

/**
 * runCommandLine turns a RUN into the argv to execute, following BuildKit's rules for shell
 * form and heredocs: exec form runs as written; shell form is `[...shell, text]`. A RUN that is
 * exactly one heredoc runs its body as the shell script, or, when the body starts with `#!`, is
 * written to `/dev/pipes/<NAME>` (mode 0755) and that path is run through the shell. Any other
 * heredoc use (`python3 <<EOF`, several heredocs) gives the shell the line followed by each body
 * and delimiter, so the shell itself reads them. Heredoc bodies are never expanded here.
 */
export function runCommandLine(
  run: RunInstruction,
  shell: readonly string[] = DEFAULT_SHELL,
): RunCommandLine {
  if (run.json) return { argv: [...run.args], files: [] };
  const text = run.args.join(' ');
  if (run.heredocs.length === 0) return { argv: [...shell, text], files: [] };
  const only = run.heredocs.length === 1 ? parseHeredocWord(text) : undefined;
  if (only) {
    const doc = run.heredocs[0]!;
    const data = doc.chomp ? chompHeredocContent(doc.content) : doc.content;
    if (data.startsWith('#!')) {
      const path = `/dev/pipes/${doc.name}`;
      return { argv: [...shell, path], files: [{ path, data, mode: 0o755 }] };
    }
    return { argv: [...shell, data], files: [] };
  }
  let full = text;
  for (const doc of run.heredocs) full += `\n${doc.content}${doc.name}`;
  return { argv: [...shell, full], files: [] };
}

/** CMD / ENTRYPOINT as stored in the image config: exec form as written, shell form wrapped. */
export function commandArgv(
  instruction: CmdInstruction | EntrypointInstruction,
  shell: readonly string[] = DEFAULT_SHELL,
): string[] {
  if (instruction.json) return [...instruction.args];
  return [...shell, instruction.args.join(' ')];
}
