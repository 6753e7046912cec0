import { KilnError } from '../errors.js';
import type { ContainerConfig, HealthConfig } from '../image/config.js';

/**
 * `EXPOSE` values as the config stores them: `80` → `80/tcp`, ranges `8000-8002/udp` expanded one port each,
 * the protocol lower-cased, as Docker does.
 */
export function exposedPorts(values: string[], text: string): string[] {
  const out: string[] = [];
  for (const v of values) {
    const m = /^(\d+)(?:-(\d+))?(?:\/(\w+))?$/.exec(v);
    if (!m) throw new KilnError('KILN_BAD_PORT', `${text}: invalid port "${v}"`);
    const proto = (m[3] ?? 'tcp').toLowerCase();
    if (!['tcp', 'udp', 'sctp'].includes(proto))
      throw new KilnError('KILN_BAD_PORT', `${text}: invalid protocol "${proto}"`);
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (hi < lo || hi > 65535) throw new KilnError('KILN_BAD_PORT', `${text}: invalid port range "${v}"`);
    for (let p = lo; p <= hi; p++) out.push(`${p}/${proto}`);
  }
  return out;
}

const UNITS: Record<string, number> = { ns: 1, us: 1e3, µs: 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };

/** Parses a Go duration (`1m30s`, `500ms`) to nanoseconds, as HEALTHCHECK flags are written. */
export function parseDuration(s: string, flag: string): number {
  if (s === '0') return 0;
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/gy;
  let total = 0;
  let m: RegExpExecArray | null;
  let consumed = 0;
  while ((m = re.exec(s))) {
    total += Number(m[1]) * UNITS[m[2]!]!;
    consumed = re.lastIndex;
  }
  if (consumed !== s.length || s.length === 0)
    throw new KilnError(
      'KILN_BAD_DURATION',
      `invalid duration "${s}" for --${flag} (expected e.g. 30s, 1m30s)`,
    );
  return Math.round(total);
}

/** Builds the Healthcheck config from HEALTHCHECK's flags and command. */
export function healthcheck(
  flags: Record<string, string | undefined>,
  test: string[] | 'NONE',
): HealthConfig {
  if (test === 'NONE') return { Test: ['NONE'] };
  const h: HealthConfig = { Test: test };
  const dur = (k: string, field: 'Interval' | 'Timeout' | 'StartPeriod' | 'StartInterval') => {
    const v = flags[k];
    if (v !== undefined) {
      const ns = parseDuration(v, k);
      if (ns !== 0 && ns < 1e6) throw new KilnError('KILN_BAD_DURATION', `--${k} cannot be less than 1ms`);
      if (ns) h[field] = ns;
    }
  };
  dur('interval', 'Interval');
  dur('timeout', 'Timeout');
  dur('start-period', 'StartPeriod');
  dur('start-interval', 'StartInterval');
  const r = flags.retries;
  if (r !== undefined) {
    if (!/^\d+$/.test(r)) throw new KilnError('KILN_BAD_RETRIES', `--retries "${r}" must be a whole number`);
    if (Number(r) > 0) h.Retries = Number(r);
  }
  return h;
}

/** Command arrays for CMD/ENTRYPOINT/HEALTHCHECK: exec form as written, shell form through SHELL. */
export function commandLine(config: ContainerConfig, args: string[], json: boolean): string[] {
  if (json) return args;
  const shell = config.Shell?.length ? config.Shell : ['/bin/sh', '-c'];
  return [...shell, args.join(' ')];
}
