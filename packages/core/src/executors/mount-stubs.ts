import { execFile } from 'node:child_process';
import { lstat, mkdir, rmdir, stat, unlink, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { findProgram } from './find-program.js';
import { resolveInRoot } from './root-path.js';

const run = promisify(execFile);

/** A directory whose entries we changed by adding a stub: its mtime before, and right after our change. */
interface TouchedParent {
  host: string;
  before: bigint;
  afterStub?: bigint;
}

/**
 * MountStubs creates the empty files and directories a sandbox needs as mount points inside a rootfs the caller
 * will snapshot, and removes them again afterwards, the way BuildKit cleans its mount stubs: a stub is removed
 * only while it is still an empty directory or an empty file, and the mtime of the directory that held it is put
 * back (to the nanosecond, through coreutils `touch`: Node's utimes takes seconds as a double and loses the
 * last digits) unless the command itself changed that directory too. Its ctime does change: no user-space
 * call can restore a ctime.
 * Paths are resolved with {@link resolveInRoot}, so a symlink in the image cannot make us create anything
 * outside the rootfs.
 */
export class MountStubs {
  readonly #root: string;
  readonly #created: { host: string; dir: boolean }[] = [];
  readonly #parents = new Map<string, TouchedParent>();

  constructor(root: string) {
    this.#root = root;
  }

  /**
   * Makes sure `target` (a path inside the rootfs) exists, creating missing directories and, when `leaf` is
   * `'file'`, an empty file as the last component. Returns the symlink-free path inside the rootfs to mount on.
   */
  async ensure(target: string, leaf: 'dir' | 'file'): Promise<string> {
    const r = await resolveInRoot(this.#root, target, async (step, last) => {
      const parent = path.dirname(step.host);
      if (!this.#parents.has(parent) && !this.#created.some((c) => c.host === parent))
        this.#parents.set(parent, { host: parent, before: (await stat(parent, { bigint: true })).mtimeNs });
      if (last && leaf === 'file') await writeFile(step.host, '', { flag: 'wx', mode: 0o644 });
      else await mkdir(step.host, { mode: 0o755 });
      this.#created.push({ host: step.host, dir: !(last && leaf === 'file') });
      const p = this.#parents.get(parent);
      if (p) p.afterStub = (await stat(parent, { bigint: true })).mtimeNs;
      return true;
    });
    return r.inner;
  }

  /** Host paths created so far (for diagnostics and tests). */
  get created(): readonly string[] {
    return this.#created.map((c) => c.host);
  }

  /** Removes the stubs (deepest first) and restores their parents' mtimes. Never throws for a kept stub. */
  async cleanup(): Promise<void> {
    const seen = new Map<string, bigint | undefined>();
    for (const p of this.#parents.values())
      seen.set(
        p.host,
        await stat(p.host, { bigint: true }).then(
          (s) => s.mtimeNs,
          () => undefined,
        ),
      );
    for (const c of [...this.#created].reverse()) {
      if (c.dir) await rmdir(c.host).catch(() => undefined);
      else {
        const st = await lstat(c.host).catch(() => undefined);
        if (st?.isFile() && st.size === 0) await unlink(c.host).catch(() => undefined);
      }
    }
    this.#created.length = 0;
    for (const p of this.#parents.values()) {
      const now = seen.get(p.host);
      if (now === undefined) continue;
      // Unchanged since we added the stub: the command did not touch this directory, so give it back its
      // original time; otherwise keep the time the command's own change gave it.
      await setMtimeNs(p.host, now === p.afterStub ? p.before : now);
    }
    this.#parents.clear();
  }
}

async function setMtimeNs(file: string, ns: bigint): Promise<void> {
  const sec = ns / 1_000_000_000n;
  const frac = (ns % 1_000_000_000n).toString().padStart(9, '0');
  try {
    await run(findProgram('touch', 'coreutils'), ['-m', '-h', '-d', `@${sec}.${frac}`, '--', file], {
      env: {},
    });
  } catch {
    const st = await stat(file);
    await utimes(file, st.atime, Number(ns) / 1e9);
  }
}
