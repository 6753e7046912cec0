import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

/** Debian's busybox-static: one static binary, so the rootfs needs no libraries. */
const BUSYBOX = '/bin/busybox';

/** A throwaway busybox root filesystem; `dispose` removes it. */
export interface TestRootfs {
  dir: string;
  dispose(): void;
}

/**
 * makeBusyboxRootfs builds a minimal root filesystem in a temp dir: /bin/busybox with one symlink per applet
 * (`busybox --install -s` style), /etc/passwd with root, nobody and `app` (uid 1000, also in group `staff`),
 * /etc/group, a 1777 /tmp, /root and /home/app (owned 1000:1000). It deliberately has no /proc, /dev,
 * /etc/hosts or /etc/resolv.conf, so executors must create and remove their own mount points. `extra` adds
 * files (path → content) or directories (path ending in `/`).
 */
export function makeBusyboxRootfs(extra: Record<string, string> = {}): TestRootfs {
  const dir = mkdtempSync(path.join(tmpdir(), 'kiln-rootfs-'));
  chmodSync(dir, 0o755);
  for (const d of ['bin', 'etc', 'root', 'home/app']) mkdirSync(path.join(dir, d), { recursive: true });
  mkdirSync(path.join(dir, 'tmp'));
  chmodSync(path.join(dir, 'tmp'), 0o1777);
  chownSync(path.join(dir, 'home/app'), 1000, 1000);
  copyFileSync(BUSYBOX, path.join(dir, 'bin/busybox'));
  chmodSync(path.join(dir, 'bin/busybox'), 0o755);
  const applets = execFileSync(BUSYBOX, ['--list'], { encoding: 'utf8' }).split('\n').filter(Boolean);
  for (const a of applets) if (a !== 'busybox') symlinkSync('busybox', path.join(dir, 'bin', a));
  writeFileSync(
    path.join(dir, 'etc/passwd'),
    'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\napp:x:1000:1000:app:/home/app:/bin/sh\n',
  );
  writeFileSync(
    path.join(dir, 'etc/group'),
    'root:x:0:\nstaff:x:50:app\nwheel:x:10:root,app\napp:x:1000:\nnogroup:x:65534:\n',
  );
  for (const [p, content] of Object.entries(extra)) {
    const host = path.join(dir, p);
    if (p.endsWith('/')) mkdirSync(host, { recursive: true });
    else {
      mkdirSync(path.dirname(host), { recursive: true });
      writeFileSync(host, content);
    }
  }
  return { dir, dispose: () => rmSync(dir, { recursive: true, force: true }) };
}
