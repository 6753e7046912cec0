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
  /** Mount targets, relative to the rootfs, left out of the RUN's layer. */
  targets: string[];
  /** Releases `sharing=locked` caches. */
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

const safeName = (id: string) => createHash('sha256').update(id).digest('hex').slice(0, 32);

/**
 * Prepares `RUN --mount` sources on the host: cache directories (persisted under the cache dir, keyed by id,
 * `sharing=shared|private|locked`), tmpfs, secrets (written to a 0400 file outside the rootfs), and binds from
 * the context directory or another stage's rootfs (read-only unless `rw`, in which case a copy is bound so
 * writes are discarded, as BuildKit discards them).
 */
export async function prepareMounts(
  ctx: StageContext,
  specs: MountSpec[],
  workdir: string,
  text: string,
): Promise<PreparedMounts> {
  const mounts: RunMount[] = [];
  const env: Record<string, string> = {};
  const targets: string[] = [];
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
      default:
        throw new KilnError('KILN_UNSUPPORTED', `${text}: RUN --mount=type=${m.type} is not supported yet`);
    }
  }
  return {
    mounts,
    env,
    targets: targets.map((t) => t.replace(/^\/+/, '')),
    release: () => {
      for (const r of releases) r();
    },
  };
}
