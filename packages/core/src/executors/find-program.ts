import { accessSync, constants } from 'node:fs';
import path from 'node:path';
import { KilnError } from '../errors.js';

const found = new Map<string, string>();

/**
 * findProgram looks a host program up in `PATH` (plus the sbin directories, which a non-login root shell may
 * lack) once per process, so the sandboxes can be started with an empty environment. `pkg` names the Debian
 * package to install when it is missing.
 */
export function findProgram(name: string, pkg: string): string {
  if (name.includes('/')) return name;
  const hit = found.get(name);
  if (hit) return hit;
  const dirs = [
    ...(process.env.PATH ?? '').split(':'),
    '/usr/local/sbin',
    '/usr/sbin',
    '/sbin',
    '/usr/bin',
    '/bin',
  ];
  for (const dir of dirs) {
    if (!dir) continue;
    const file = path.join(dir, name);
    try {
      accessSync(file, constants.X_OK);
      found.set(name, file);
      return file;
    } catch {}
  }
  throw new KilnError(
    'KILN_EXECUTOR_UNAVAILABLE',
    `${name} was not found in PATH; install the Debian package "${pkg}" (or pass its path in the executor options)`,
  );
}
