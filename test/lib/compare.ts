import type { RegistryAccess } from './image-ref.js';
import type { ImageConfigJson } from './inspect.js';
import { formatLayerEntry, type LayerTarEntry, listLayers } from './layer-listing.js';
import { formatXattrs, imageXattrs } from './layer-xattrs.js';
import { formatEntry, listRootfs, type RootfsEntry, umociUnpack } from './unpack.js';

export { inspectImage } from './inspect.js';
export { listLayer, listLayers } from './layer-listing.js';
export { listRootfs, umociUnpack } from './unpack.js';

/** Options of {@link compareImages}. @public */
export interface CompareOptions {
  /**
   * Rootfs paths (relative, no leading `/`) to leave out of the tree comparison. Tested
   * with `RegExp.test` against each path; anchor it yourself. Known harmless case:
   * buildah 1.28 (chroot isolation) leaves an empty `etc/hostname` and a `run` dir when the
   * base lacks them: {@link BUILDAH_ARTIFACTS}.
   */
  ignorePaths?: RegExp;
  /** Also compare file mtimes (seconds). Default false: builders legitimately differ. */
  mtime?: boolean;
  /** Also compare history `created_by` and `empty_layer`. Default false: every builder words them differently. */
  history?: boolean;
  /** Access for side A and B (default: derived per reference, see `accessFor`). */
  accessA?: RegistryAccess;
  accessB?: RegistryAccess;
  /**
   * Also compare layer by layer: count and each layer's tar listing (type, mode, uid:gid,
   * size, name, link target), sorted by name. Default false: BuildKit commits a layer for
   * WORKDIR and buildah does not, so use it against a builder known to agree.
   */
  layers?: boolean;
  /**
   * Also compare extended attributes (file capabilities…) of the flattened image, read from each
   * layer's pax `SCHILY.xattr.*` records byte for byte and applied in layer order (whiteouts
   * included): `xattrDiff`. Default false: it reads every layer once more.
   */
  xattrs?: boolean;
  /** Keep the unpacked work dirs (their paths are returned). Default false. */
  keep?: boolean;
}

/** What {@link compareImages} found. @public */
export interface CompareResult {
  /** True when config and flattened rootfs agree on everything compared. */
  same: boolean;
  /** One line per differing config field: `config.Env: A=[…] B=[…]`. */
  configDiff: string[];
  /** `- <A entry>` / `+ <B entry>` lines (path, type, mode, uid:gid, size, sha256, link). */
  treeDiff: string[];
  /** With `layers`: `layer count: …` and `layer N: - …`/`+ …` lines; otherwise empty. */
  layerDiff: string[];
  /** With `xattrs`: `- path\tname=hex …` (A) / `+ …` (B) lines for paths whose xattrs differ; otherwise empty. */
  xattrDiff: string[];
  /** With `xattrs`: each side's flattened xattrs, path → name → value in hex. */
  xattrs?: { a: Record<string, Record<string, string>>; b: Record<string, Record<string, string>> };
  /** Normalized configs, for assertions beyond equality. */
  configA: NormalizedConfig;
  configB: NormalizedConfig;
  /** Number of rootfs entries compared on each side. */
  entries: { a: number; b: number };
  /** Work dirs when `keep` was set. */
  kept?: { a: string; b: string };
}

/**
 * BUILDAH_ARTIFACTS: what buildah 1.28 adds to every image it builds with chroot isolation
 * and that BuildKit does not: an empty `etc/hostname` and a `run` directory, when the base
 * image lacks them.
 * @public
 */
export const BUILDAH_ARTIFACTS = /^(etc\/hostname|run)$/;

/** The config fields compared, as they appear under an image config's `config`. */
const CONFIG_FIELDS = [
  'User',
  'ExposedPorts',
  'Env',
  'Entrypoint',
  'Cmd',
  'Volumes',
  'WorkingDir',
  'Labels',
  'StopSignal',
  'Healthcheck',
  'Shell',
  'OnBuild',
] as const;

/** Labels builders add on their own. */
const NOISE_LABELS = new Set(['io.buildah.version']);

/** The comparable part of an image config. @public */
export interface NormalizedConfig {
  architecture?: string;
  os?: string;
  variant?: string;
  config: Record<string, unknown>;
  history?: { created_by: string; empty_layer: boolean }[];
}

/**
 * normalizeConfig: architecture, os, variant and the `config` fields a Dockerfile
 * controls (Env, Cmd, Entrypoint, WorkingDir, User, Labels, ExposedPorts, Volumes,
 * StopSignal, Healthcheck, Shell, OnBuild), without empty or null values, without
 * builder-added labels, and without the fields only some builders write (Hostname,
 * Domainname, Image, Attach*, Tty, OpenStdin, StdinOnce, ArgsEscaped) or that are
 * always different (created, history dates, rootfs diff_ids).
 * @public
 */
export function normalizeConfig(cfg: ImageConfigJson, opts: { history?: boolean } = {}): NormalizedConfig {
  const out: NormalizedConfig = { config: {} };
  if (cfg.architecture) out.architecture = cfg.architecture;
  if (cfg.os) out.os = cfg.os;
  if (cfg.variant) out.variant = cfg.variant;
  const c = cfg.config ?? {};
  for (const f of CONFIG_FIELDS) {
    let v = c[f];
    if (f === 'Labels' && v && typeof v === 'object') {
      v = Object.fromEntries(Object.entries(v).filter(([k]) => !NOISE_LABELS.has(k)));
    }
    if (!isEmpty(v)) out.config[f] = sortKeys(v);
  }
  if (opts.history) {
    out.history = (cfg.history ?? []).map((h) => ({
      created_by: h.created_by ?? '',
      empty_layer: !!h.empty_layer,
    }));
  }
  return out;
}

function isEmpty(v: unknown): boolean {
  if (v === null || v === undefined || v === '') return true;
  if (Array.isArray(v)) return v.length === 0;
  if (typeof v === 'object') return Object.keys(v).length === 0;
  return false;
}

/** Objects with sorted keys, so JSON renderings compare equal regardless of key order. */
function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === 'object') {
    return Object.fromEntries(
      Object.entries(v)
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([k, x]) => [k, sortKeys(x)]),
    );
  }
  return v;
}

/**
 * compareImages: the correctness oracle's verdict on two images. Each side is copied by
 * skopeo into an OCI layout and unpacked by `umoci raw unpack` (as root, owners kept),
 * both sides in parallel; then the normalized configs ({@link normalizeConfig}) and the
 * flattened rootfs listings ({@link listRootfs}: path, type, octal mode, uid:gid, size,
 * sha256, symlink target) are compared. Layer boundaries are not compared: BuildKit
 * commits a layer for WORKDIR and buildah does not. References: `docker://…`, a bare
 * `HOST/repo:tag`, `oci:DIR:TAG`, `oci-archive:F`, `docker-archive:F`.
 * Costs ~1 s for busybox-sized images, ~10 s for Debian-sized ones.
 * @public
 */
export async function compareImages(
  refA: string,
  refB: string,
  opts: CompareOptions = {},
): Promise<CompareResult> {
  const [a, b] = await Promise.all([
    umociUnpack(refA, { access: opts.accessA, raw: true }),
    umociUnpack(refB, { access: opts.accessB, raw: true }),
  ]);
  try {
    const [listA, listB] = await Promise.all([
      listRootfs(a.rootfs, { mtime: opts.mtime }),
      listRootfs(b.rootfs, { mtime: opts.mtime }),
    ]);
    const keep = (e: RootfsEntry) => !opts.ignorePaths?.test(e.path);
    const treeDiff = diffListings(listA.filter(keep), listB.filter(keep));
    const configA = normalizeConfig(a.config, opts);
    const configB = normalizeConfig(b.config, opts);
    const configDiff = diffConfigs(configA, configB);
    const layerDiff = opts.layers
      ? diffLayers(
          ...(await Promise.all([listLayers(a.layout, a.manifest), listLayers(b.layout, b.manifest)])),
        )
      : [];
    const flat = opts.xattrs
      ? await Promise.all([imageXattrs(a.layout, a.manifest), imageXattrs(b.layout, b.manifest)])
      : undefined;
    const xattrLines = (m: Map<string, Record<string, string>>) =>
      new Map(
        [...formatXattrs(m)]
          .filter(([p]) => !opts.ignorePaths?.test(p))
          .map(([p, line]) => [p, `${p}\t${line}`]),
      );
    const xattrDiff = flat ? diffKeyed(xattrLines(flat[0]), xattrLines(flat[1])) : [];
    return {
      same:
        configDiff.length === 0 && treeDiff.length === 0 && layerDiff.length === 0 && xattrDiff.length === 0,
      configDiff,
      treeDiff,
      layerDiff,
      xattrDiff,
      ...(flat ? { xattrs: { a: Object.fromEntries(flat[0]), b: Object.fromEntries(flat[1]) } } : {}),
      configA,
      configB,
      entries: { a: listA.filter(keep).length, b: listB.filter(keep).length },
      kept: opts.keep ? { a: a.dir, b: b.dir } : undefined,
    };
  } finally {
    if (!opts.keep) await Promise.all([a.cleanup(), b.cleanup()]);
  }
}

/** diffConfigs: one line per top-level or `config.` field whose JSON differs. @public */
export function diffConfigs(a: NormalizedConfig, b: NormalizedConfig): string[] {
  const lines: string[] = [];
  const cmp = (name: string, x: unknown, y: unknown) => {
    const jx = JSON.stringify(x);
    const jy = JSON.stringify(y);
    if (jx !== jy) lines.push(`${name}: A=${jx ?? '(unset)'} B=${jy ?? '(unset)'}`);
  };
  cmp('architecture', a.architecture, b.architecture);
  cmp('os', a.os, b.os);
  cmp('variant', a.variant, b.variant);
  for (const k of new Set([...Object.keys(a.config), ...Object.keys(b.config)]).values()) {
    cmp(`config.${k}`, a.config[k], b.config[k]);
  }
  if (a.history || b.history) cmp('history', a.history, b.history);
  return lines;
}

/**
 * diffListings: `- line` for entries only in A or different in A, `+ line` for B's side,
 * in path order; at most 500 lines (then a count of the rest).
 * @public
 */
export function diffListings(a: RootfsEntry[], b: RootfsEntry[]): string[] {
  return diffKeyed(
    new Map(a.map((e) => [e.path, formatEntry(e)])),
    new Map(b.map((e) => [e.path, formatEntry(e)])),
  );
}

/** diffLayers: layer count, then per-layer `layer N: - …` / `layer N: + …` lines (1-based). @public */
export function diffLayers(a: LayerTarEntry[][], b: LayerTarEntry[][]): string[] {
  const out: string[] = [];
  if (a.length !== b.length) out.push(`layer count: A=${a.length} B=${b.length}`);
  const keyed = (l: LayerTarEntry[]) => new Map(l.map((e) => [e.name, formatLayerEntry(e)]));
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    for (const line of diffKeyed(keyed(a[i]!), keyed(b[i]!))) out.push(`layer ${i + 1}: ${line}`);
  }
  return out;
}

/** Lines of two keyed listings that differ, in bytewise key order, capped at 500. */
function diffKeyed(mapA: Map<string, string>, mapB: Map<string, string>): string[] {
  const keys = [...new Set([...mapA.keys(), ...mapB.keys()])].sort((x, y) =>
    Buffer.compare(Buffer.from(x), Buffer.from(y)),
  );
  const out: string[] = [];
  for (const k of keys) {
    const x = mapA.get(k);
    const y = mapB.get(k);
    if (x === y) continue;
    if (x !== undefined) out.push(`- ${x}`);
    if (y !== undefined) out.push(`+ ${y}`);
  }
  const limit = 500;
  return out.length > limit ? [...out.slice(0, limit), `… ${out.length - limit} more lines`] : out;
}
