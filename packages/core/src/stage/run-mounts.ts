import { createHash } from 'node:crypto';
import { chmod, cp, mkdir, mkdtemp, readFile, realpath, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { MountSpec } from '@kiln/dockerfile';
import { KilnError } from '../errors.js';
import type { RunMount } from '../executor.js';
import { runStage, type StageContext } from './run-stage.js';

/** What a RUN's mounts need from the build: where they go, and which paths the snapshot must skip. */
export interface PreparedMounts {
  mounts: RunMount[];
  /** Extra environment (secrets exposed with `env=`). */
  env: Record<string, string>;
  /** Environment the RUN gets only where its own (image Env, build args) lacks the name: `SSH_AUTH_SOCK`. */
  envDefaults: Record<string, string>;
  /** Mount targets, relative to the rootfs, left out of the RUN's layer. */
  targets: string[];
  /** Releases `sharing=locked` caches and closes ssh forwarding sockets. */
  release(): void;
}

const locks = new Map<string, Promise<void>>();

/** Waits for, then takes, the lock of a `sharing=locked` cache; returns the release function. */
async function lock(key: string): Promise<() => void> {
  const before = locks.get(key) ?? Promise.resolve();
  let release!: () => void;
  const mine = new Promise<void>((r) => (release = r));
  locks.set(
    key,
    before.then(() => mine),
  );
  await before;
  return release;
}

/** A RUN's environment (`K=V` list) with what its mounts add: `env` always, `envDefaults` where unset. */
export function mountEnv(base: string[], prepared: Pick<PreparedMounts, 'env' | 'envDefaults'>): string[] {
  const names = new Set(base.map((kv) => kv.slice(0, kv.indexOf('='))));
  return [
    ...base,
    ...Object.entries(prepared.env).map(([k, v]) => `${k}=${v}`),
    ...Object.entries(prepared.envDefaults)
      .filter(([k]) => !names.has(k) && !(k in prepared.env))
      .map(([k, v]) => `${k}=${v}`),
  ];
}

const safeName = (id: string) => createHash('sha256').update(id).digest('hex').slice(0, 32);

/**
 * Prepares `RUN --mount` sources on the host: cache directories (persisted under the cache dir, keyed by id,
 * `sharing=shared|private|locked`), tmpfs, secrets (written to a 0400 file outside the rootfs), and binds from
 * the context directory or another stage's rootfs (read-only unless `rw`, in which case a copy is bound so
 * writes are discarded, as BuildKit discards them), and ssh agent sockets.
 */
export async function prepareMounts(
  ctx: StageContext,
  specs: MountSpec[],
  workdir: string,
  text: string,
): Promise<PreparedMounts> {
  const mounts: RunMount[] = [];
  const env: Record<string, string> = {};
  const envDefaults: Record<string, string> = {};
  const targets: string[] = [];
  let sshCount = 0;
  const releases: (() => void)[] = [];
  const scratch = () => mkdtemp(path.join(ctx.workDir, 'mount-'));
  for (const m of specs) {
    const target = m.target ? path.posix.resolve(workdir, m.target) : undefined;
    switch (m.type) {
      case 'cache': {
        if (!target) throw new KilnError('KILN_BAD_MOUNT', `${text}: a cache mount needs target=`);
        const id = m.id ?? target;
        const sharing = m.sharing ?? 'shared';
        let source: string;
        if (sharing === 'private') source = await scratch();
        else {
          source = path.join(ctx.cacheDir ?? path.join(ctx.workDir, 'cache'), 'run-cache', safeName(id));
          await mkdir(source, { recursive: true });
          if (sharing === 'locked') releases.push(await lock(source));
        }
        if (m.mode) await chmod(source, Number.parseInt(m.mode, 8));
        mounts.push({ type: 'cache', target, source, readonly: m.readOnly });
        targets.push(target);
        break;
      }
      case 'tmpfs':
        if (!target) throw new KilnError('KILN_BAD_MOUNT', `${text}: a tmpfs mount needs target=`);
        mounts.push({ type: 'tmpfs', target });
        targets.push(target);
        break;
      case 'secret': {
        const id = m.id ?? (target ? path.posix.basename(target) : undefined);
        if (!id) throw new KilnError('KILN_BAD_MOUNT', `${text}: a secret mount needs id= or target=`);
        const given = ctx.secrets?.[id];
        let value: Buffer | undefined;
        if (given?.value !== undefined) value = Buffer.from(given.value);
        else if (given?.file) value = await readFile(given.file);
        else if (given?.env !== undefined && process.env[given.env] !== undefined)
          value = Buffer.from(process.env[given.env]!);
        if (value === undefined) {
          if (m.required)
            throw new KilnError(
              'KILN_SECRET_MISSING',
              `${text}: secret "${id}" is required and was not given`,
            );
          break;
        }
        if (m.env) env[m.env] = value.toString('utf8');
        if (m.env && !m.target) break;
        const file = path.join(await scratch(), 'secret');
        await writeFile(file, value, { mode: 0o400 });
        if (m.mode) await chmod(file, Number.parseInt(m.mode, 8));
        const at = target ?? `/run/secrets/${id}`;
        mounts.push({ type: 'secret', target: at, source: file, readonly: true });
        targets.push(at);
        break;
      }
      case 'bind': {
        if (!target) throw new KilnError('KILN_BAD_MOUNT', `${text}: a bind mount needs target=`);
        let root: string;
        if (m.fromResolved?.kind === 'stage') {
          const src = (await runStage(ctx, m.fromResolved.index)).state;
          const { materialize } = await import('./run-step.js');
          root = await materialize(ctx, src);
        } else if (m.fromResolved?.kind === 'image') {
          throw new KilnError(
            'KILN_UNSUPPORTED',
            `${text}: bind mounts from an image are not supported yet (use a stage)`,
          );
        } else if (ctx.contextDir) root = ctx.contextDir;
        else
          throw new KilnError(
            'KILN_UNSUPPORTED',
            `${text}: bind mounts from a non-directory context are not supported yet`,
          );
        // The source is resolved inside its root; a path escaping it is refused.
        const realRoot = await realpath(root);
        let source = await realpath(path.join(root, path.posix.resolve('/', m.source ?? '/'))).catch(
          () => undefined,
        );
        if (!source || (source !== realRoot && !source.startsWith(`${realRoot}/`)))
          throw new KilnError(
            'KILN_BAD_MOUNT',
            `${text}: bind source "${m.source ?? '/'}" does not exist inside its root`,
          );
        if (!m.readOnly) {
          const copy = path.join(await scratch(), 'rw');
          await cp(source, copy, { recursive: true, verbatimSymlinks: true });
          source = copy;
        }
        mounts.push({ type: 'bind', target, source, readonly: m.readOnly });
        targets.push(target);
        break;
      }
      case 'ssh': {
        if (m.source !== undefined)
          throw new KilnError('KILN_BAD_MOUNT', `${text}: ssh does not support source`);
        // Like BuildKit: /run/buildkit/ssh_agent.<n> counting every ssh mount of the RUN (skipped ones too), and
        // SSH_AUTH_SOCK names the first one's target, unless the RUN's environment has it already.
        const at = target ?? `/run/buildkit/ssh_agent.${sshCount}`;
        if (sshCount++ === 0) envDefaults.SSH_AUTH_SOCK = at;
        const id = m.id ?? 'default';
        if (!ctx.ssh?.has(id)) {
          if (m.required)
            throw new KilnError(
              'KILN_SSH_MISSING',
              `${text}: no SSH agent or key "${id}" was given (build option ssh, CLI --ssh ${id}=<socket or key file>)`,
            );
          break; // optional and not given: no mount, as BuildKit skips it
        }
        const forward = await ctx.ssh.forward(id, {
          mode: m.mode ? Number.parseInt(m.mode, 8) : 0o600,
          uid: m.uid ? Number(m.uid) : 0,
          gid: m.gid ? Number(m.gid) : 0,
        });
        releases.push(() => forward.close());
        mounts.push({ type: 'ssh', target: at, source: forward.path, readonly: true });
        targets.push(at);
        break;
      }
      default:
        throw new KilnError('KILN_UNSUPPORTED', `${text}: RUN --mount=type=${m.type} is not supported yet`);
    }
  }
  return {
    mounts,
    env,
    envDefaults,
    targets: targets.map((t) => t.replace(/^\/+/, '')),
    release: () => {
      for (const r of releases) r();
    },
  };
}
