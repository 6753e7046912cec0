import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import path from 'node:path';

/**
 * treeState records every entry under `root` (type, mode, owner, size, mtime to the nanosecond, content hash
 * or link target) so a test can assert that a run left a rootfs exactly as it was.
 */
export function treeState(root: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (rel: string) => {
    const host = path.join(root, rel);
    const st = lstatSync(host, { bigint: true });
    let what = `${st.mode.toString(8)} ${st.uid}:${st.gid} ${st.size} ${st.mtimeNs}`;
    if (st.isSymbolicLink()) what += ` -> ${readlinkSync(host)}`;
    else if (st.isFile()) what += ` ${createHash('sha256').update(readFileSync(host)).digest('hex')}`;
    out.set(rel || '/', what);
    if (st.isDirectory()) for (const name of readdirSync(host).sort()) walk(path.join(rel, name));
  };
  walk('');
  return out;
}
