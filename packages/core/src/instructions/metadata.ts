import { KilnError } from '../errors.js';
import type { ContainerConfig } from '../image/config.js';

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

/** Command arrays for CMD/ENTRYPOINT/HEALTHCHECK: exec form as written, shell form through SHELL. */
export function commandLine(config: ContainerConfig, args: string[], json: boolean): string[] {
  if (json) return args;
  const shell = config.Shell?.length ? config.Shell : ['/bin/sh', '-c'];
  return [...shell, args.join(' ')];
}
