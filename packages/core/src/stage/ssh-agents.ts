import { type ChildProcess, spawn } from 'node:child_process';
import { chmod, chown, mkdtemp, rm, stat } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { KilnError } from '../errors.js';

/**
 * What `build({ ssh })` takes per id: an agent socket path, or private key files (one path or several). An empty
 * string (or an empty list) means the caller's `$SSH_AUTH_SOCK`. BuildKit's `--ssh id=…` takes the same.
 */
export type SshSource = string | string[];

/** A socket forwarding one RUN's connections to an agent; see {@link SshAgents.forward}. */
export interface SshForward {
  /** Host path of the socket to mount at the RUN's target. */
  path: string;
  close(): void;
}

/** How one id is served: an existing agent's socket, or keys an ssh-agent of our own holds. */
type Resolved = { kind: 'socket'; socket: string } | { kind: 'keys'; keys: string[] };

const expandHome = (p: string) => (p === '~' || p.startsWith('~/') ? path.join(os.homedir(), p.slice(1)) : p);

/** Runs a program to its end, with a detached session (no terminal to ask a passphrase on); rejects with stderr. */
function runTool(file: string, args: string[], env: NodeJS.ProcessEnv): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { env, stdio: ['ignore', 'ignore', 'pipe'], detached: true });
    let err = '';
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve() : reject(new Error(err.trim() || `${file} exited ${code}`)),
    );
  });
}

/**
 * SshAgents: the SSH agents of one build (`RUN --mount=type=ssh`), by id. A socket given by the caller is used
 * as it is; key files are loaded into one `ssh-agent` (openssh-client) per id, started on first use and stopped
 * with {@link close}. Each RUN mount gets its own forwarding socket (a unix socket kiln listens on, owned and
 * moded as the mount asks), so the caller's socket is never exposed or changed and nothing is left once the
 * RUN ends.
 */
export class SshAgents {
  private readonly agents = new Map<string, Promise<string>>();
  private readonly children: ChildProcess[] = [];
  private started = 0;
  private dir: Promise<string> | undefined;

  private constructor(
    private readonly sources: Map<string, Resolved>,
    private readonly workDir: string | undefined,
  ) {}

  /**
   * Checks every source (sockets exist, key files are files) so a bad `--ssh` fails before the build starts, and
   * loads key files into their agents at once (before an in-place build can change the machine's files).
   * Sockets go under `workDir` when its path is short enough, else under the OS temp dir.
   */
  static async open(sources: Record<string, SshSource>, workDir?: string): Promise<SshAgents> {
    const resolved = new Map<string, Resolved>();
    for (const [id, given] of Object.entries(sources)) {
      const list = (Array.isArray(given) ? given : [given]).filter((p) => p !== '');
      if (list.length === 0) {
        const sock = process.env.SSH_AUTH_SOCK;
        if (!sock)
          throw new KilnError(
            'KILN_SSH_SOURCE',
            `--ssh ${id}: no path given and SSH_AUTH_SOCK is not set (start an ssh-agent, or give a socket or key files)`,
          );
        list.push(sock);
      }
      const paths = list.map(expandHome);
      const stats = await Promise.all(
        paths.map((p) =>
          stat(p).catch((e: Error) => {
            throw new KilnError('KILN_SSH_SOURCE', `--ssh ${id}=${p}: ${e.message}`, { cause: e });
          }),
        ),
      );
      if (paths.length === 1 && stats[0]!.isSocket()) resolved.set(id, { kind: 'socket', socket: paths[0]! });
      else {
        const bad = paths.findIndex((_, i) => !stats[i]!.isFile());
        if (bad >= 0)
          throw new KilnError(
            'KILN_SSH_SOURCE',
            `--ssh ${id}=${paths[bad]}: neither an agent socket nor a private key file`,
          );
        resolved.set(id, { kind: 'keys', keys: paths });
      }
    }
    const agents = new SshAgents(resolved, workDir);
    try {
      await Promise.all([...resolved].filter(([, r]) => r.kind === 'keys').map(([id]) => agents.agent(id)));
    } catch (e) {
      await agents.close();
      throw e;
    }
    return agents;
  }

  has(id: string): boolean {
    return this.sources.has(id);
  }

  /** A private directory for sockets, short enough for unix socket paths (at most 107 bytes). */
  private socketDir(): Promise<string> {
    // mkdtemp adds 6 characters; the longest name in it is `run-` and 8 more.
    const parent = this.workDir && this.workDir.length + 30 < 107 ? this.workDir : os.tmpdir();
    this.dir ??= mkdtemp(path.join(parent, 'kiln-ssh-'));
    return this.dir;
  }

  /** The agent socket serving `id`. */
  private agent(id: string): Promise<string> {
    let p = this.agents.get(id);
    if (!p) {
      const source = this.sources.get(id)!;
      p = source.kind === 'socket' ? Promise.resolve(source.socket) : this.startAgent(id, source.keys);
      this.agents.set(id, p);
    }
    return p;
  }

  /** Starts `ssh-agent -D` on a socket of ours and adds the keys (no passphrase prompt: such keys fail). */
  private async startAgent(id: string, keys: string[]): Promise<string> {
    const n = this.started++;
    const socket = path.join(await this.socketDir(), `agent-${n}`);
    const child = spawn('ssh-agent', ['-D', '-a', socket], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.children.push(child);
    await new Promise<void>((resolve, reject) => {
      let out = '';
      child.on('error', (e) =>
        reject(
          new KilnError(
            'KILN_SSH_AGENT',
            `--ssh ${id}: cannot start ssh-agent (Debian package openssh-client): ${e.message}`,
            {
              cause: e,
            },
          ),
        ),
      );
      child.on('exit', (code) =>
        reject(new KilnError('KILN_SSH_AGENT', `--ssh ${id}: ssh-agent exited ${code}`)),
      );
      // In the foreground, ssh-agent prints its variables once it listens.
      child.stdout!.setEncoding('utf8').on('data', (d: string) => {
        out += d;
        if (out.includes('SSH_AUTH_SOCK')) resolve();
      });
      child.stderr!.resume();
    });
    const env: NodeJS.ProcessEnv = { ...process.env, SSH_AUTH_SOCK: socket, SSH_ASKPASS_REQUIRE: 'never' };
    delete env.DISPLAY;
    try {
      await runTool('ssh-add', ['-q', ...keys], env);
    } catch (e) {
      throw new KilnError(
        'KILN_SSH_AGENT',
        `--ssh ${id}: cannot add ${keys.join(', ')} to an agent: ${(e as Error).message} (a key with a passphrase must be loaded into your own ssh-agent; then pass its socket: --ssh ${id}=$SSH_AUTH_SOCK)`,
        { cause: e },
      );
    }
    return socket;
  }

  /**
   * A new socket forwarding every connection to `id`'s agent, with the mount's mode and owner (the owner only
   * when kiln runs as root). Close it after the RUN.
   */
  async forward(id: string, opts: { mode: number; uid: number; gid: number }): Promise<SshForward> {
    const agent = await this.agent(id);
    const sock = path.join(await this.socketDir(), `run-${Math.random().toString(36).slice(2, 10)}`);
    const open = new Set<net.Socket>();
    const server = net.createServer((client) => {
      const upstream = net.connect(agent);
      open.add(client).add(upstream);
      const end = () => {
        client.destroy();
        upstream.destroy();
        open.delete(client);
        open.delete(upstream);
      };
      for (const s of [client, upstream]) s.on('error', end).on('close', end);
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(sock, () => resolve());
    });
    await chmod(sock, opts.mode);
    if (process.getuid?.() === 0) await chown(sock, opts.uid, opts.gid);
    return {
      path: sock,
      close: () => {
        server.close();
        for (const s of open) s.destroy();
        void rm(sock, { force: true }).catch(() => undefined);
      },
    };
  }

  /** Stops the agents kiln started and removes its sockets. */
  async close(): Promise<void> {
    for (const c of this.children) if (c.exitCode === null && c.signalCode === null) c.kill();
    if (this.dir) await rm(await this.dir, { recursive: true, force: true });
  }
}
