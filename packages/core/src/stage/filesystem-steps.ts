import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { type ContextSource, dockerignore, downloadUrl, gitContext, type PathFilter } from '@kiln/context';
import type { AddInstruction, CopyInstruction, WorkdirInstruction } from '@kiln/dockerfile';
import { extractLayer, readTar } from '@kiln/snapshot';
import { KilnError } from '../errors.js';
import { parseChmod } from '../fs/chmod.js';
import { toImagePath } from '../fs/posix-path.js';
import type { FileTree, TreeNode } from '../fs/tree.js';
import { resolveChown, type UserDatabase } from '../fs/users.js';
import type { LayerRecord } from '../image/layer-record.js';
import { plannedToLayerEntries, writeLayer } from '../image/write-layer.js';
import {
  type MatchedSource,
  type PlannedEntry,
  planCopy,
  type SourceEntry,
} from '../instructions/copy-plan.js';
import {
  type CopySourceProvider,
  contextProvider,
  isWildcard,
  treeProvider,
} from '../instructions/copy-sources.js';
import { baseFilesystem } from './base-fs.js';
import { addHistory } from './dispatch.js';
import { runStage, type StageContext } from './run-stage.js';
import type { StageState } from './stage-state.js';

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(Buffer.from(c as Uint8Array));
  return Buffer.concat(chunks);
}

/** Reads `/etc/passwd` and `/etc/group` of the stage as it is now (kiln's own layers included). */
function userDatabase(state: StageState, tree: FileTree): UserDatabase {
  const read = async (p: string) => {
    const real = tree.resolve(p, true);
    const n = tree.get(real);
    if (n?.type !== 'file') return undefined;
    if (n.open) {
      const c = await n.open();
      return (Buffer.isBuffer(c) ? c : await readAll(c)).toString('utf8');
    }
    // The base image's captured copy while it is current (see capturedFile), else the file itself.
    const cap = state.capturedFile(real);
    if (cap) return cap.toString('utf8');
    return (await readAll(await state.openFile(real))).toString('utf8');
  };
  return { passwd: () => read('etc/passwd'), group: () => read('etc/group') };
}

/** Adds a layer made of `entries` to the stage: tree, layer list, diff_ids, history. */
async function commitLayer(
  ctx: StageContext,
  state: StageState,
  tree: FileTree,
  entries: PlannedEntry[],
  createdBy: string,
) {
  const rec = await writeLayer(plannedToLayerEntries(entries), layerOptions(ctx));
  tree.applyLayer(entries);
  await appendLayer(ctx, state, rec, createdBy);
  return { digest: rec.digest, size: rec.size };
}

/** How this build writes layers. */
export function layerOptions(ctx: StageContext) {
  return {
    workDir: ctx.workDir,
    deterministic: ctx.deterministic,
    ...(ctx.level !== undefined ? { level: ctx.level } : {}),
    ...(ctx.epoch !== undefined ? { sourceDateEpoch: ctx.epoch } : {}),
    ...(ctx.signal ? { signal: ctx.signal } : {}),
  };
}

/**
 * Adds a written layer to the stage: layer list, diff_ids, history, and — once a RUN unpacked the rootfs —
 * the rootfs itself, so later RUNs see what COPY wrote.
 */
export async function appendLayer(ctx: StageContext, state: StageState, rec: LayerRecord, createdBy: string) {
  state.layers.push(rec);
  state.config.rootfs.diff_ids.push(rec.diffId);
  addHistory(state, createdBy, false, ctx.created);
  if (state.rootfsDir)
    await extractLayer(await rec.open(), state.rootfsDir, {
      allowDevices: 'skip',
      // On the machine's own `/`, kiln's own paths are out of the layer's reach.
      ...(state.rootfsDir === ctx.hostRoot?.root ? ctx.hostRoot.extractOptions() : {}),
    });
}

/**
 * WORKDIR: sets the working directory and creates it when missing (0755, owned by the current USER, as
 * BuildKit does). An existing directory costs nothing: no layer.
 */
export async function applyWorkdir(ctx: StageContext, state: StageState, ins: WorkdirInstruction) {
  const abs = path.posix.resolve(state.workdir, ins.path);
  state.config.config.WorkingDir = abs;
  const rel = toImagePath(abs);
  if (rel === '') {
    addHistory(state, `WORKDIR ${abs}`, true, ctx.created);
    return undefined;
  }
  const tree = await state.tree();
  const real = tree.resolve(rel, true);
  const existing = tree.get(real);
  if (existing?.type === 'dir') {
    addHistory(state, `WORKDIR ${abs}`, true, ctx.created);
    return undefined;
  }
  if (existing)
    throw new KilnError('KILN_NOT_A_DIRECTORY', `${ins.original}: /${real} exists and is not a directory`);
  const user = state.config.config.User;
  const owner = user ? await resolveChown(user, userDatabase(state, tree)) : { uid: 0, gid: 0 };
  const entries: PlannedEntry[] = [];
  for (const p of [...tree.missingAncestors(real), real]) {
    const node: TreeNode = { type: 'dir', mode: 0o755, uid: owner.uid, gid: owner.gid, size: 0 };
    if (ctx.epoch !== undefined) node.mtime = ctx.epoch * 1000;
    entries.push({ path: p, node });
  }
  return commitLayer(ctx, state, tree, entries, `WORKDIR ${abs}`);
}

async function providerFor(
  ctx: StageContext,
  ins: CopyInstruction | AddInstruction,
): Promise<{ provider: CopySourceProvider; fromContext: boolean }> {
  if (ins.kind === 'copy' && ins.fromResolved) {
    const from = ins.fromResolved;
    if (from.kind === 'stage') {
      const src = (await runStage(ctx, from.index)).state;
      return {
        provider: treeProvider(await src.tree(), { open: (p) => src.openFile(p) }),
        fromContext: false,
      };
    }
    const img = await ctx.images.resolve(from.ref, ctx.platform);
    const fs = baseFilesystem(img.layers, {
      workDir: ctx.workDir,
      ...(ctx.cacheDir ? { cacheDir: ctx.cacheDir } : {}),
    });
    return { provider: treeProvider(await fs.tree(), fs.base), fromContext: false };
  }
  if (!ctx.context)
    throw new KilnError(
      'KILN_NO_CONTEXT',
      `${ins.original}: ${ins.kind.toUpperCase()} needs a build context, and this build has none`,
    );
  return { provider: contextProvider(ctx.context, ctx.ignore), fromContext: true };
}

/** A git source by Docker's rule: scp-like `user@host:path`, `git://`/`ssh://`, or an http(s) URL whose path ends in `.git`. */
const isGit = (s: string) =>
  /^(?:[A-Za-z0-9._-]+@[^:/]+:|ssh:\/\/|git:\/\/)|^https?:\/\/[^#]*\.git(?:#.*)?$/.test(s);
const isUrl = (s: string) => /^https?:\/\//i.test(s) && !isGit(s);

/** Whether a file's first bytes are a tar archive, plain or compressed, the way ADD recognises archives. */
function archiveKind(head: Buffer): 'gzip' | 'bzip2' | 'xz' | 'tar' | undefined {
  if (head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.subarray(0, 3).toString('latin1') === 'BZh') return 'bzip2';
  if (head.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return 'xz';
  if (head.length >= 262 && head.subarray(257, 262).toString('latin1') === 'ustar') return 'tar';
  return undefined;
}

/** A fresh stream of a source entry, whether its opener gives a stream or the bytes. */
async function streamOf(open: NonNullable<TreeNode['open']>): Promise<Readable> {
  const c = await open();
  return Buffer.isBuffer(c) ? Readable.from([c]) : c;
}

async function decompressed(open: NonNullable<TreeNode['open']>, kind: string): Promise<Readable> {
  const input = await streamOf(open);
  if (kind === 'tar') return input;
  if (kind === 'gzip') {
    const { createGunzip } = await import('node:zlib');
    return input.pipe(createGunzip());
  }
  const { spawn } = await import('node:child_process');
  const child = spawn(kind === 'bzip2' ? 'bzip2' : 'xz', ['-dc'], { stdio: ['pipe', 'pipe', 'inherit'] });
  input.pipe(child.stdin);
  return child.stdout;
}

/**
 * Reads a local tar archive (ADD's auto-extraction) into a directory-shaped source. Contents are spooled to
 * the work directory so the layer writer can stream them again; ownership and modes come from the archive.
 */
async function archiveSource(ctx: StageContext, name: string, stream: Readable): Promise<MatchedSource> {
  const dir = await mkdtemp(path.join(ctx.workDir, 'add-'));
  // A name the archive lists again replaces the earlier member and takes the later position (tar's rule).
  const members = new Map<string, SourceEntry>();
  let n = 0;
  for await (const { header: h, body } of readTar(stream)) {
    const rel = toImagePath(h.name);
    if (rel === '') continue;
    const entry: SourceEntry = {
      type: h.type,
      mode: h.mode,
      uid: h.uid,
      gid: h.gid,
      size: 0,
      mtime: h.mtimeMs,
    };
    if (h.type === 'symlink') entry.linkname = h.linkname;
    // A hardlink names another archive member; inside the destination it names that member's new path.
    if (h.type === 'hardlink') entry.linkname = toImagePath(h.linkname);
    if (h.type === 'char' || h.type === 'block')
      Object.assign(entry, { devmajor: h.devmajor, devminor: h.devminor });
    if (h.type === 'file') {
      const file = path.join(dir, String(n++));
      await pipeline(Readable.from(body()), createWriteStream(file));
      entry.size = h.size;
      entry.open = () => createReadStream(file);
    }
    members.delete(rel);
    members.set(rel, entry);
  }
  return {
    path: name,
    entry: { type: 'dir', mode: 0o755, uid: 0, gid: 0, size: 0 },
    children: [...members].map(([rel, entry]) => ({ rel, entry })),
    keepOwner: true,
  };
}

/**
 * COPY and ADD: match the sources, work out the entries with Docker's destination rules, and write them as
 * one new layer. Only the stage's file index is needed, never a root filesystem.
 */
export async function applyCopy(ctx: StageContext, state: StageState, ins: CopyInstruction | AddInstruction) {
  const tree = await state.tree();
  const owner = ins.chown ? await resolveChown(ins.chown, userDatabase(state, tree)) : undefined;
  const chmod = ins.chmod ? parseChmod(ins.chmod) : undefined;
  let exclude: PathFilter | undefined;
  if (ins.exclude.length) exclude = dockerignore().add(ins.exclude);
  const sources: MatchedSource[] = [];
  let keepSourceOwner = false;
  const local = ins.sources.filter((s) => !(ins.kind === 'add' && (isUrl(s) || isGit(s))));
  const opened: ContextSource[] = [];
  for (const s of ins.sources) {
    if (ins.kind === 'add' && isUrl(s)) {
      // A remote file: downloaded (checked against --checksum), never unpacked, 0600 like BuildKit's,
      // with the server's Last-Modified as its time.
      const dl = await downloadUrl(s, {
        dir: ctx.workDir,
        ...(ins.checksum ? { checksum: ins.checksum } : {}),
        ...(ctx.signal ? { signal: ctx.signal } : {}),
      });
      const entry: SourceEntry = {
        type: 'file',
        mode: 0o600,
        uid: 0,
        gid: 0,
        size: dl.size,
        open: () => createReadStream(dl.file),
      };
      if (dl.lastModified !== undefined) entry.mtime = dl.lastModified;
      sources.push({ path: dl.name, entry });
    }
    if (ins.kind === 'add' && isGit(s)) {
      // The repository's files (without .git unless --keep-git-dir), owned by root like context files.
      const repo = await gitContext(s, {
        tmpDir: ctx.workDir,
        pullMethod: 'git',
        keepGitDir: ins.keepGitDir,
        ...(ctx.signal ? { signal: ctx.signal } : {}),
      });
      opened.push(repo);
      sources.push(...(await contextProvider(repo, undefined).match('.', exclude, ins.original)));
    }
  }
  if (ins.kind === 'add' && ins.checksum && local.length)
    throw new KilnError(
      'KILN_BAD_CHECKSUM',
      `${ins.original}: --checksum applies to URL and git sources only`,
    );
  if (local.length) {
    const { provider, fromContext } = await providerFor(ctx, ins);
    keepSourceOwner = !fromContext;
    for (const s of local) {
      const matched = await provider.match(s, exclude, ins.original);
      // --parents keeps each source's path; a `/./` in the pattern marks where the kept part starts.
      const pivot = s.includes('/./') ? toImagePath(s.slice(0, s.indexOf('/./'))) : '';
      for (const m of matched) {
        if (ins.kind === 'copy' && ins.parents)
          m.keepPath = pivot && m.path.startsWith(`${pivot}/`) ? m.path.slice(pivot.length + 1) : m.path;
        if (ins.kind === 'add' && ins.unpack !== false && m.entry.type === 'file' && m.entry.open) {
          const head = await readHead(m.entry.open);
          const kind = archiveKind(head);
          if (kind) {
            sources.push(await archiveSource(ctx, m.path, await decompressed(m.entry.open, kind)));
            continue;
          }
        }
        sources.push(m);
      }
    }
  }
  for (const h of ins.heredocSources) {
    const data = Buffer.from(h.data);
    sources.push({
      path: h.path,
      entry: {
        type: 'file',
        mode: 0o644,
        uid: 0,
        gid: 0,
        size: data.length,
        open: () => Readable.from([data]),
      },
    });
  }
  const multiple = ins.sources.length + ins.heredocSources.length > 1 || ins.sources.some(isWildcard);
  const common = {
    workdir: state.workdir,
    tree,
    ...(owner ? { owner } : {}),
    keepSourceOwner,
    ...(chmod ? { chmod } : {}),
    text: ins.original,
  };
  let entries: PlannedEntry[];
  if (ins.kind === 'copy' && ins.parents) {
    // Each source lands at <dest>/<its kept path>; entries are applied to the tree as they are planned so
    // that later sources see the directories earlier ones created.
    entries = [];
    const destDir = path.posix.resolve(state.workdir, ins.dest);
    for (const src of sources) {
      const planned = planCopy({
        ...common,
        sources: [src],
        dest: path.posix.join(destDir, src.keepPath ?? src.path),
        multiple: false,
      });
      tree.applyLayer(planned);
      entries.push(...planned);
    }
  } else entries = planCopy({ ...common, sources, dest: ins.dest, multiple });
  // Reproducible mode: every time is the epoch, so two checkouts with different file times give the same layer.
  if (ctx.epoch !== undefined) for (const e of entries) e.node.mtime = ctx.epoch * 1000;
  try {
    return await commitLayer(
      ctx,
      state,
      tree,
      entries,
      `${ins.kind.toUpperCase()} ${ins.sources.join(' ')} ${ins.dest}`,
    );
  } finally {
    for (const o of opened) await o.close?.();
  }
}

async function readHead(open: NonNullable<TreeNode['open']>): Promise<Buffer> {
  const s = await streamOf(open);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of s) {
    chunks.push(Buffer.from(c as Uint8Array));
    size += (c as Uint8Array).length;
    if (size >= 512) break;
  }
  s.destroy();
  return Buffer.concat(chunks);
}
