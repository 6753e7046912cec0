import { spawn } from 'node:child_process';

/**
 * TestHarnessError: a failure of the test infrastructure itself (a tool missing, a
 * registry that does not come up, an oracle build that fails), as opposed to a failed
 * assertion about kiln. `code` is stable; the message names the command or URL.
 * @public
 */
export class TestHarnessError extends Error {
  /** Stable machine-readable code, e.g. `KILN_TEST_EXEC_FAILED`. */
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TestHarnessError';
    this.code = code;
  }
}

/** Options of {@link execTool}. @public */
export interface ExecOptions {
  /** Working directory of the child. */
  cwd?: string;
  /** Environment of the child; defaults to this process's. */
  env?: NodeJS.ProcessEnv;
  /** Bytes written to the child's stdin, then closed. Default: stdin is /dev/null. */
  input?: string | Buffer;
  /** Kill the child (SIGKILL) after this many ms. Default: no limit. */
  timeoutMs?: number;
  /** Resolve instead of throwing on a non-zero exit. Default false. */
  allowFailure?: boolean;
}

/** What {@link execTool} returns. @public */
export interface ExecResult {
  stdout: string;
  stderr: string;
  /** Exit code; `null` when the child died by a signal. */
  code: number | null;
  /** Wall time of the child in ms. */
  ms: number;
}

/**
 * execTool: runs `cmd args` (no shell) and collects its output. Throws a
 * {@link TestHarnessError} `KILN_TEST_EXEC_FAILED` naming the command line, the exit code
 * and the tail of stderr when the command fails (unless `allowFailure`), or
 * `KILN_TEST_TOOL_MISSING` when the binary does not exist. Output is buffered in memory:
 * meant for tools whose output is small (skopeo, umoci, openssl, buildah logs).
 * @public
 */
export function execTool(cmd: string, args: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout?.on('data', (b: Buffer) => out.push(b));
    child.stderr?.on('data', (b: Buffer) => err.push(b));
    let timer: NodeJS.Timeout | undefined;
    if (opts.timeoutMs !== undefined) {
      timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs);
    }
    child.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      const code = e.code === 'ENOENT' ? 'KILN_TEST_TOOL_MISSING' : 'KILN_TEST_EXEC_FAILED';
      const hint = e.code === 'ENOENT' ? ' (run scripts/install-test-deps.sh)' : '';
      reject(new TestHarnessError(code, `cannot run ${cmd}: ${e.message}${hint}`, { cause: e }));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const result: ExecResult = {
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        code,
        ms: performance.now() - started,
      };
      if (code === 0 || opts.allowFailure) {
        resolve(result);
        return;
      }
      const how = signal ? `was killed by ${signal}` : `exited with ${code}`;
      const tail = result.stderr.trim().split('\n').slice(-15).join('\n');
      reject(
        new TestHarnessError(
          'KILN_TEST_EXEC_FAILED',
          `${formatCommand(cmd, args)} ${how}\n${tail}`.trimEnd(),
        ),
      );
    });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

/**
 * formatCommand: a shell-like rendering of a command line for error messages. The value
 * after a `--*creds` or `--password` flag is replaced by `***` so credentials never
 * reach a log.
 * @public
 */
export function formatCommand(cmd: string, args: readonly string[]): string {
  const shown = args.map((a, i) => (i > 0 && /^--(?:[\w-]*creds|password)$/.test(args[i - 1]!) ? '***' : a));
  return [cmd, ...shown]
    .map((a) => (/^[\w@%+=:,./*-]+$/.test(a) ? a : `'${a.replaceAll("'", "'\\''")}'`))
    .join(' ');
}
