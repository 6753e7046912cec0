import type { Xattrs } from '../fs/file-system.js';

/**
 * Whether an extended attribute found on disk belongs in a layer: `security.*` (file capabilities,
 * IMA/EVM signatures) and `user.*`, except overlayfs's own bookkeeping (`user.overlay.*` under
 * `userxattr`) and the host's SELinux label (`security.selinux`, which belongs to the machine that
 * ran the build, not to the image). `trusted.*` (overlay's, and needs CAP_SYS_ADMIN) and `system.*`
 * (POSIX ACLs) are left out. BuildKit inside dockerd keeps only `security.capability`.
 */
export function keepXattr(name: string): boolean {
  if (name.startsWith('security.')) return name !== 'security.selinux';
  return name.startsWith('user.') && !name.startsWith('user.overlay.');
}

/** The attributes of `xattrs` that {@link keepXattr} keeps, or undefined when none. */
export function layerXattrs(xattrs: Xattrs | undefined): Xattrs | undefined {
  if (!xattrs) return undefined;
  const kept = Object.entries(xattrs).filter(([k]) => keepXattr(k));
  return kept.length > 0 ? Object.fromEntries(kept) : undefined;
}
