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
  /** Set by settle() when the command changed the directory: the mtime the command left. */
  commandTime?: bigint;
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
  #settled = false;

  constructor(root: string) {
    this.#root = root;
  }

  /**
   * Makes sure `target` (a path inside the rootfs) exists, creating missing directories and, when `leaf` is
   * `'file'`, an empty file as the last component. Returns the symlink-free path inside the rootfs to mount on.
   */
  async ensure(target: string, leaf: 'dir' | 'file'): Promise<string> {
    const r = await resolveInRoot(this.#root, target, async (step, last) => {
      const dir = !(last && leaf === 'file');
      await this.change(path.dirname(step.host), () =>
        dir ? mkdir(step.host, { mode: 0o755 }) : writeFile(step.host, '', { flag: 'wx', mode: 0o644 }),
      );
      this.#created.push({ host: step.host, dir });
      return true;
    });
    return r.inner;
  }

  /**
   * Runs `op`, one of our own changes to the entries of directory `parent` (a host path), so that cleanup can
   * tell it from the command's: the directory's mtime before our first change is what cleanup restores.
   */
  async change<T>(parent: string, op: () => Promise<T>): Promise<T> {
    const mine = this.#created.some((c) => c.host === parent);
    if (!mine && !this.#parents.has(parent))
      this.#parents.set(parent, { host: parent, before: (await stat(parent, { bigint: true })).mtimeNs });
    const out = await op();
    const p = this.#parents.get(parent);
    if (p) p.afterStub = (await stat(parent, { bigint: true })).mtimeNs;
    return out;
  }

  /**
   * Records, right after the command ended, which parents the command itself changed; call it before undoing
   * further changes of our own (through {@link change}) ahead of {@link cleanup}.
   */
  async settle(): Promise<void> {
    this.#settled = true;
    for (const p of this.#parents.values()) {
      const now = await stat(p.host, { bigint: true }).then(
        (s) => s.mtimeNs,
        () => undefined,
      );
      if (now !== p.afterStub) p.commandTime = now;
    }
  }

  /** Host paths created so far (for diagnostics and tests). */
  get created(): readonly string[] {
    return this.#created.map((c) => c.host);
  }

  /** Removes the stubs (deepest first) and restores their parents' mtimes. Never throws for a kept stub. */
  async cleanup(): Promise<void> {
    if (!this.#settled) await this.settle();
    for (const c of [...this.#created].reverse()) {
      if (c.dir) await rmdir(c.host).catch(() => undefined);
      else {
        const st = await lstat(c.host).catch(() => undefined);
        if (st?.isFile() && st.size === 0) await unlink(c.host).catch(() => undefined);
      }
    }
    this.#created.length = 0;
    for (const p of this.#parents.values()) {
      if (!(await stat(p.host).catch(() => undefined))) continue;
      // Unchanged by the command: give the directory back its original time; otherwise keep the command's.
      const time = p.commandTime ?? p.before;
      await setMtimeNs(p.host, time).catch(() => undefined);
    }
    this.#parents.clear();
    this.#settled = false;
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
