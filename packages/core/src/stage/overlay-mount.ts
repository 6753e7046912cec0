import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp, rmdir } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { KilnError } from '../errors.js';
import { inUserNamespace } from '../user-namespace.js';

const run = promisify(execFile);

/**
 * A mounted overlay whose upper dir can be rotated: `merged` is the writable view; `upper` receives the
 * changes made since the last {@link OverlayMount.rotate}; `lowers` are the read-only layers under it, topmost
 * first (earlier upper dirs, then the base).
 */
export interface OverlayMount {
  readonly merged: string;
  readonly upper: string;
  readonly lowers: readonly string[];
  /** Where overlay keeps its own xattrs (opaque markers): `user` under `userxattr`, else `trusted`. */
  readonly xattrNamespace: 'trusted' | 'user';
  /**
   * Makes the upper dir the topmost lower layer and mounts a fresh empty upper dir at the same `merged` path,
   * so that what is written next can be told from what was there. Resolves false, leaving the mount as it was,
   * when that cannot be done (the mount is busy, or the stack is at its limit).
   */
  rotate(): Promise<boolean>;
  /** Detaches the mount (idempotent). */
  unmount(): Promise<void>;
}

/**
 * The most lower layers kiln stacks (overlayfs allows 500). Upper dirs are named by number and the mount runs
 * in their parent directory, so `lowerdir` stays far below its one-page limit: `399:398:…:1:/base`.
 */
const MAX_LOWERS = 400;

/**
 * Mount options, best first: redirects and metacopy off (an upper dir must hold whole objects to be read as
 * a layer) and no index (with it, a copied-up hardlink leaves its other names out of the upper dir); a kernel
 * that does not know an option refuses the mount, so older spellings follow. Under `userxattr` the kernel never
 * creates redirects.
 */
function optionSets(userns: boolean): string[] {
  return userns
    ? ['userxattr,redirect_dir=nofollow,metacopy=off', 'userxattr']
    : ['redirect_dir=nofollow,metacopy=off,index=off', 'redirect_dir=off,index=off', 'redirect_dir=off', ''];
}

/**
 * Mounts an overlay with `lower` read-only underneath a fresh upper directory in `workDir`, so a RUN stage
 * starts from a cached unpacked base in O(1) instead of unpacking it again, and each RUN's changes can be read
 * from its own upper dir (see {@link OverlayMount.rotate}). Needs root, or root of a user namespace with its own
 * mount namespace, and overlayfs; resolves undefined when the mount fails, and the caller unpacks into a plain
 * directory instead.
 */
export async function mountOverlay(lower: string, workDir: string): Promise<OverlayMount | undefined> {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) return undefined;
  // Commas and colons separate mount options and layers.
  if (/[,:\\]/.test(lower)) return undefined;
  // As root of a user namespace (an unprivileged build re-executed in one, kernel ≥ 5.11), overlayfs needs
  // `userxattr` and marks opaque directories with `user.overlay.opaque`.
  const userns = inUserNamespace();
  const dir = await mkdtemp(path.join(workDir, 'overlay-'));
  const layers = path.join(dir, 'layers');
  const merged = path.join(dir, 'merged');
  await Promise.all([mkdir(layers), mkdir(path.join(dir, 'work')), mkdir(merged)]);
  const uppers: string[] = [];
  const newUpper = async () => {
    const upper = path.join(layers, String(uppers.length + 1));
    await mkdir(upper);
    // The upper dir's root is the merged view's root: an image's root is 0755.
    await chmod(upper, 0o755);
    uppers.push(upper);
  };
  // Relative names keep `lowerdir` short; the mount resolves them from `layers`.
  const mount = (options: string) => {
    const names = uppers.map((u) => path.basename(u));
    const lowerdir = [...names.slice(0, -1).reverse(), lower].join(':');
    const data = `lowerdir=${lowerdir},upperdir=${names.at(-1)},workdir=../work${options ? `,${options}` : ''}`;
    return run('mount', ['-t', 'overlay', 'overlay', '-o', data, merged], { cwd: layers });
  };
  await newUpper();
  let options: string | undefined;
  for (const o of optionSets(userns)) {
    try {
      await mount(o);
      options = o;
      break;
    } catch {}
  }
  if (options === undefined) return undefined;
  const chosen = options;
  let mounted = true;
  // Rotation and unmounting take turns: a build that fails in one stage undoes the mounts while another stage
  // may be rotating, and a mount made after the unmount would outlive the build.
  let turn: Promise<unknown> = Promise.resolve();
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const p = turn.then(fn, fn);
    turn = p.catch(() => undefined);
    return p;
  };
  const unmount = () =>
    serial(async () => {
      if (!mounted) return;
      mounted = false;
      await run('umount', [merged]).catch(() => run('umount', ['-l', merged]));
    });
  return {
    merged,
    get upper() {
      return uppers.at(-1)!;
    },
    get lowers() {
      return [...uppers.slice(0, -1).reverse(), lower];
    },
    xattrNamespace: userns ? 'user' : 'trusted',
    rotate: () =>
      serial(async () => {
        if (!mounted || uppers.length > MAX_LOWERS) return false;
        try {
          await run('umount', [merged]);
        } catch {
          return false;
        }
        await newUpper();
        try {
          await mount(chosen);
          return true;
        } catch (e) {
          // Back to the mount as it was; without it the stage has lost its root filesystem.
          await rmdir(uppers.pop()!);
          try {
            await mount(chosen);
          } catch {
            mounted = false;
            throw new KilnError(
              'KILN_OVERLAY_LOST',
              `could not mount the RUN filesystem again at ${merged}`,
              {
                cause: e,
              },
            );
          }
          return false;
        }
      }),
    unmount,
  };
}
