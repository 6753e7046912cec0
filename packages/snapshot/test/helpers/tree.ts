import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach } from 'vitest';

const made: string[] = [];

/** A fresh temporary directory removed after the current test. */
export function tmpDir(label = 'snap'): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), `kiln-${label}-`));
  made.push(d);
  return d;
}

afterEach(() => {
  for (const d of made.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

/** Declarative tree spec: path → content string, `{ dir }`, `{ symlink }`, `{ hardlink }` or `{ fifo }`. */
export type TreeSpec = Record<
  string,
  | string
  | { content: string; mode?: number; uid?: number; gid?: number; mtime?: number }
  | { dir: true; mode?: number; uid?: number; gid?: number }
  | { symlink: string }
  | { hardlink: string }
  | { fifo: true }
>;

/** Writes a tree under `root` (parents created as needed). */
export function writeTree(root: string, spec: TreeSpec): void {
  for (const [rel, v] of Object.entries(spec)) {
    const p = path.join(root, rel);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    if (typeof v === 'string') fs.writeFileSync(p, v);
    else if ('content' in v) {
      fs.writeFileSync(p, v.content);
      if (v.mode !== undefined) fs.chmodSync(p, v.mode);
      if (v.uid !== undefined) fs.lchownSync(p, v.uid, v.gid ?? v.uid);
      if (v.mode !== undefined) fs.chmodSync(p, v.mode);
      if (v.mtime !== undefined) fs.utimesSync(p, v.mtime, v.mtime);
    } else if ('dir' in v) {
      fs.mkdirSync(p, { recursive: true });
      if (v.uid !== undefined) fs.lchownSync(p, v.uid, v.gid ?? v.uid);
      if (v.mode !== undefined) fs.chmodSync(p, v.mode);
    } else if ('symlink' in v) fs.symlinkSync(v.symlink, p);
    else if ('hardlink' in v) fs.linkSync(path.join(root, v.hardlink), p);
    else execFileSync('mkfifo', [p]);
  }
}

/**
 * One line per object: type, mode, owner, size/target/content digest; mtimes left out unless asked,
 * content and owners unless told not to (`content: false`, `owners: false`).
 */
export function describeTree(
  root: string,
  options: { mtimes?: boolean; skip?: (rel: string) => boolean; content?: boolean; owners?: boolean } = {},
): string[] {
  const out: string[] = [];
  const inodes = new Map<string, string>();
  const walk = (dir: string, rel: string) => {
    for (const name of fs.readdirSync(dir).sort()) {
      const p = path.join(dir, name);
      const r = rel ? `${rel}/${name}` : name;
      if (options.skip?.(r)) continue;
      const st = fs.lstatSync(p);
      const mode = (st.mode & 0o7777).toString(8);
      const t = options.mtimes ? ` t=${Math.floor(st.mtimeMs / 1000)}` : '';
      let what: string;
      if (st.isSymbolicLink()) what = `symlink -> ${fs.readlinkSync(p)}`;
      else if (st.isDirectory()) what = 'dir';
      else if (st.isFile()) {
        const key = `${st.dev}:${st.ino}`;
        const link = st.nlink > 1 ? inodes.get(key) : undefined;
        if (st.nlink > 1 && !link) inodes.set(key, r);
        const content =
          options.content === false ? '' : ` ${fs.readFileSync(p).toString('base64').slice(0, 40)}`;
        what = link ? `hardlink of ${link}` : `file ${st.size}${content}`;
      } else if (st.isFIFO()) what = 'fifo';
      else if (st.isCharacterDevice()) what = `char ${st.rdev}`;
      else what = 'other';
      const owner = options.owners === false ? '' : ` ${st.uid}:${st.gid}`;
      out.push(`${r} ${what} ${st.isSymbolicLink() ? '' : mode}${owner}${t}`);
      if (st.isDirectory()) walk(p, r);
    }
  };
  walk(root, '');
  return out;
}

/** Runs a command, returning stdout; throws with stderr on failure. */
export function sh(cmd: string, args: string[], options: { cwd?: string; input?: Buffer } = {}): Buffer {
  return execFileSync(cmd, args, { cwd: options.cwd, input: options.input, stdio: ['pipe', 'pipe', 'pipe'] });
}
