import { withLocation } from '../errors.js';
import { type Env, type ExpansionResult, expandWordWithMatches } from '../shell/lexer.js';
import type { HeredocSource, Instruction, KeyValue, MountSpec } from './types.js';

/** Options of {@link expandInstruction}. */
export interface ExpandOptions {
  /** The Dockerfile's escape token (`DockerfileAst.escapeToken`). Default `\`. */
  escape?: '\\' | '`';
}

/** The instruction with its words expanded, and the variables its expansion referenced. */
export interface ExpandedInstruction<T extends Instruction = Instruction> {
  instruction: T;
  /** Variables referenced and set. */
  usedVars: string[];
  /** Variables referenced but not set (feeds the UndefinedVar check). */
  undefinedVars: string[];
}

class Expander {
  readonly used = new Set<string>();
  readonly undefinedVars = new Set<string>();
  constructor(
    private readonly env: Env,
    private readonly escapeToken: '\\' | '`',
  ) {}

  private note(r: ExpansionResult): ExpansionResult {
    for (const v of r.matched) this.used.add(v);
    for (const v of r.unmatched) this.undefinedVars.add(v);
    return r;
  }

  word(w: string): string {
    return this.note(expandWordWithMatches(w, this.env, { escape: this.escapeToken })).result;
  }

  opt(w: string | undefined): string | undefined {
    return w === undefined ? undefined : this.word(w);
  }

  splitWords(w: string): string[] {
    return this.note(expandWordWithMatches(w, this.env, { escape: this.escapeToken }))
      .result.split(/\s+/)
      .filter(Boolean);
  }

  pairs(p: KeyValue[]): KeyValue[] {
    return p.map(({ key, value }) => ({ key: this.word(key), value: this.word(value) }));
  }

  /** Heredoc bodies with an unquoted delimiter: `\` escapes, quotes are ordinary characters. */
  heredoc(h: HeredocSource): HeredocSource {
    if (!h.expand) return h;
    const r = this.note(
      expandWordWithMatches(h.data, this.env, { escape: this.escapeToken, skipProcessQuotes: true }),
    );
    return { ...h, data: r.result };
  }

  mount(m: MountSpec): MountSpec {
    const out: MountSpec = { ...m };
    for (const k of ['target', 'source', 'id', 'mode', 'uid', 'gid', 'size', 'env'] as const) {
      const v = m[k];
      if (v !== undefined) out[k] = this.word(v);
    }
    return out;
  }
}

/**
 * expandInstruction returns a copy of `instruction` with its words expanded against `env`
 * following Docker's rules: ENV and LABEL keys and values, ARG defaults, COPY/ADD sources,
 * destination, heredoc bodies (unquoted delimiters) and `--chown`/`--chmod`/`--checksum`,
 * WORKDIR, USER, EXPOSE (re-split on whitespace), VOLUME, STOPSIGNAL, FROM's image and
 * `--platform`, and RUN `--mount` values except `from`. RUN, CMD, ENTRYPOINT, SHELL,
 * HEALTHCHECK, MAINTAINER and ONBUILD are returned unchanged. `COPY --from`, `--exclude`,
 * `--network` and `--security` are never expanded. Throws DockerfileError on bad syntax.
 */
export function expandInstruction<T extends Instruction>(
  instruction: T,
  env: Env,
  opts: ExpandOptions = {},
): ExpandedInstruction<T> {
  return withLocation(() => expandUnlocated(instruction, env, opts), instruction.range);
}

function expandUnlocated<T extends Instruction>(
  instruction: T,
  env: Env,
  opts: ExpandOptions,
): ExpandedInstruction<T> {
  const x = new Expander(env, opts.escape ?? '\\');
  const i = instruction as Instruction;
  let out: Instruction;
  switch (i.kind) {
    case 'env':
    case 'label':
      out = { ...i, pairs: x.pairs(i.pairs) };
      break;
    case 'arg':
      out = {
        ...i,
        args: i.args.map((a) => (a.value === undefined ? a : { key: a.key, value: x.word(a.value) })),
      };
      break;
    case 'copy':
    case 'add': {
      const c = {
        ...i,
        sources: i.sources.map((s) => x.word(s)),
        dest: x.word(i.dest),
        heredocSources: i.heredocSources.map((h) => x.heredoc(h)),
        chown: x.opt(i.chown),
        chmod: x.opt(i.chmod),
      };
      if (c.chown === undefined) delete c.chown;
      if (c.chmod === undefined) delete c.chmod;
      if (c.kind === 'add' && c.checksum !== undefined) c.checksum = x.word(c.checksum);
      out = c;
      break;
    }
    case 'workdir':
      out = { ...i, path: x.word(i.path) };
      break;
    case 'user':
      out = { ...i, user: x.word(i.user) };
      break;
    case 'stopsignal':
      out = { ...i, signal: x.word(i.signal) };
      break;
    case 'volume':
      out = { ...i, paths: i.paths.map((p) => x.word(p)) };
      break;
    case 'expose':
      out = { ...i, ports: i.ports.flatMap((p) => x.splitWords(p)) };
      break;
    case 'from': {
      const f = { ...i, image: x.word(i.image) };
      if (i.platform !== undefined) f.platform = x.word(i.platform);
      out = f;
      break;
    }
    case 'run':
      out = i.mounts.length === 0 ? i : { ...i, mounts: i.mounts.map((m) => x.mount(m)) };
      break;
    default:
      out = i;
  }
  return { instruction: out as T, usedVars: [...x.used], undefinedVars: [...x.undefinedVars] };
}
