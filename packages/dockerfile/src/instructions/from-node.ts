import type { Node } from '../ast.js';
import { DockerfileError, type DockerfileErrorLocation, excerpt } from '../errors.js';
import { trimSpace } from '../parser/arguments.js';
import { chompHeredocContent, parseHeredocWord } from '../parser/heredoc.js';
import { didYouMean } from '../suggest.js';
import { parseGoDuration } from './duration.js';
import { type FlagKind, type ParsedFlags, parseFlags } from './flags.js';
import { parseMount } from './mount.js';
import type {
  AddInstruction,
  ArgDeclaration,
  CopyInstruction,
  HealthcheckInstruction,
  HeredocSource,
  Instruction,
  KeyValue,
} from './types.js';

/** Every instruction keyword BuildKit knows, for "did you mean". */
export const KEYWORDS = [
  'add',
  'arg',
  'cmd',
  'copy',
  'entrypoint',
  'env',
  'expose',
  'from',
  'healthcheck',
  'label',
  'maintainer',
  'onbuild',
  'run',
  'shell',
  'stopsignal',
  'user',
  'volume',
  'workdir',
];

const KEYWORD_SET = new Set(KEYWORDS);

const FLAGS: Record<string, Record<string, FlagKind>> = {
  from: { platform: 'string' },
  run: { mount: 'strings', network: 'string', security: 'string', device: 'strings' },
  copy: {
    from: 'string',
    chown: 'string',
    chmod: 'string',
    link: 'bool',
    parents: 'bool',
    exclude: 'strings',
  },
  add: {
    chown: 'string',
    chmod: 'string',
    link: 'bool',
    'keep-git-dir': 'bool',
    checksum: 'string',
    exclude: 'strings',
    unpack: 'bool',
  },
  healthcheck: {
    interval: 'string',
    timeout: 'string',
    'start-period': 'string',
    'start-interval': 'string',
    retries: 'string',
  },
};

const NETWORK_MODES = new Set(['default', 'none', 'host']);
const SECURITY_MODES = new Set(['sandbox', 'insecure']);
const VALID_STAGE_NAME = /^[a-z][a-z0-9-_.]*$/;
const ONBUILD_PREFIX = /^\s*onbuild\s*/i;

function fail(code: 'INVALID_ARGUMENTS', message: string, where: DockerfileErrorLocation): never {
  throw new DockerfileError(code, message, where);
}

function pairs(args: string[]): KeyValue[] {
  const out: KeyValue[] = [];
  for (let i = 0; i + 1 < args.length; i += 3) out.push({ key: args[i]!, value: args[i + 1]! });
  return out;
}

function duration(flags: ParsedFlags, name: string, where: DockerfileErrorLocation): number | undefined {
  const text = flags.string.get(name);
  if (text === undefined || text === '') return undefined;
  const ns = parseGoDuration(text);
  if (ns === undefined) {
    throw new DockerfileError(
      'INVALID_HEALTHCHECK',
      `HEALTHCHECK: invalid duration --${name}=${text}`,
      where,
    );
  }
  if (ns < 0)
    throw new DockerfileError('INVALID_HEALTHCHECK', `HEALTHCHECK: --${name} cannot be negative`, where);
  if (ns !== 0 && ns < 1e6) {
    throw new DockerfileError('INVALID_HEALTHCHECK', `HEALTHCHECK: --${name} cannot be less than 1ms`, where);
  }
  return ns;
}

/** A heredoc header, or undefined when the word is none or does not lex (BuildKit ignores the error). */
function heredocWord(word: string) {
  try {
    return parseHeredocWord(word);
  } catch {
    return undefined;
  }
}

function copySources(node: Node, where: DockerfileErrorLocation) {
  const name = node.keyword.toUpperCase();
  if (node.args.length < 2) {
    fail(
      'INVALID_ARGUMENTS',
      node.args.length === 0
        ? `${name} requires at least two arguments: ${excerpt(node.original)}`
        : `${name} requires at least two arguments, but only one was provided. Destination could not be determined: ${excerpt(node.original)}`,
      where,
    );
  }
  const dest = node.args[node.args.length - 1]!;
  if (heredocWord(dest)) fail('INVALID_ARGUMENTS', `${name} cannot accept a heredoc as a destination`, where);
  const bodies = new Map(node.heredocs.map((h) => [h.name, h]));
  const sources: string[] = [];
  const heredocSources: HeredocSource[] = [];
  for (const src of node.args.slice(0, -1)) {
    const h = heredocWord(src);
    if (h) {
      const content = bodies.get(h.name)?.content ?? '';
      heredocSources.push({
        path: h.name,
        data: h.chomp ? chompHeredocContent(content) : content,
        expand: h.expand,
      });
    } else sources.push(src);
  }
  return { sources, heredocSources, dest };
}

function exactlyOne(node: Node, where: DockerfileErrorLocation): string {
  if (node.args.length !== 1) {
    fail(
      'INVALID_ARGUMENTS',
      `${node.keyword.toUpperCase()} requires exactly one argument: ${excerpt(node.original)}`,
      where,
    );
  }
  return node.args[0]!;
}

function atLeastOne(node: Node, where: DockerfileErrorLocation): void {
  if (node.args.length === 0) {
    fail(
      'INVALID_ARGUMENTS',
      `${node.keyword.toUpperCase()} requires at least one argument: ${excerpt(node.original)}`,
      where,
    );
  }
}

/**
 * Types one parsed node: checks its argument count and flags and returns the instruction with
 * its words still unexpanded. Unknown keywords are a DockerfileError with a suggestion.
 */
export function toInstruction(node: Node): Instruction {
  const where = {
    line: node.range.start.line,
    column: node.range.start.column,
    endLine: node.range.end.line,
  };
  // Object literals are spelled out: spreading a shared base object is ~100x slower in V8 here.
  const allowed = FLAGS[node.value] ?? {};
  if (!KEYWORD_SET.has(node.value)) {
    throw new DockerfileError(
      'UNKNOWN_INSTRUCTION',
      `unknown instruction: ${node.keyword}${didYouMean(
        node.value,
        KEYWORDS.map((k) => k.toUpperCase()),
      )}`,
      { ...where },
    );
  }
  const flags = parseFlags(node.flags, allowed, node.keyword.toUpperCase(), where);
  switch (node.value) {
    case 'from': {
      const args = node.args;
      let stageName: string | undefined;
      if (args.length === 3 && args[1]!.toLowerCase() === 'as') {
        stageName = args[2]!.toLowerCase();
        if (!VALID_STAGE_NAME.test(stageName)) {
          throw new DockerfileError(
            'INVALID_STAGE_NAME',
            `invalid name for build stage: ${JSON.stringify(args[2])}, name can't start with a number or contain symbols`,
            where,
          );
        }
      } else if (args.length !== 1) {
        fail(
          'INVALID_ARGUMENTS',
          `FROM requires either one or three arguments: ${excerpt(node.original)}`,
          where,
        );
      }
      const platform = flags.string.get('platform');
      return {
        range: node.range,
        original: node.original,
        keyword: node.keyword,
        flags: node.flags,
        kind: 'from',
        image: args[0]!,
        stageName,
        platform,
      };
    }
    case 'run': {
      const mounts = (flags.strings.get('mount') ?? []).map((m) => parseMount(m, where));
      const network = flags.string.get('network');
      if (network !== undefined && !NETWORK_MODES.has(network)) {
        throw new DockerfileError(
          'INVALID_FLAG',
          `RUN: unsupported network mode ${JSON.stringify(network)}`,
          where,
        );
      }
      const security = flags.string.get('security');
      if (security !== undefined && !SECURITY_MODES.has(security)) {
        throw new DockerfileError(
          'INVALID_FLAG',
          `RUN: unsupported security mode ${JSON.stringify(security)}`,
          where,
        );
      }
      return {
        range: node.range,
        original: node.original,
        keyword: node.keyword,
        flags: node.flags,
        kind: 'run',
        args: node.args,
        json: node.json,
        mounts,
        network,
        security,
        devices: flags.strings.get('device') ?? [],
        heredocs: node.heredocs,
      };
    }
    case 'cmd':
    case 'entrypoint':
      return {
        range: node.range,
        original: node.original,
        keyword: node.keyword,
        flags: node.flags,
        kind: node.value,
        args: node.args,
        json: node.json,
      };
    case 'shell':
      atLeastOne(node, where);
      if (!node.json)
        fail(
          'INVALID_ARGUMENTS',
          `SHELL requires the arguments to be in JSON form: ${excerpt(node.original)}`,
          where,
        );
      return {
        range: node.range,
        original: node.original,
        keyword: node.keyword,
        flags: node.flags,
        kind: 'shell',
        args: node.args,
      };
    case 'env':
    case 'label':
      atLeastOne(node, where);
      for (let k = 0; k < node.args.length; k += 3) {
        if (node.args[k] === '')
          fail('INVALID_ARGUMENTS', `${node.keyword.toUpperCase()} names can not be blank`, where);
      }
      return {
        range: node.range,
        original: node.original,
        keyword: node.keyword,
        flags: node.flags,
        kind: node.value,
        pairs: pairs(node.args),
        legacy: node.args[2] === '',
      };
    case 'maintainer':
      return {
        range: node.range,
        original: node.original,
        keyword: node.keyword,
        flags: node.flags,
        kind: 'maintainer',
        name: exactlyOne(node, where),
      };
    case 'expose':
      atLeastOne(node, where);
      return {
        range: node.range,
        original: node.original,
        keyword: node.keyword,
        flags: node.flags,
        kind: 'expose',
        // Sorted as strings, like BuildKit (the order shows in history).
        ports: [...node.args].sort(),
      };
    case 'copy': {
      const src = copySources(node, where);
      const c: CopyInstruction = {
        range: node.range,
        original: node.original,
        keyword: node.keyword,
        flags: node.flags,
        kind: 'copy',
        sources: src.sources,
        heredocSources: src.heredocSources,
        dest: src.dest,
        json: node.json,
        link: flags.bool.get('link') ?? false,
        parents: flags.bool.get('parents') ?? false,
        exclude: flags.strings.get('exclude') ?? [],
      };
      const from = flags.string.get('from');
      if (from !== undefined) c.from = from;
      const chown = flags.string.get('chown');
      if (chown !== undefined) c.chown = chown;
      const chmod = flags.string.get('chmod');
      if (chmod !== undefined) c.chmod = chmod;
      return c;
    }
    case 'add': {
      const src = copySources(node, where);
      const a: AddInstruction = {
        range: node.range,
        original: node.original,
        keyword: node.keyword,
        flags: node.flags,
        kind: 'add',
        sources: src.sources,
        heredocSources: src.heredocSources,
        dest: src.dest,
        json: node.json,
        link: flags.bool.get('link') ?? false,
        keepGitDir: flags.bool.get('keep-git-dir') ?? false,
        exclude: flags.strings.get('exclude') ?? [],
      };
      const chown = flags.string.get('chown');
      if (chown !== undefined) a.chown = chown;
      const chmod = flags.string.get('chmod');
      if (chmod !== undefined) a.chmod = chmod;
      const checksum = flags.string.get('checksum');
      if (checksum !== undefined) {
        if (a.sources.length + a.heredocSources.length !== 1) {
          throw new DockerfileError(
            'INVALID_FLAG',
            "ADD: checksum can't be specified for multiple sources",
            where,
          );
        }
        a.checksum = checksum;
      }
      const unpack = flags.bool.get('unpack');
      if (unpack !== undefined) a.unpack = unpack;
      return a;
    }
    case 'volume': {
      atLeastOne(node, where);
      // BuildKit trims each entry and refuses empty ones.
      const paths = node.args.map((p) => trimSpace(p));
      if (paths.includes('')) fail('INVALID_ARGUMENTS', 'VOLUME specified can not be an empty string', where);
      return {
        range: node.range,
        original: node.original,
        keyword: node.keyword,
        flags: node.flags,
        kind: 'volume',
        paths,
      };
    }
    case 'user':
      return {
        range: node.range,
        original: node.original,
        keyword: node.keyword,
        flags: node.flags,
        kind: 'user',
        user: exactlyOne(node, where),
      };
    case 'workdir':
      return {
        range: node.range,
        original: node.original,
        keyword: node.keyword,
        flags: node.flags,
        kind: 'workdir',
        path: exactlyOne(node, where),
      };
    case 'stopsignal':
      return {
        range: node.range,
        original: node.original,
        keyword: node.keyword,
        flags: node.flags,
        kind: 'stopsignal',
        signal: exactlyOne(node, where),
      };
    case 'arg': {
      atLeastOne(node, where);
      const args: ArgDeclaration[] = node.args.map((word) => {
        const eq = word.indexOf('=');
        if (eq < 0) return { key: word };
        if (eq === 0)
          fail('INVALID_ARGUMENTS', `ARG names can not be blank: ${excerpt(node.original)}`, where);
        return { key: word.slice(0, eq), value: word.slice(eq + 1) };
      });
      return {
        range: node.range,
        original: node.original,
        keyword: node.keyword,
        flags: node.flags,
        kind: 'arg',
        args,
      };
    }
    case 'onbuild': {
      const sub = node.subcommand;
      if (!sub)
        fail('INVALID_ARGUMENTS', `ONBUILD requires at least one argument: ${excerpt(node.original)}`, where);
      if (sub.value === 'onbuild') {
        throw new DockerfileError(
          'INVALID_ONBUILD',
          "chaining ONBUILD via 'ONBUILD ONBUILD' isn't allowed",
          where,
        );
      }
      if (sub.value === 'from' || sub.value === 'maintainer') {
        throw new DockerfileError(
          'INVALID_ONBUILD',
          `${sub.keyword.toUpperCase()} isn't allowed as an ONBUILD trigger`,
          where,
        );
      }
      return {
        range: node.range,
        original: node.original,
        keyword: node.keyword,
        flags: node.flags,
        kind: 'onbuild',
        // Heredoc bodies follow the line, each ended by its delimiter, as BuildKit stores triggers.
        expression: node.heredocs.reduce(
          (text, h) => `${text}\n${h.content}${h.name}`,
          node.original.replace(ONBUILD_PREFIX, ''),
        ),
        trigger: toInstruction(sub),
      };
    }
    case 'healthcheck':
      return healthcheck(node, flags, where);
    default:
      throw new DockerfileError('UNKNOWN_INSTRUCTION', `unknown instruction: ${node.keyword}`, where);
  }
}

function healthcheck(node: Node, flags: ParsedFlags, where: DockerfileErrorLocation): HealthcheckInstruction {
  atLeastOne(node, where);
  const type = node.args[0]!.toUpperCase();
  const rest = node.args.slice(1);
  if (type === 'NONE') {
    if (rest.length > 0)
      throw new DockerfileError('INVALID_HEALTHCHECK', 'HEALTHCHECK NONE takes no arguments', where);
    return {
      range: node.range,
      original: node.original,
      keyword: node.keyword,
      flags: node.flags,
      kind: 'healthcheck',
      test: ['NONE'],
    };
  }
  if (type !== 'CMD') {
    throw new DockerfileError(
      'INVALID_HEALTHCHECK',
      `unknown type ${JSON.stringify(type)} in HEALTHCHECK (try CMD)`,
      where,
    );
  }
  const cmd = node.json ? rest : rest.length > 0 ? [rest.join(' ')] : [];
  if (cmd.length === 0)
    throw new DockerfileError('INVALID_HEALTHCHECK', 'missing command after HEALTHCHECK CMD', where);
  const h: HealthcheckInstruction = {
    range: node.range,
    original: node.original,
    keyword: node.keyword,
    flags: node.flags,
    kind: 'healthcheck',
    test: [node.json ? 'CMD' : 'CMD-SHELL', ...cmd],
  };
  const interval = duration(flags, 'interval', where);
  if (interval !== undefined) h.interval = interval;
  const timeout = duration(flags, 'timeout', where);
  if (timeout !== undefined) h.timeout = timeout;
  const startPeriod = duration(flags, 'start-period', where);
  if (startPeriod !== undefined) h.startPeriod = startPeriod;
  const startInterval = duration(flags, 'start-interval', where);
  if (startInterval !== undefined) h.startInterval = startInterval;
  const retries = flags.string.get('retries');
  if (retries !== undefined && retries !== '') {
    if (!/^[+-]?\d+$/.test(retries)) {
      throw new DockerfileError('INVALID_HEALTHCHECK', `HEALTHCHECK: invalid --retries=${retries}`, where);
    }
    const n = Number.parseInt(retries, 10);
    if (n < 0)
      throw new DockerfileError('INVALID_HEALTHCHECK', 'HEALTHCHECK: --retries cannot be negative', where);
    h.retries = n;
  }
  return h;
}
