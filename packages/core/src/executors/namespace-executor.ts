import { existsSync } from 'node:fs';
import { mkdtemp, readFile, realpath, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { KilnError } from '../errors.js';
import type { Executor, RunMount, RunRequest } from '../executor.js';
import { SUBID_HINT, setgroupsAllowed } from '../user-namespace.js';
import { envObject, runChild } from './child-process.js';
import { findProgram } from './find-program.js';
import { MountStubs } from './mount-stubs.js';
import { readInRoot, resolveInRoot } from './root-path.js';
import { type RunIdentity, resolveRunUser } from './run-user.js';
import {
  type HeldNamespace,
  identityUserNamespace,
  namespaceTools,
  nestedIdentityNamespace,
  subordinateRange,
  subordinateUserNamespace,
} from './user-namespaces.js';

/** Options of {@link namespaceExecutor}; every field has a default. */
export interface NamespaceExecutorOptions {
  /** bubblewrap binary. Default: `bwrap` from PATH (Debian package `bubblewrap`). */
  bwrap?: string;
  /** util-linux `setpriv`, which sets the USER's uid, gid and supplementary groups before bubblewrap starts. */
  setpriv?: string;
  /** util-linux `unshare`, used as root to create the identity-mapped user namespace. Default: from PATH. (As
   * an ordinary user, `unshare`, `nsenter`, `newuidmap` and `newgidmap` are always taken from PATH.) */
  unshare?: string;
  /**
   * As a non-root caller, use the caller's `/etc/subuid` and `/etc/subgid` ranges (through `newuidmap` and
   * `newgidmap`, Debian package `uidmap`) when it has some, so `chown` to other ids works. Default `true`;
   * `false` forces the single-id mapping.
   */
  subordinateIds?: boolean;
  /** Hostname inside the sandbox. Default `buildkitsandbox`, the name BuildKit's RUN sees. */
  hostname?: string;
  /** Host file whose content becomes the sandbox's /etc/resolv.conf. Default `/etc/resolv.conf` (empty if missing). */
  resolvConf?: string;
}

/**
 * Capabilities a root RUN keeps: Docker's default set, which BuildKit's RUN also gets. Everything else
 * (CAP_SYS_ADMIN, CAP_NET_ADMIN…) is dropped, so a RUN cannot undo its own sandbox.
 */
const DEFAULT_CAPS = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FSETID',
  'CAP_FOWNER',
  'CAP_MKNOD',
  'CAP_NET_RAW',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETFCAP',
  'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT',
  'CAP_KILL',
  'CAP_AUDIT_WRITE',
];

/** The caller's subordinate uid and gid ranges, when it has both. */
async function subordinateRanges() {
  const uids = await subordinateRange('/etc/subuid');
  const gids = await subordinateRange('/etc/subgid');
  return uids && gids ? { uids, gids } : undefined;
}

/**
 * namespaceExecutor runs each RUN chrooted (pivot_root) into `rootfs` with bubblewrap, in new mount, pid, ipc
 * and uts namespaces (plus a network namespace with only loopback for `network: 'none'`), with /proc, a fresh
 * /dev (null zero full random urandom tty, pts, a tmpfs /dev/shm), and /etc/resolv.conf and /etc/hosts bound
 * read-only from generated files. Mount points missing from the rootfs are created before and removed after
 * the run (see {@link MountStubs}), so the rootfs is left as the command left it. As root, a root USER keeps
 * Docker's default capabilities; any other USER runs in an identity-mapped user namespace (so the files it
 * writes carry its real uid/gid) with its supplementary groups. A non-root caller uses its /etc/subuid and
 * /etc/subgid ranges when it has some, else bubblewrap maps only the caller's own uid (see README.md).
 */
export function namespaceExecutor(opts: NamespaceExecutorOptions = {}): Executor {
  return {
    name: 'namespace',
    run: (req) => runInNamespace(req, opts),
  };
}

async function runInNamespace(
  req: RunRequest,
  opts: NamespaceExecutorOptions,
): Promise<{ exitCode: number }> {
  if (req.argv.length === 0) throw new KilnError('KILN_RUN_EMPTY', 'RUN has no command to execute');
  if (!path.isAbsolute(req.rootfs))
    throw new KilnError('KILN_RUN_ROOTFS', `rootfs must be an absolute path, got "${req.rootfs}"`);
  const env = envObject(req.env);
  const bwrap = findProgram(opts.bwrap ?? 'bwrap', 'bubblewrap');
  const rootfs = await realpath(req.rootfs).catch((e: Error) => {
    throw new KilnError('KILN_RUN_ROOTFS', `rootfs ${req.rootfs} cannot be used: ${e.message}`, { cause: e });
  });
  const id = await resolveRunUser(req.user, (file) => readInRoot(rootfs, file));
  const cwd = path.posix.resolve('/', req.cwd || '/');
  const mounts = req.mounts
    .map((m) => ({ ...m, target: path.posix.resolve('/', m.target) }))
    .sort((a, b) => depth(a.target) - depth(b.target));
  if (!mounts.some((m) => cwd === m.target || cwd.startsWith(`${m.target}/`))) {
    const at = await resolveInRoot(rootfs, cwd);
    const isDir = at.exists && (await stat(at.host)).isDirectory();
    if (!isDir)
      throw new KilnError(
        'KILN_RUN_CWD_MISSING',
        `working directory ${cwd} does not exist in the rootfs (${rootfs}); create it (WORKDIR) before RUN`,
      );
  }

  const scratch = await mkdtemp(path.join(tmpdir(), 'kiln-run-'));
  const stubs = new MountStubs(rootfs);
  const held: HeldNamespace[] = [];
  try {
    const hostname = opts.hostname ?? 'buildkitsandbox';
    const resolv = path.join(scratch, 'resolv.conf');
    const hosts = path.join(scratch, 'hosts');
    await writeFile(resolv, await readFile(opts.resolvConf ?? '/etc/resolv.conf').catch(() => ''), {
      mode: 0o644,
    });
    await writeFile(hosts, `127.0.0.1\tlocalhost ${hostname}\n::1\tlocalhost ip6-localhost ip6-loopback\n`, {
      mode: 0o644,
    });

    const args = ['--die-with-parent', '--new-session', '--unshare-pid', '--unshare-ipc', '--unshare-uts'];
    args.push('--hostname', hostname);
    if (req.network === 'none') args.push('--unshare-net');
    // Where a mount goes: the target resolved inside the rootfs (an image's symlinks stay inside it), never `/`.
    const mountPoint = async (target: string, leaf: 'dir' | 'file', what: string) => {
      const inner = await stubs.ensure(target, leaf);
      if (inner === '/')
        throw new KilnError(
          'KILN_RUN_MOUNT',
          `${target} resolves to / in the image (through a symlink), so the ${what} mounted there would hide the whole root filesystem`,
        );
      return inner;
    };
    args.push('--bind', rootfs, '/');
    args.push('--proc', await mountPoint('/proc', 'dir', 'procfs'));
    const dev = await mountPoint('/dev', 'dir', '/dev tmpfs');
    args.push('--dev', dev, '--perms', '1777', '--tmpfs', `${dev}/shm`, '--mqueue', `${dev}/mqueue`);
    // BuildKit mounts a read-only sysfs; bubblewrap cannot mount a new one, so the host's is bound read-only.
    if (existsSync('/sys')) args.push('--ro-bind', '/sys', await mountPoint('/sys', 'dir', 'sysfs'));
    args.push('--ro-bind', resolv, await mountPoint('/etc/resolv.conf', 'file', 'resolv.conf'));
    args.push('--ro-bind', hosts, await mountPoint('/etc/hosts', 'file', 'hosts file'));
    const placed: { target: string; inner: string; type: RunMount['type'] }[] = [
      { target: '/proc', inner: '/proc', type: 'tmpfs' },
      { target: '/dev', inner: dev, type: 'tmpfs' },
    ];
    for (const m of mounts) {
      if (m.target === '/')
        throw new KilnError(
          'KILN_RUN_MOUNT',
          `a ${m.type} mount cannot replace the root filesystem (target /)`,
        );
      const leaf = await mountLeaf(m);
      const parent = placed.findLast((p) => m.target === p.target || m.target.startsWith(`${p.target}/`));
      // Under another mount, the mount point lives in that mount's tmpfs (created by bubblewrap) or in the
      // caller's host directory; only targets in the rootfs itself need stubs.
      const inner = parent
        ? path.posix.join(parent.inner, path.posix.relative(parent.target, m.target))
        : await mountPoint(m.target, leaf, `${m.type} mount`);
      placed.push({ target: m.target, inner, type: m.type });
      args.push(...mountArgs(m, inner));
    }
    args.push('--chdir', cwd, '--clearenv');
    for (const [k, v] of Object.entries(env)) args.push('--setenv', k, v);

    const launch = await launcher(id, req.user, opts, bwrap, held);
    args.push(...launch.args);
    args.push('--json-status-fd', '3', '--', ...req.argv);
    const end = await runChild({
      file: launch.file,
      args: [...launch.pre, ...args],
      env: {},
      fds: launch.fds,
      signal: req.signal,
      stdout: req.stdout,
      stderr: req.stderr,
    });
    const status = parseStatus(end.status);
    // bubblewrap writes an exit-code record only when the command ran; without one, setting up the sandbox
    // (mounts, chdir) or the exec failed, and bubblewrap's own message is the last thing on stderr.
    if (status.exitCode === undefined) {
      const message = end.stderrTail.trim().split('\n').pop() || `no message, exit ${end.exitCode}`;
      if (/^bwrap: execvp /.test(message))
        throw new KilnError('KILN_RUN_EXEC', `cannot execute ${req.argv[0]}: ${message}`);
      throw new KilnError(
        'KILN_RUN_SANDBOX_FAILED',
        `bubblewrap could not set up the sandbox: ${message} (the namespace executor needs mount, pid and user namespaces; in a container without them, use the in-place executor)`,
      );
    }
    return { exitCode: status.exitCode };
  } finally {
    // The rootfs comes first: whatever else fails, the caller's snapshot must not see our mount points.
    await stubs.cleanup();
    await rm(scratch, { recursive: true, force: true });
    for (const ns of held) ns.close();
  }
}

/** How to start bubblewrap for a USER: the program (bwrap, or setpriv/nsenter in front of it), its extra args. */
interface Launch {
  file: string;
  /** Arguments before bubblewrap's own (those of setpriv/nsenter, ending with the bwrap path). */
  pre: string[];
  /** Extra bubblewrap arguments (user namespace, capabilities). */
  args: string[];
  /** Descriptors passed as fd 4… (the user namespace to join). */
  fds: number[];
}

/**
 * Chooses how the sandbox gets its ids (see README.md): as root, directly (root USER) or through an
 * identity-mapped user namespace (other USERs); as an ordinary user, through its subordinate ids when it has
 * some, else bubblewrap's single-id mapping. Namespaces it creates are added to `held` for the caller to close.
 */
async function launcher(
  id: RunIdentity,
  user: string,
  opts: NamespaceExecutorOptions,
  bwrap: string,
  held: HeldNamespace[],
): Promise<Launch> {
  const out: Launch = { file: bwrap, pre: [], args: [], fds: [] };
  const keepCaps = () => {
    out.args.push('--cap-drop', 'ALL');
    for (const c of DEFAULT_CAPS) out.args.push('--cap-add', c);
  };
  const join = (ns: HeldNamespace) => {
    held.push(ns);
    out.fds = [ns.fd];
    out.args.push('--userns', '4');
  };
  // setpriv sets the groups, gid and uid, then execs bubblewrap (root stays root, with its capabilities).
  const switchUser = () => {
    out.pre = ['--reuid', `${id.uid}`, '--regid', `${id.gid}`, ...groupArgs(id), '--', bwrap];
    out.file = findProgram(opts.setpriv ?? 'setpriv', 'util-linux');
  };
  if (process.getuid?.() === 0) {
    if (id.uid === 0) keepCaps();
    else
      join(
        await identityUserNamespace(
          findProgram(opts.unshare ?? 'unshare', 'util-linux'),
          id.uid,
          id.gid,
          id.groups,
        ),
      );
    switchUser();
    return out;
  }
  const ranges = opts.subordinateIds === false ? undefined : await subordinateRanges();
  if (!ranges) {
    // Single-id mode: bubblewrap maps the USER's uid/gid onto the caller's own; no supplementary groups.
    out.args.push('--unshare-user', '--uid', `${id.uid}`, '--gid', `${id.gid}`);
    if (id.uid === 0) for (const c of DEFAULT_CAPS) out.args.push('--cap-add', c);
    return out;
  }
  const tools = namespaceTools();
  const outer = await subordinateUserNamespace(tools, ranges.uids, ranges.gids);
  held.push(outer);
  if (id.uid > outer.maxUid || id.groups.some((g) => g > outer.maxGid))
    throw new KilnError(
      'KILN_RUN_USERNS',
      `USER ${user} (uid ${id.uid}, gids ${id.groups.join(',')}) is outside the ids this user namespace maps (0..${outer.maxUid} / 0..${outer.maxGid}); give the caller larger ranges in /etc/subuid and /etc/subgid`,
    );
  if (id.uid === 0) keepCaps();
  else join(await nestedIdentityNamespace(tools, outer, id.uid, id.gid));
  switchUser();
  // setpriv runs inside the outer namespace, where the caller is root and may take any id it maps; bubblewrap
  // then runs as root there (root USER) or joins the nested identity-mapped namespace.
  out.pre = [`--user=/proc/${outer.pid}/ns/user`, '--', out.file, ...out.pre];
  out.file = tools.nsenter;
  return out;
}

const depth = (p: string) => p.split('/').filter(Boolean).length;

async function mountLeaf(m: RunMount): Promise<'dir' | 'file'> {
  if (m.type === 'tmpfs' || m.type === 'cache') return 'dir';
  if (m.type === 'secret' || m.type === 'ssh') return 'file';
  if (!m.source) throw new KilnError('KILN_RUN_MOUNT', `bind mount at ${m.target} has no source`);
  const st = await stat(m.source).catch((e: Error) => {
    throw new KilnError('KILN_RUN_MOUNT', `bind source ${m.source} for ${m.target}: ${e.message}`, {
      cause: e,
    });
  });
  return st.isDirectory() ? 'dir' : 'file';
}

function mountArgs(m: RunMount, inner: string): string[] {
  if (m.type === 'tmpfs') return ['--tmpfs', inner];
  if (!m.source)
    throw new KilnError('KILN_RUN_MOUNT', `${m.type} mount at ${m.target} needs a host source path`);
  // bind: read-only unless asked otherwise; cache: writable unless asked; secret and ssh: always read-only.
  const ro = m.type === 'cache' ? m.readonly === true : m.type === 'bind' ? m.readonly !== false : true;
  return [ro ? '--ro-bind' : '--bind', m.source, inner];
}

function groupArgs(id: RunIdentity): string[] {
  // A user namespace that maps only its creator denies setgroups(2) (see user_namespaces(7)); there the
  // groups kiln has (none mapped) are kept, and a USER with supplementary groups is refused.
  if (!setgroupsAllowed()) {
    if (id.groups.some((g) => g !== id.gid))
      throw new KilnError(
        'KILN_RUN_USERNS',
        `USER ${id.uid} has supplementary groups ${id.groups.join(',')}, which this user namespace cannot set; ${SUBID_HINT}`,
      );
    return ['--keep-groups'];
  }
  return id.groups.length > 0 ? ['--groups', id.groups.join(',')] : ['--clear-groups'];
}

/** The exit-code record of bubblewrap's `--json-status-fd` output (JSON lines; unknown members ignored). */
function parseStatus(text: string): { exitCode?: number } {
  const out: { exitCode?: number } = {};
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      const o = JSON.parse(line) as Record<string, unknown>;
      if (typeof o['exit-code'] === 'number') out.exitCode = o['exit-code'];
    } catch {}
  }
  return out;
}
