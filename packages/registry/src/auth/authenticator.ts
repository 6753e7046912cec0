import { RegistryError } from '../errors.js';
import { discard, type HttpTransport, readBody } from '../transport/http.js';
import type { Challenge } from './challenge.js';
import type { Credential, CredentialProvider } from './credentials.js';

/**
 * Authenticator: turns a registry's challenge into an `Authorization` header.
 * - Bearer (Docker token protocol, distribution's `docs/spec/auth/token.md`): GET `realm?service=&scope=…`
 *   with Basic credentials when there are any (anonymous otherwise); with an identity token, POST the
 *   OAuth2 form `grant_type=refresh_token`. Tokens are cached per registry and scope set until they
 *   expire (`expires_in`, default 60 s per the spec) or a 401 invalidates them.
 * - Basic: the credential as `user:password`.
 * The challenge itself is remembered per registry, so a new scope costs one token request, not a 401 first.
 */
export class Authenticator {
  readonly #credentials: CredentialProvider;
  readonly #transport: (url: URL) => HttpTransport;
  readonly #challenges = new Map<string, Challenge | null>();
  readonly #tokens = new Map<string, { header: string; expiresAt: number }>();
  readonly #inflight = new Map<string, Promise<string | undefined>>();

  constructor(credentials: CredentialProvider, transport: (url: URL) => HttpTransport) {
    this.#credentials = credentials;
    this.#transport = transport;
  }

  /** knowsChallenge: whether a challenge for this registry has been seen (or it is known to need none). */
  knowsChallenge(registry: string): boolean {
    return this.#challenges.has(registry);
  }

  /** setChallenge: records the challenge a registry sent (null = it asked for nothing). */
  setChallenge(registry: string, challenge: Challenge | null): void {
    this.#challenges.set(registry, challenge);
  }

  /** invalidate: forgets the cached token for this registry and scope set (after a 401). */
  invalidate(registry: string, scopes: string[]): void {
    this.#tokens.delete(tokenKey(registry, scopes));
  }

  /** header: the Authorization value for a request with these scopes, or undefined when none is needed. */
  async header(registry: string, scopes: string[], signal?: AbortSignal): Promise<string | undefined> {
    const challenge = this.#challenges.get(registry);
    if (!challenge) return undefined;
    if (challenge.scheme === 'basic') {
      const c = await this.#credentials(registry);
      if (!c || c.username === undefined) return undefined;
      return `Basic ${Buffer.from(`${c.username}:${c.password ?? ''}`).toString('base64')}`;
    }
    if (challenge.scheme !== 'bearer') return undefined;
    const key = tokenKey(registry, scopes);
    const cached = this.#tokens.get(key);
    if (cached && cached.expiresAt > Date.now()) return cached.header;
    let pending = this.#inflight.get(key);
    if (!pending) {
      pending = this.#fetchToken(registry, challenge, scopes, signal).finally(() =>
        this.#inflight.delete(key),
      );
      this.#inflight.set(key, pending);
    }
    return pending;
  }

  async #fetchToken(
    registry: string,
    challenge: Challenge,
    scopes: string[],
    signal?: AbortSignal,
  ): Promise<string | undefined> {
    const cred = await this.#credentials(registry);
    if (cred?.registryToken) return `Bearer ${cred.registryToken}`;
    const realm = challenge.params.realm;
    if (!realm) {
      throw new RegistryError({
        status: 401,
        method: 'GET',
        url: `https://${registry}/v2/`,
        message: 'Bearer challenge without a realm',
        code: 'KILN_REGISTRY_PROTOCOL',
      });
    }
    const url = new URL(realm);
    const service = challenge.params.service;
    const allScopes = [
      ...new Set([...scopes, ...(challenge.params.scope ? challenge.params.scope.split(' ') : [])]),
    ];
    const res = cred?.identityToken
      ? await this.#oauthRefresh(url, service, allScopes, cred, signal)
      : await this.#basicTokenGet(url, service, allScopes, cred, signal);
    const key = tokenKey(registry, scopes);
    const header = `Bearer ${res.token}`;
    // Renew 5 s early so a token does not expire between this call and the request using it.
    this.#tokens.set(key, { header, expiresAt: Date.now() + Math.max(res.expiresIn - 5, 1) * 1000 });
    return header;
  }

  async #basicTokenGet(
    url: URL,
    service: string | undefined,
    scopes: string[],
    cred: Credential | undefined,
    signal?: AbortSignal,
  ) {
    if (service) url.searchParams.set('service', service);
    for (const s of scopes) url.searchParams.append('scope', s);
    const headers: Record<string, string> = { accept: 'application/json' };
    if (cred?.username !== undefined) {
      headers.authorization = `Basic ${Buffer.from(`${cred.username}:${cred.password ?? ''}`).toString('base64')}`;
    }
    return this.#tokenRequest({ method: 'GET', url, headers, signal });
  }

  async #oauthRefresh(
    url: URL,
    service: string | undefined,
    scopes: string[],
    cred: Credential,
    signal?: AbortSignal,
  ) {
    const form = new URLSearchParams({
      grant_type: 'refresh_token',
      refresh_token: cred.identityToken ?? '',
      client_id: 'kiln',
    });
    if (service) form.set('service', service);
    if (scopes.length) form.set('scope', scopes.join(' '));
    const body = Buffer.from(form.toString());
    const headers = {
      'content-type': 'application/x-www-form-urlencoded',
      'content-length': String(body.length),
    };
    return this.#tokenRequest({ method: 'POST', url, headers, body, signal });
  }

  async #tokenRequest(req: {
    method: string;
    url: URL;
    headers: Record<string, string>;
    body?: Buffer;
    signal?: AbortSignal | undefined;
  }) {
    const res = await this.#transport(req.url)({ ...req, signal: req.signal });
    if (res.status !== 200) {
      discard(res.body);
      // The token server's body is not quoted: it may echo what was sent.
      throw new RegistryError({
        status: res.status,
        method: req.method,
        url: req.url.toString(),
        message:
          res.status === 401
            ? 'the token server refused the credentials'
            : 'the token server refused to issue a token',
      });
    }
    const text = await readBody(res.body, 1024 * 1024);
    let json: { token?: string; access_token?: string; expires_in?: number };
    try {
      json = JSON.parse(text.toString('utf8'));
    } catch {
      throw new RegistryError({
        status: 200,
        method: req.method,
        url: req.url.toString(),
        message: 'token response is not JSON',
        code: 'KILN_REGISTRY_PROTOCOL',
      });
    }
    const token = json.token ?? json.access_token;
    if (!token) {
      throw new RegistryError({
        status: 200,
        method: req.method,
        url: req.url.toString(),
        message: 'token response has no token',
        code: 'KILN_REGISTRY_PROTOCOL',
      });
    }
    // The spec: "expires_in … if omitted, 60 seconds"; tokens of less than 60 s are treated as 60 s.
    return { token, expiresIn: Math.max(json.expires_in ?? 60, 60) };
  }
}

function tokenKey(registry: string, scopes: string[]): string {
  return `${registry}\n${[...scopes].sort().join(' ')}`;
}
