import { chmod, lstat, mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Writable } from 'node:stream';
import { type RunInstruction, runCommandLine } from '@kiln/dockerfile';
import type { LayerEntry } from '@kiln/snapshot';
import { KilnError } from '../errors.js';
import type { RunMount } from '../executor.js';
import { readInRoot } from '../executors/root-path.js';
import { resolveRunUser, runHome } from '../executors/run-user.js';
import { parentOf } from '../fs/posix-path.js';
import type { FileTree, TreeNode } from '../fs/tree.js';
import { DEFAULT_PATH, envToMap } from '../image/config.js';
import { extractLayers } from '../image/extract-layers.js';
import { unpackedBase } from '../image/unpacked-base.js';
import { writeLayer } from '../image/write-layer.js';
import { SUBID_HINT, userNamespaceMapping } from '../user-namespace.js';
import { addHistory } from './dispatch.js';
import { appendLayer, layerOptions } from './filesystem-steps.js';
import { mountEnv, type PreparedMounts, prepareMounts } from './run-mounts.js';
import { mountStageOverlay, startSnapshot } from './run-snapshot.js';
import type { StageContext } from './run-stage.js';
import type { StageState } from './stage-state.js';

/**
 * Paths a RUN never contributes to a layer: kernel filesystems and the files an executor mounts over the
 * rootfs for the command's benefit (DNS and hosts), as BuildKit leaves them out too.
 */
const IGNORED = ['proc', 'sys', 'dev', 'etc/resolv.conf', 'etc/hosts', 'etc/hostname'];

/**
 * Unpacks the stage's layers (base and kiln's own, in order, whiteouts applied, through the safe extractor)
 * into a directory of the work dir, the first time a RUN needs a root filesystem.
 */
export async function materialize(ctx: StageContext, state: StageState): Promise<string> {
  if (state.rootfsDir) return state.rootfsDir;
  // In-place builds: the stage running its instructions gets the machine's own `/` (see HostRoot).
  const host = ctx.hostRoot;
  if (host && !host.isFinished(state)) return (state.materializing ??= host.take(ctx, state));
  state.materializing ??= (async () => {
    // The base image's layers come first; kiln's own layers (those with a file) follow them.
    const firstOwn = state.layers.findIndex((l) => l.file !== undefined);
    const baseCount = firstOwn < 0 ? state.layers.length : firstOwn;
    let dir: string | undefined;
    let rest = state.layers;
    if (baseCount > 0 && ctx.cacheDir) {
      // Fast path (root with overlayfs): the base stays unpacked in the cache and becomes the lower layer.
      const lower = await unpackedBase(ctx.cacheDir, state.layers.slice(0, baseCount), ctx.signal);
      const merged = await mountStageOverlay(ctx, state, lower);
      if (merged) {
        dir = merged;
        rest = state.layers.slice(baseCount);
      }
    }
    if (!dir) {
      dir = await mkdtemp(path.join(ctx.workDir, 'rootfs-'));
      // mkdtemp makes 0700; an image's root is 0755, and a non-root USER must be able to enter it.
      await chmod(dir, 0o755);
    }
    await extractLayers(rest, dir, { allowDevices: 'skip', ...(ctx.signal ? { signal: ctx.signal } : {}) });
    state.rootfsDir = dir;
    return dir;
  })();
  return state.materializing;
}

/** The environment of a RUN: the image's Env, then build args in scope that Env does not override. */
async function runEnv(ctx: StageContext, state: StageState, rootfs: string): Promise<string[]> {
  const env = envToMap(state.config.config.Env);
  for (const [k, v] of state.args) if (!env.has(k)) env.set(k, v);
  for (const [k, v] of Object.entries(ctx.plan.proxyArgs ?? {})) if (!env.has(k)) env.set(k, v);
  if (!env.has('PATH')) env.set('PATH', DEFAULT_PATH);
  if (!env.has('HOME')) {
    // Like BuildKit: HOME is the user's home directory from the image's /etc/passwd, else /. Read through the
    // symlinks on disk inside the rootfs: the tree's view of the path may differ, and must not lead outside.
    const read = (f: string) => readInRoot(rootfs, f);
    const id = await resolveRunUser(state.config.config.User ?? '', read);
    env.set('HOME', await runHome(id.uid, read));
  }
  return [...env].map(([k, v]) => `${k}=${v}`);
}

/**
 * Creates the mount points of a RUN inside the rootfs the way BuildKit does, so the layer matches: missing
 * directories (the target of a directory mount and the parents of any target) are made 0755 root:root and
 * stay in the image; the empty file a file mount needs is removed after the run. Paths resolve through the
 * image's symlinks inside the rootfs, never outside it. Returns the files to remove.
 */
async function mountpoints(rootfs: string, tree: FileTree, mounts: RunMount[]): Promise<string[]> {
  const files: string[] = [];
  for (const m of mounts) {
    const rel = tree.resolve(m.target.replace(/^\/+/, ''), true);
    if (rel === '' || rel.startsWith('dev/') || rel === 'dev' || rel.startsWith('proc')) continue;
    const isFile = m.type === 'secret' || (m.source !== undefined && !(await stat(m.source)).isDirectory());
    const dirs = isFile ? parentOf(rel) : rel;
    let cur = '';
    for (const part of dirs.split('/').filter(Boolean)) {
      cur = cur ? `${cur}/${part}` : part;
      const real = tree.resolve(cur, true);
      const host = path.join(rootfs, real);
      const st = await lstat(host).catch(() => undefined);
      if (st?.isDirectory()) continue;
      if (st)
        throw new KilnError(
          'KILN_BAD_MOUNT',
          `mount target /${m.target.replace(/^\/+/, '')}: /${real} is not a directory`,
        );
      await mkdir(host);
      await chmod(host, 0o755);
    }
    if (isFile) {
      const host = path.join(rootfs, rel);
      if (!(await lstat(host).catch(() => undefined))) {
        await writeFile(host, '');
        files.push(host);
      }
    }
  }
  return files;
}

/**
 * In a user namespace that maps only root, chown/setgid to any other id fails with EINVAL: say why, once the
 * command's own message shows it.
 */
function singleIdHint(lines: string[]): string {
  if (userNamespaceMapping() !== 'single' || !lines.some((l) => /invalid argument/i.test(l))) return '';
  return ` (kiln runs in a user namespace that maps only uid 0 and gid 0, so other ids cannot be used; ${SUBID_HINT})`;
}

/** Keeps the last lines a command wrote, for the error message, and forwards each line as an event. */
function lineSink(onLine: (line: string) => void): Writable & { tail(): string[] } {
  const tail: string[] = [];
  let partial = '';
  const w = new Writable({
    write(chunk, _enc, cb) {
      const lines = (partial + chunk.toString()).split('\n');
      partial = lines.pop() ?? '';
      for (const l of lines) {
        tail.push(l);
        if (tail.length > 20) tail.shift();
        onLine(l);
      }
      cb();
    },
    final(cb) {
      if (partial) {
        tail.push(partial);
        onLine(partial);
      }
      cb();
    },
  });
  return Object.assign(w, { tail: () => tail });
}

/** Applies a RUN layer's entries to the stage's tree, in order, as the extractor applies them to the rootfs. */
function applyToTree(tree: FileTree, entries: LayerEntry[]): void {
  tree.applyLayer(
    entries.map((e) => {
      const node: TreeNode = { type: e.type, mode: e.mode, uid: e.uid, gid: e.gid, size: e.size ?? 0 };
      if (e.mtime !== undefined) node.mtime = e.mtime;
      if (e.linkname) node.linkname = e.linkname;
      return { path: e.path, node };
    }),
  );
}

/**
 * RUN: unpacks the rootfs on first use, runs the command through the executor, and turns what changed
 * (directory diff against the state recorded just before) into a layer. A non-zero exit fails the build
 * with the status and the command's last output lines.
 */
export async function applyRun(
  ctx: StageContext,
  state: StageState,
  ins: RunInstruction,
  stage: number,
  index: number,
) {
  const executor = ctx.executor;
  if (!executor) throw new KilnError('KILN_NO_EXECUTOR', `${ins.original}: RUN needs an executor`);
  const network = (ins.network ?? 'default') as 'default' | 'none' | 'host';
  if (!['default', 'none', 'host'].includes(network))
    throw new KilnError(
      'KILN_BAD_NETWORK',
      `${ins.original}: --network=${network} must be default, none or host`,
    );
  const rootfs = await materialize(ctx, state);
  const tree = await state.tree();
  const prepared = await prepareMounts(ctx, ins.mounts, state.workdir, ins.original);
  try {
    return await runWithMounts(ctx, state, ins, stage, index, network, rootfs, tree, prepared);
  } finally {
    prepared.release();
  }
}

async function runWithMounts(
  ctx: StageContext,
  state: StageState,
  ins: RunInstruction,
  stage: number,
  index: number,
  network: 'default' | 'none' | 'host',
  rootfs: string,
  tree: FileTree,
  prepared: PreparedMounts,
) {
  // What was mounted leaves no trace; the mount points stay, as BuildKit leaves them (see mountpoints()).
  const ignore = [...IGNORED, ...(ctx.ignorePaths ?? []), ...(ctx.hostRoot?.ignored ?? [])];
  // BuildKit's rules for shell form and heredocs; a `#!` heredoc becomes a script file mounted for the run.
  const shell = state.config.config.Shell?.length ? state.config.config.Shell : ['/bin/sh', '-c'];
  const command = runCommandLine(ins, shell);
  const scripts = await Promise.all(
    command.files.map(async (f) => {
      const dir = await mkdtemp(path.join(ctx.workDir, 'script-'));
      const source = path.join(dir, path.posix.basename(f.path));
      await writeFile(source, f.data, { mode: f.mode });
      return { type: 'bind' as const, target: f.path, source, readonly: true };
    }),
  );
  const snapshot = await startSnapshot(ctx, state, rootfs, ignore);
  const emitLine = (streamName: 'stdout' | 'stderr') => (text: string) =>
    ctx.emit({ type: 'run-output', stage, index, stream: streamName, text });
  const stdout = lineSink(emitLine('stdout'));
  const stderr = lineSink(emitLine('stderr'));
  const createdFiles = await mountpoints(rootfs, tree, [...prepared.mounts, ...scripts]);
  const { exitCode } = await ctx.executor!.run({
    argv: command.argv,
    env: mountEnv(await runEnv(ctx, state, rootfs), prepared),
    cwd: state.workdir,
    user: state.config.config.User ?? '',
    rootfs,
    mounts: [...prepared.mounts, ...scripts],
    network,
    stdout,
    stderr,
    ...(ctx.signal ? { signal: ctx.signal } : {}),
  });
  stdout.end();
  stderr.end();
  for (const f of createdFiles) await rm(f, { force: true });
  if (exitCode !== 0) {
    const last = [...stdout.tail(), ...stderr.tail()].filter(Boolean).slice(-5);
    throw new KilnError(
      'KILN_RUN_FAILED',
      `${ins.original}: exited with status ${exitCode}${last.length ? `: ${last.at(-1)}` : ''}${singleIdHint(last)}${last.length > 1 ? `\n${last.join('\n')}` : ''}`,
    );
  }
  const diff = await snapshot.finish();
  ctx.emit({ type: 'snapshot', stage, index, ...diff.report });
  const createdBy = `RUN ${ins.json ? JSON.stringify(ins.args) : `/bin/sh -c ${ins.args[0] ?? ''}`}`;
  if (diff.entries.length === 0) {
    addHistory(state, createdBy, true, ctx.created);
    return undefined;
  }
  if (ctx.epoch !== undefined) for (const e of diff.entries) e.mtime = ctx.epoch * 1000;
  const rec = await writeLayer(diff.entries, layerOptions(ctx));
  applyToTree(tree, diff.entries);
  // The rootfs already holds these changes: record the layer without unpacking it again.
  const dir = state.rootfsDir;
  state.rootfsDir = undefined;
  try {
    await appendLayer(ctx, state, rec, createdBy);
  } finally {
    state.rootfsDir = dir;
  }
  return { digest: rec.digest, size: rec.size };
}
