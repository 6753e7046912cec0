import { randomBytes } from 'node:crypto';
import {
  chmod,
  chown,
  copyFile,
  cp,
  lstat,
  mkdir,
  readdir,
  rename,
  rm,
  stat,
  symlink,
} from 'node:fs/promises';
import path from 'node:path';
import { KilnError } from '../errors.js';
import type { RunMount } from '../executor.js';
import { MountStubs } from './mount-stubs.js';
import { resolveInRoot } from './root-path.js';

/**
 * InPlaceMounts gives the in-place executor, which cannot mount anything, the effect of `RUN --mount` on the
 * machine's own `/`: before the command, whatever is at a target is renamed aside (`.kiln-stash-…` next to
 * it) and the mount's content is put there — a copy of a bind or secret source (with its mode and owner), an
 * empty directory for tmpfs, a symlink to an ssh socket, and the cache directory itself moved in by rename
 * (copied in and back out when it is on another filesystem). {@link InPlaceMounts.remove} undoes all of it,
 * including directories created for the targets and their parents' mtimes (see {@link MountStubs}).
 * Limits: read-only cannot be enforced (root ignores modes), writes to a bind copy are discarded (as with
 * BuildKit's `rw` binds), and a copied cache loses ownership.
 */
export class InPlaceMounts {
  readonly #stubs = new MountStubs('/');
  readonly #undo: (() => Promise<void>)[] = [];

  /** Places each mount, parents before children. */
  async place(mounts: RunMount[]): Promise<void> {
    const sorted = [...mounts].sort((a, b) => depth(a.target) - depth(b.target));
    for (const m of sorted) await this.#placeOne(m);
  }

  async #placeOne(m: RunMount): Promise<void> {
    const wanted = path.posix.resolve('/', m.target);
    if (wanted === '/') throw new KilnError('KILN_RUN_MOUNT', `a ${m.type} mount cannot replace / `);
    if (m.type !== 'tmpfs' && !m.source)
      throw new KilnError('KILN_RUN_MOUNT', `${m.type} mount at ${wanted} needs a host source path`);
    const at = await resolveInRoot('/', wanted);
    const parent = await this.#stubs.ensure(path.posix.dirname(at.inner), 'dir');
    const target = path.posix.join(parent, path.posix.basename(at.inner));
    if (at.exists) {
      const stash = path.posix.join(parent, `.kiln-stash-${randomBytes(6).toString('hex')}`);
      await this.#stubs.change(parent, () => rename(target, stash));
      this.#undo.push(() =>
        this.#stubs.change(parent, async () => {
          await rm(target, { recursive: true, force: true });
          await rename(stash, target);
        }),
      );
    }
    const source = m.source ?? '';
    const removeTarget = () => this.#stubs.change(parent, () => rm(target, { recursive: true, force: true }));
    switch (m.type) {
      case 'tmpfs':
        await this.#stubs.change(parent, () => mkdir(target, { mode: 0o1777 }));
        await chmod(target, 0o1777);
        this.#undo.push(removeTarget);
        return;
      case 'ssh':
        await this.#stubs.change(parent, () => symlink(source, target));
        this.#undo.push(removeTarget);
        return;
      case 'cache':
        await this.#placeCache(parent, source, target);
        return;
      default: {
        // bind and secret: a copy keeping the source's mode and owner.
        const st = await stat(source);
        this.#undo.push(removeTarget);
        await this.#stubs.change(parent, async () => {
          if (st.isDirectory()) await cp(source, target, copyOptions);
          else await copyFile(source, target);
        });
        await chmod(target, st.mode & 0o7777);
        await chown(target, st.uid, st.gid).catch(() => undefined);
      }
    }
  }

  async #placeCache(parent: string, source: string, target: string): Promise<void> {
    try {
      await this.#stubs.change(parent, () => rename(source, target));
      this.#undo.push(() =>
        this.#stubs.change(parent, async () => {
          // The command may have removed or replaced the directory: the cache then starts empty again.
          if ((await lstat(target).catch(() => undefined))?.isDirectory()) await rename(target, source);
          else {
            await rm(target, { recursive: true, force: true });
            await mkdir(source, { recursive: true });
          }
        }),
      );
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EXDEV') throw e;
      await this.#stubs.change(parent, () => cp(source, target, copyOptions));
      this.#undo.push(async () => {
        // The source's entries are replaced, not the source itself (it may be a mount point).
        for (const name of await readdir(source))
          await rm(path.join(source, name), { recursive: true, force: true });
        if ((await lstat(target).catch(() => undefined))?.isDirectory())
          await cp(target, source, copyOptions);
        await this.#stubs.change(parent, () => rm(target, { recursive: true, force: true }));
      });
    }
  }

  /** Takes every mount away again, restores what was at the targets, and removes created parents. */
  async remove(): Promise<void> {
    await this.#stubs.settle();
    for (const undo of this.#undo.reverse()) await undo().catch(() => undefined);
    this.#undo.length = 0;
    await this.#stubs.cleanup();
  }
}

const copyOptions = { recursive: true, verbatimSymlinks: true, preserveTimestamps: true } as const;
const depth = (p: string) => p.split('/').filter(Boolean).length;
