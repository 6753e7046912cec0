import { DockerfileError, type DockerfileErrorLocation } from '../errors.js';
import { parseGoBool } from '../go-bool.js';
import { didYouMean } from '../suggest.js';
import type { MountSpec } from './types.js';

const TYPES = new Set<MountSpec['type']>(['bind', 'cache', 'tmpfs', 'secret', 'ssh']);
const KEYS = [
  'type',
  'from',
  'source',
  'src',
  'target',
  'dst',
  'destination',
  'readonly',
  'ro',
  'readwrite',
  'rw',
  'id',
  'sharing',
  'required',
  'mode',
  'uid',
  'gid',
  'size',
  'env',
];

/** Splits a CSV record (`a=b,"c=d,e"`) the way Go's encoding/csv reads one line. */
function splitCsv(raw: string): string[] {
  const out: string[] = [];
  let field = '';
  let i = 0;
  let quoted = false;
  while (i < raw.length) {
    const ch = raw[i]!;
    if (quoted) {
      if (ch === '"') {
        if (raw[i + 1] === '"') {
          field += '"';
          i += 2;
          continue;
        }
        quoted = false;
      } else field += ch;
    } else if (ch === '"' && field === '') quoted = true;
    else if (ch === ',') {
      out.push(field);
      field = '';
    } else field += ch;
    i++;
  }
  out.push(field);
  return out;
}

function bool(key: string, value: string | undefined, raw: string, where: DockerfileErrorLocation): boolean {
  if (value === undefined) return true;
  const b = parseGoBool(value);
  if (b !== undefined) return b;
  throw new DockerfileError(
    'INVALID_MOUNT',
    `invalid value for ${key}: ${JSON.stringify(value)} in --mount=${raw}`,
    where,
  );
}

/** Parses one `--mount` value (every type and option of BuildKit's RUN --mount). */
export function parseMount(raw: string, where: DockerfileErrorLocation): MountSpec {
  const fields = splitCsv(raw);
  let type: MountSpec['type'] = 'bind';
  for (const f of fields) {
    const [k, v] = f.split('=', 2);
    if (k?.trim().toLowerCase() === 'type') {
      const t = (v ?? '').trim().toLowerCase() as MountSpec['type'];
      if (!TYPES.has(t)) {
        throw new DockerfileError(
          'INVALID_MOUNT',
          `unsupported mount type ${JSON.stringify(v ?? '')} in --mount=${raw}`,
          where,
        );
      }
      type = t;
    }
  }
  // Read-only unless said otherwise, except cache and tmpfs mounts.
  const m: MountSpec = { type, readOnly: type !== 'cache' && type !== 'tmpfs', raw };
  const invalid = (message: string): never => {
    throw new DockerfileError('INVALID_MOUNT', `${message}: --mount=${raw}`, where);
  };
  for (const f of fields) {
    const trimmed = f.trim();
    if (trimmed === '') continue;
    const eq = trimmed.indexOf('=');
    const key = (eq < 0 ? trimmed : trimmed.slice(0, eq)).toLowerCase();
    const value = eq < 0 ? undefined : trimmed.slice(eq + 1);
    const need = (): string => {
      if (value === undefined) invalid(`invalid field '${trimmed}' must be a key=value pair`);
      return value as string;
    };
    switch (key) {
      case 'type':
        break;
      case 'from':
        m.from = need();
        break;
      case 'source':
      case 'src':
        m.source = need();
        break;
      case 'target':
      case 'dst':
      case 'destination':
        m.target = need();
        break;
      case 'readonly':
      case 'ro':
        m.readOnly = bool(key, value, raw, where);
        break;
      case 'readwrite':
      case 'rw':
        m.readOnly = !bool(key, value, raw, where);
        break;
      case 'id':
        m.id = need();
        break;
      case 'sharing': {
        const s = need().toLowerCase();
        if (s !== 'shared' && s !== 'private' && s !== 'locked') {
          throw new DockerfileError(
            'INVALID_MOUNT',
            `unsupported sharing value ${JSON.stringify(s)} in --mount=${raw}`,
            where,
          );
        }
        m.sharing = s;
        break;
      }
      case 'required':
        if (type !== 'secret' && type !== 'ssh')
          invalid(`unexpected key 'required' for mount type '${type}'`);
        m.required = bool(key, value, raw, where);
        break;
      case 'mode':
        m.mode = need();
        if (!m.mode.includes('$') && !/^[0-7]+$/.test(m.mode)) {
          throw new DockerfileError(
            'INVALID_MOUNT',
            `mode must be octal, got ${JSON.stringify(m.mode)} in --mount=${raw}`,
            where,
          );
        }
        break;
      case 'uid':
      case 'gid': {
        const v = need();
        if (!v.includes('$') && !/^\d+$/.test(v)) {
          throw new DockerfileError(
            'INVALID_MOUNT',
            `${key} must be a number, got ${JSON.stringify(v)} in --mount=${raw}`,
            where,
          );
        }
        m[key] = v;
        break;
      }
      case 'size':
        m.size = need();
        break;
      case 'env':
        m.env = need();
        break;
      default:
        throw new DockerfileError(
          'INVALID_MOUNT',
          `unexpected key '${key}' in '${trimmed}'${didYouMean(key, KEYS)} (--mount=${raw})`,
          where,
        );
    }
  }
  const fileInfoAllowed = type === 'secret' || type === 'ssh' || type === 'cache';
  for (const k of ['mode', 'uid', 'gid'] as const) {
    if (m[k] !== undefined && !fileInfoAllowed) invalid(`${k} not allowed for "${type}" type mounts`);
  }
  if (m.sharing !== undefined && type !== 'cache') invalid(`invalid cache sharing set for ${type} mount`);
  if (m.size !== undefined && type !== 'tmpfs') invalid(`size not allowed for "${type}" type mounts`);
  if (m.env !== undefined && type !== 'secret') invalid(`env not allowed for "${type}" type mounts`);
  if (type === 'secret') {
    if (m.from !== undefined) invalid('secret mount should not have a from');
    if (m.source === undefined && m.target === undefined && m.id === undefined && m.env === undefined) {
      invalid('invalid secret mount, one of source, target, id or env is required');
    }
    if (m.source !== undefined && m.id !== undefined) invalid("both source and id can't be set");
  }
  if (m.target === undefined && (type === 'bind' || type === 'cache' || type === 'tmpfs')) {
    throw new DockerfileError('INVALID_MOUNT', `mount type ${type} requires a target: --mount=${raw}`, where);
  }
  if (m.target === '/') {
    throw new DockerfileError('INVALID_MOUNT', `invalid mount target "/": --mount=${raw}`, where);
  }
  if (m.from?.includes('$')) {
    throw new DockerfileError(
      'INVALID_MOUNT',
      `'from' does not support variable expansion, define a stage instead: --mount=${raw}`,
      where,
    );
  }
  return m;
}
