import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { withDirLock } from '../setup/dir-lock.js';
import { type ExecOptions, type ExecResult, execTool, TestHarnessError } from './exec.js';
import { unmountBelow } from './mounts.js';

/**
 * A private Docker engine for oracle builds: Debian's dockerd 20.10 (with its embedded
 * BuildKit) with its own data-root, exec-root, pidfile and unix socket under
 * `STATE/docker`, no bridge network and no iptables rules, so it changes nothing on the
 * host. Started lazily by the first oracle build of a run (possibly in a test worker
 * process) and shared by later ones through the pidfile; stopped by the global teardown.
 */

/** dockerd binary (Debian docker.io). `KILN_DOCKERD_BIN` overrides it. */
const DOCKERD = process.env.KILN_DOCKERD_BIN ?? '/usr/sbin/dockerd';
/**
 * Docker client matching the 20.10 engine. Not the `docker` on PATH: /usr/local/bin/docker
 * (28.x) has no buildx plugin and would fall back to the classic builder.
 */
const DOCKER = process.env.KILN_DOCKER_BIN ?? '/usr/bin/docker';

/** A running private engine. @public */
export interface DockerEngine {
  /** `unix://…/docker.sock`. */
  host: string;
  /** DOCKER_CONFIG dir of the client (credentials of `docker login`). */
  configDir: string;
  /** PID of dockerd. */
  pid: number;
  /** Runs the 20.10 client against this engine. */
  docker(args: string[], opts?: ExecOptions & { buildkit?: boolean }): Promise<ExecResult>;
}

function paths(stateDir: string) {
  const d = join(stateDir, 'docker');
  return {
    dir: d,
    config: join(d, 'daemon.json'),
    pidfile: join(d, 'dockerd.pid'),
    socket: join(d, 'docker.sock'),
    log: join(d, 'dockerd.log'),
    client: join(d, 'client'),
    failed: join(d, 'start-failed'),
    startMs: join(d, 'start-ms'),
    lock: join(stateDir, 'docker.lock'),
  };
}

/**
 * ensureDockerEngine: the run's engine, started on first call (~1–2 s) with
 * `insecure-registries` set to `insecureRegistries`. Throws `KILN_TEST_DOCKER_START` when
 * dockerd cannot start; that failure is remembered for the run so later calls fail fast.
 * @public
 */
export async function ensureDockerEngine(
  stateDir: string,
  insecureRegistries: string[],
): Promise<DockerEngine> {
  const p = paths(stateDir);
  await mkdir(p.dir, { recursive: true });
  return withDirLock(
    p.lock,
    async () => {
      if (existsSync(p.failed)) {
        throw new TestHarnessError('KILN_TEST_DOCKER_START', await readFile(p.failed, 'utf8'));
      }
      const live = await livePid(stateDir);
      const engine = (pid: number): DockerEngine => ({
        host: `unix://${p.socket}`,
        configDir: p.client,
        pid,
        docker: (args, opts = {}) =>
          execTool(DOCKER, ['-H', `unix://${p.socket}`, ...args], {
            ...opts,
            env: {
              ...process.env,
              ...opts.env,
              DOCKER_CONFIG: p.client,
              DOCKER_BUILDKIT: opts.buildkit === false ? '0' : '1',
            },
          }),
      });
      if (live) return engine(live);
      try {
        const t0 = performance.now();
        const pid = await startDockerd(stateDir, insecureRegistries);
        await writeFile(p.startMs, String(Math.round(performance.now() - t0)));
        return engine(pid);
      } catch (e) {
        await writeFile(p.failed, (e as Error).message);
        throw e;
      }
    },
    { timeoutMs: 120_000 },
  );
}

async function startDockerd(stateDir: string, insecureRegistries: string[]): Promise<number> {
  const p = paths(stateDir);
  if (!existsSync(DOCKERD) || !existsSync(DOCKER)) {
    throw new TestHarnessError(
      'KILN_TEST_DOCKER_START',
      `${DOCKERD} or ${DOCKER} missing: install docker.io`,
    );
  }
  await mkdir(p.client, { recursive: true });
  const config = {
    'data-root': join(p.dir, 'data'),
    'exec-root': join(p.dir, 'exec'),
    pidfile: p.pidfile,
    hosts: [`unix://${p.socket}`],
    'insecure-registries': insecureRegistries,
    // No docker0 bridge, no NAT, no iptables rules: builds use --network host.
    bridge: 'none',
    iptables: false,
    'ip-masq': false,
    'ip-forward': false,
    'storage-driver': 'overlay2',
    features: { buildkit: true },
  };
  await writeFile(p.config, JSON.stringify(config, null, 2));
  const log = openSync(p.log, 'a');
  const child = spawn(DOCKERD, ['--config-file', p.config], {
    stdio: ['ignore', log, log],
    detached: true, // own session: survives the test worker that started it; teardown stops it
  });
  closeSync(log);
  child.unref();
  const exited = new Promise<string>((resolve) => child.once('exit', (c, s) => resolve(`exit ${c ?? s}`)));
  const deadline = Date.now() + 30_000;
  for (;;) {
    const ping = await execTool(
      DOCKER,
      ['-H', `unix://${p.socket}`, 'version', '--format', '{{.Server.Version}}'],
      {
        allowFailure: true,
        timeoutMs: 5_000,
      },
    );
    if (ping.code === 0) break;
    const gone = await Promise.race([exited, new Promise<undefined>((r) => setTimeout(r, 200, undefined))]);
    if (gone || Date.now() > deadline) {
      if (!gone) child.kill('SIGKILL');
      const tail = (await readFile(p.log, 'utf8').catch(() => '')).trim().split('\n').slice(-12).join('\n');
      throw new TestHarnessError(
        'KILN_TEST_DOCKER_START',
        `dockerd did not come up (${gone ?? 'timeout 30 s'}), log ${p.log}:\n${tail}`,
      );
    }
  }
  if (!existsSync(p.pidfile)) await writeFile(p.pidfile, String(child.pid));
  return child.pid!;
}

/** The PID in the pidfile when it is a live dockerd started with this state dir's config. */
async function livePid(stateDir: string): Promise<number | undefined> {
  const p = paths(stateDir);
  const pid = Number((await readFile(p.pidfile, 'utf8').catch(() => '')).trim());
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  return (await isOurProcess(pid, p.config)) ? pid : undefined;
}

/** True when `pid` is alive and its command line mentions `marker` (guards against PID reuse). */
async function isOurProcess(pid: number, marker: string): Promise<boolean> {
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  return cmdline.split('\0').includes(marker) || cmdline.includes(marker);
}

/**
 * stopDockerEngine: stops the run's dockerd if one was started (and reports how long its
 * start and stop took) (SIGTERM, SIGKILL after
 * 20 s), then its containerd if that outlived it, unmounts what they left under the
 * state dir (netns, overlay mounts), and deletes `STATE/docker`. Only processes whose
 * command line names this state dir's files are signalled.
 * @public
 */
export async function stopDockerEngine(
  stateDir: string,
): Promise<{ stopped: boolean; unmounted: string[]; startMs?: number; stopMs: number }> {
  const p = paths(stateDir);
  const t0 = performance.now();
  const started = await readFile(p.startMs, 'utf8').catch(() => undefined);
  const pid = await livePid(stateDir);
  const containerdPid = Number(
    (await readFile(join(p.dir, 'exec', 'containerd', 'containerd.pid'), 'utf8').catch(() => '')).trim(),
  );
  if (pid) {
    signal(pid, 'SIGTERM');
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline && (await isOurProcess(pid, p.config))) await sleep(100);
    if (await isOurProcess(pid, p.config)) signal(pid, 'SIGKILL');
  }
  if (containerdPid > 0 && (await isOurProcess(containerdPid, join(p.dir, 'exec', 'containerd')))) {
    signal(containerdPid, 'SIGTERM');
    await sleep(500);
  }
  const unmounted = await unmountBelow(p.dir);
  await rm(p.dir, { recursive: true, force: true });
  const stopMs = Math.round(performance.now() - t0);
  return { stopped: pid !== undefined, unmounted, startMs: started ? Number(started) : undefined, stopMs };
}

/** Sends `sig`; a process that exited in the meantime (ESRCH) is what we wanted anyway. */
function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ESRCH') throw e;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
