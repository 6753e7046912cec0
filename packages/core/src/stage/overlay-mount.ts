import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** A mounted overlay: `merged` is the writable view; `unmount` detaches it (idempotent). */
export interface OverlayMount {
  merged: string;
  upper: string;
  unmount(): Promise<void>;
}

/**
 * Mounts an overlay with `lower` read-only underneath a fresh upper directory in `workDir`, so a RUN stage
 * starts from a cached unpacked base in O(1) instead of unpacking it again. Needs root (or CAP_SYS_ADMIN) and
 * overlayfs; returns undefined when either is missing, and the caller unpacks into a plain directory instead.
 */
export async function mountOverlay(lower: string, workDir: string): Promise<OverlayMount | undefined> {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) return undefined;
  const dir = await mkdtemp(path.join(workDir, 'overlay-'));
  const upper = path.join(dir, 'upper');
  const work = path.join(dir, 'work');
  const merged = path.join(dir, 'merged');
  await Promise.all([mkdir(upper), mkdir(work), mkdir(merged)]);
  await chmod(upper, 0o755);
  try {
    await run('mount', [
      '-t',
      'overlay',
      'overlay',
      '-o',
      `lowerdir=${lower},upperdir=${upper},workdir=${work}`,
      merged,
    ]);
  } catch {
    return undefined;
  }
  let mounted = true;
  return {
    merged,
    upper,
    async unmount() {
      if (!mounted) return;
      mounted = false;
      await run('umount', [merged]).catch(() => run('umount', ['-l', merged]));
    },
  };
}
