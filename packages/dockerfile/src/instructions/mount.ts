import { DockerfileError, type DockerfileErrorLocation } from '../errors.js';
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
  const v = value.toLowerCase();
  if (v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
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
  const m: MountSpec = { type, readOnly: type === 'bind', raw };
  for (const f of fields) {
    const trimmed = f.trim();
    if (trimmed === '') continue;
    const eq = trimmed.indexOf('=');
    const key = (eq < 0 ? trimmed : trimmed.slice(0, eq)).toLowerCase();
    const value = eq < 0 ? undefined : trimmed.slice(eq + 1);
    const need = (): string => {
      if (value === undefined) {
        throw new DockerfileError('INVALID_MOUNT', `${key} needs a value in --mount=${raw}`, where);
      }
      return value;
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
