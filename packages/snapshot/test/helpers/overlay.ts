import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** Mounts an overlay of `lower` with fresh upper and work dirs under `base`, at `base/m`; returns the dirs. */
function mount(base: string, lower: string) {
  const [upper, work, merged] = ['u', 'w', 'm'].map((s) => path.join(base, s)) as [string, string, string];
  for (const d of [upper, work, merged]) fs.mkdirSync(d);
  const o = `lowerdir=${lower},upperdir=${upper},workdir=${work}`;
  execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', o, merged], { stdio: 'ignore' });
  return { upper, merged };
}

/** Whether this process can mount overlayfs (root on a kernel with overlay). */
export const canMountOverlay: boolean =
  process.getuid?.() === 0 &&
  (() => {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), 'kiln-ovl-probe-'));
    try {
      fs.mkdirSync(path.join(d, 'l'));
      execFileSync('umount', [mount(d, path.join(d, 'l')).merged]);
      return true;
    } catch {
      return false;
    } finally {
      fs.rmSync(d, { recursive: true, force: true });
    }
  })();

/** Whether this process can make a user namespace with a mount namespace (`unshare -rm`). */
export const canUnshare: boolean = (() => {
  try {
    execFileSync('unshare', ['-rm', 'true'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

/** Mounts an overlay of `lower` under `base`, runs `change` on the merged view, unmounts; returns the upper dir. */
export async function changeThroughOverlay(
  base: string,
  lower: string,
  change: (merged: string) => void | Promise<void>,
): Promise<string> {
  const { upper, merged } = mount(base, lower);
  try {
    await change(merged);
  } finally {
    execFileSync('umount', [merged]);
  }
  return upper;
}
