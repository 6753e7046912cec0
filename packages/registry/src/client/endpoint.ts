import { DEFAULT_REGISTRY, DOCKER_HUB_API_HOST } from '../reference/reference.js';

/** Endpoint: where one registry's API is reached. */
export interface Endpoint {
  /** The registry name credentials and TLS settings are looked up under (`docker.io`, `host:5000`). */
  registry: string;
  /** Host[:port] actually contacted (`registry-1.docker.io` for `docker.io`). */
  host: string;
  /** `http` for registries marked insecure, else `https`. */
  scheme: 'http' | 'https';
  /** Path prefix before `/v2/` (mirrors may live under a path); '' normally. */
  prefix: string;
  /** True when this endpoint is a mirror or a registry-map target rather than the reference's own registry. */
  mirror: boolean;
}

/** endpointUrl: the absolute URL of an API path (`/v2/…`) on an endpoint. */
export function endpointUrl(ep: Endpoint, path: string): URL {
  return new URL(`${ep.scheme}://${ep.host}${ep.prefix}${path}`);
}

/** apiHost: Docker Hub's API lives on registry-1.docker.io; every other registry on its own name. */
export function apiHost(registry: string): string {
  return registry === DEFAULT_REGISTRY ? DOCKER_HUB_API_HOST : registry;
}

/**
 * parseRegistryMap: parses kaniko's `--registry-map` syntax, `orig=mirror[;orig=mirror…]`, into a
 * map of registry → mirror list (several entries for one registry are tried in order).
 */
export function parseRegistryMap(spec: string): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const part of spec.split(';')) {
    const t = part.trim();
    if (!t) continue;
    const eq = t.indexOf('=');
    if (eq <= 0 || eq === t.length - 1)
      throw new Error(`registry map entry ${JSON.stringify(t)} must be orig=mirror`);
    const from = t.slice(0, eq).trim();
    const to = t.slice(eq + 1).trim();
    const key = from === 'index.docker.io' || from === 'registry-1.docker.io' ? DEFAULT_REGISTRY : from;
    (out[key] ??= []).push(
      ...to
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    );
  }
  return out;
}
