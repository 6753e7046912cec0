import { spawn } from 'node:child_process';
import type { Xattrs } from './file-system.js';

/**
 * Extended attributes of the real disk without reading any file's content. Node has no xattr API, so
 * one `perl` process per batch makes the system calls (`llistxattr`, `lgetxattr`, `lsetxattr`: never
 * following a final symlink) through Perl's `syscall` builtin. perl-base is Essential in Debian and
 * Ubuntu, so it is wherever GNU tar is; the syscall numbers are the kernel's for the few architectures
 * listed below (Perl's own syscall.ph is not in perl-base). Where perl or the numbers are missing,
 * {@link xattrSyscalls} is undefined and the caller falls back to GNU tar.
 */

/** lsetxattr, lgetxattr, llistxattr numbers per Node `process.arch`. */
const NUMBERS: Record<string, { set: number; get: number; list: number }> = {
  x64: { set: 189, get: 192, list: 195 },
  // The generic table (include/uapi/asm-generic/unistd.h).
  arm64: { set: 6, get: 9, list: 12 },
  riscv64: { set: 6, get: 9, list: 12 },
  loong64: { set: 6, get: 9, list: 12 },
};

// Reads: NUL-separated paths on stdin. Per path with xattrs: `P <hex path>`, then `X <hex name> <hex value>`
// per attribute; `E <hex path> <errno>` when listing failed for another reason than a missing path or a file
// system without xattrs (ENOENT, EOPNOTSUPP).
const READ = `use strict;
my ($LIST, $GET) = @ARGV;
local $/ = "\\0";
binmode STDOUT;
while (defined(my $p = <STDIN>)) {
  chomp $p;
  my $cp = "$p\\0";
  my $n = syscall($LIST, $cp, 0, 0);
  if ($n > 0) {
    my $names = "\\0" x $n;
    $n = syscall($LIST, $cp, $names, $n);
    if ($n > 0) {
      print "P ", unpack("H*", $p), "\\n";
      for my $name (split /\\0/, substr($names, 0, $n)) {
        next if $name eq "";
        my $cn = "$name\\0";
        my $m = syscall($GET, $cp, $cn, 0, 0);
        next if $m < 0;
        my $v = "\\0" x ($m + 1);
        $m = syscall($GET, $cp, $cn, $v, $m + 1);
        print "X ", unpack("H*", $name), " ", unpack("H*", substr($v, 0, $m)), "\\n" if $m >= 0;
      }
    }
  }
  print "E ", unpack("H*", $p), " ", $! + 0, "\\n" if $n < 0 && $! != 2 && $! != 95;
}
`;

// Writes: one line per attribute, `<hex path> <hex name> <hex value>`; `E <line index> <errno>` per failure.
const WRITE = `use strict;
my ($SET) = @ARGV;
my $i = 0;
while (defined(my $line = <STDIN>)) {
  chomp $line;
  my ($p, $n, $v) = map { pack("H*", $_) } split / /, $line, -1;
  $v = "" unless defined $v;
  my $r = syscall($SET, "$p\\0", "$n\\0", $v, length($v), 0);
  print "E $i ", $! + 0, "\\n" if $r < 0;
  $i++;
}
`;

/** Runs perl with a script and input; resolves with stdout. Rejects when perl cannot run or fails. */
function perl(script: string, args: number[], input: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('perl', ['-e', script, ...args.map(String)], { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve(Buffer.concat(out).toString('latin1'));
      else reject(new Error(`perl exited ${code}: ${err.trim()}`));
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(input);
  });
}

const hex = (b: Buffer | string) => (typeof b === 'string' ? Buffer.from(b) : b).toString('hex');

/** The errno name of a number reported by the scripts (the few that matter here). */
function errnoName(n: number): string {
  return (
    {
      1: 'EPERM',
      2: 'ENOENT',
      7: 'E2BIG',
      13: 'EACCES',
      22: 'EINVAL',
      28: 'ENOSPC',
      30: 'EROFS',
      61: 'ENODATA',
      95: 'EOPNOTSUPP',
    }[n] ?? `errno ${n}`
  );
}

/** A failure to read or set an attribute, with the errno name as `code` (like node:fs errors). */
function xattrError(code: string, syscall: string, p: string, name?: string): NodeJS.ErrnoException {
  const e: NodeJS.ErrnoException = new Error(`${code}: ${syscall} '${p}'${name ? ` ${name}` : ''}`);
  e.code = code;
  e.syscall = syscall;
  e.path = p;
  return e;
}

/** Reading and writing xattrs through perl's syscall builtin; see the module comment. */
export interface XattrSyscalls {
  /** Attributes of each path (never following a final symlink); paths without any, or missing, are absent. */
  read(paths: string[]): Promise<Map<string, Xattrs>>;
  /** Sets each attribute on `path` (a final symlink is not followed); rejects on the first that fails. */
  set(path: string, xattrs: Xattrs): Promise<void>;
}

let probed: Promise<XattrSyscalls | undefined> | undefined;

/** The perl-backed implementation, or undefined when perl is missing or the architecture's numbers are unknown. */
export function xattrSyscalls(): Promise<XattrSyscalls | undefined> {
  probed ??= (async () => {
    const nr = NUMBERS[process.arch];
    if (process.platform !== 'linux' || !nr) return undefined;
    try {
      await perl(READ, [nr.list, nr.get], Buffer.alloc(0));
    } catch {
      return undefined;
    }
    return {
      async read(paths) {
        const result = new Map<string, Xattrs>();
        if (paths.length === 0) return result;
        const out = await perl(READ, [nr.list, nr.get], Buffer.from(paths.map((p) => `${p}\0`).join('')));
        let current: Xattrs | undefined;
        for (const line of out.split('\n')) {
          const [tag, a = '', b = ''] = line.split(' ');
          if (tag === 'P') {
            current = {};
            result.set(Buffer.from(a, 'hex').toString(), current);
          } else if (tag === 'X' && current)
            current[Buffer.from(a, 'hex').toString()] = Buffer.from(b, 'hex');
          else if (tag === 'E')
            throw xattrError(errnoName(Number(b)), 'llistxattr', Buffer.from(a, 'hex').toString());
        }
        return result;
      },
      async set(p, xattrs) {
        const names = Object.keys(xattrs);
        if (names.length === 0) return;
        const lines = names.map((n) => `${hex(p)} ${hex(n)} ${hex(xattrs[n]!)}\n`).join('');
        const out = await perl(WRITE, [nr.set], Buffer.from(lines));
        const failed = out.split('\n').find((l) => l.startsWith('E '));
        if (failed) {
          const [, index, errno] = failed.split(' ');
          throw xattrError(errnoName(Number(errno)), 'lsetxattr', p, names[Number(index)]);
        }
      },
    };
  })();
  return probed;
}
