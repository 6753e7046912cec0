import { readFile } from 'node:fs/promises';
import { execTool } from './exec.js';

/**
 * unmountBelow: lazily unmounts every mount point at or below `dir`, deepest first.
 * For what tools leave behind: debootstrap's proc/sys, dockerd's `exec-root/netns/default`,
 * containers/storage's overlay mounts. Run before deleting such a dir. Needs root; a
 * failing umount is ignored (the mount may be gone already).
 * @public
 */
export async function unmountBelow(dir: string): Promise<string[]> {
  const mounts = await readFile('/proc/self/mounts', 'utf8');
  const targets = mounts
    .split('\n')
    // /proc/mounts escapes space, tab, newline and backslash as octal.
    .map((l) =>
      l.split(' ')[1]?.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8))),
    )
    .filter((m): m is string => !!m && (m === dir || m.startsWith(`${dir}/`)))
    .sort()
    .reverse();
  for (const m of targets) await execTool('umount', ['-l', m], { allowFailure: true });
  return targets;
}
