/**
 * Credentials and where they come from. A provider is `(registry) => Promise<Credential | undefined>`;
 * `undefined` means "not mine, try the next one" ({@link chainCredentials}).
 */

/** Credential: what a registry login can be made of. Never logged, never put in errors. */
export interface Credential {
  username?: string;
  password?: string;
  /** An OAuth2 refresh token (Docker config `identitytoken`): exchanged at the token realm. */
  identityToken?: string;
  /** A bearer token used as is (Docker config `registrytoken`). */
  registryToken?: string;
}

/** CredentialProvider: looks up the credential for a registry host (`docker.io`, `host:port`). */
export type CredentialProvider = (registry: string) => Promise<Credential | undefined>;

/** chainCredentials: asks each provider in turn, returning the first credential found. */
export function chainCredentials(...providers: (CredentialProvider | undefined)[]): CredentialProvider {
  const list = providers.filter((p): p is CredentialProvider => !!p);
  return async (registry) => {
    for (const p of list) {
      const c = await p(registry);
      if (c) return c;
    }
    return undefined;
  };
}

/** staticCredentials: a provider over a fixed map of registry host → credential (Hub aliases folded). */
export function staticCredentials(map: Record<string, Credential>): CredentialProvider {
  const normalised = new Map<string, Credential>();
  for (const [k, v] of Object.entries(map)) normalised.set(normaliseRegistryKey(k), v);
  return async (registry) => normalised.get(normaliseRegistryKey(registry));
}

const hubKeys = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io']);

/**
 * normaliseRegistryKey: turns a config key (`https://index.docker.io/v1/`, `http://host:5000`,
 * `host:5000/some/path`) into the host form used for lookups (`docker.io`, `host:5000`).
 */
export function normaliseRegistryKey(key: string): string {
  let k = key.trim().replace(/^[a-z]+:\/\//i, '');
  const slash = k.indexOf('/');
  if (slash !== -1) k = k.slice(0, slash);
  k = k.toLowerCase();
  return hubKeys.has(k) ? 'docker.io' : k;
}
