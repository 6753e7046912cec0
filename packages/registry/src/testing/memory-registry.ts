import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { isDigest, sha256Digest } from '../image/digest.js';
import { parseManifest } from '../image/manifest.js';
import { isIndexMediaType } from '../image/media-types.js';

/**
 * An in-memory registry speaking the OCI distribution API (the parts kiln uses: version check,
 * manifests by tag/digest, blobs with Range, monolithic/chunked/mount uploads, tags list), with
 * optional Basic or token auth. It behaves like the CNCF distribution registry where kiln depends
 * on it (status codes, `Range: 0-N`, `Docker-Content-Digest`, refusing manifests whose blobs are
 * missing), which the shared contract suite checks against both.
 */

/** MemoryRequest: what the registry sees of a request. */
export interface MemoryRequest {
  method: string;
  url: URL;
  headers: Headers;
  body: AsyncIterable<Uint8Array> | null;
}

/** MemoryResponse: status, headers and an optional body. */
export interface MemoryResponse {
  status: number;
  headers: Record<string, string>;
  body?: Buffer;
}

/** RequestRecord: one request as logged by the registry (for assertions in tests). */
export interface RequestRecord {
  method: string;
  /** Host the request was addressed to. */
  host: string;
  /** Path and query. */
  path: string;
  /** Whether an Authorization header was sent (its value is not kept). */
  authorized: boolean;
  /** The Range / Content-Range request headers, when present. */
  range?: string;
  contentRange?: string;
  contentType?: string;
  /** The Accept request header, when present. */
  accept?: string;
  status: number;
}

/** MemoryRegistryOptions: auth and behaviour switches. */
export interface MemoryRegistryOptions {
  /** Require auth: `basic` (htpasswd-like) or `token` (Docker token protocol at `/token` on the same origin). */
  auth?: {
    mode: 'basic' | 'token';
    users: Record<string, string>;
    anonymousPull?: boolean;
    /** OAuth2 refresh tokens (Docker's `identitytoken`) accepted by `POST /token`, mapped to a user. */
    refreshTokens?: Record<string, string>;
  };
  /** Answer blob GETs with a 307 to `<origin>/_blobstore/<digest>`, as registries backed by S3/GCS do. */
  redirectBlobsTo?: string;
  /** Token lifetime in seconds (token mode). Default 300. */
  tokenTtl?: number;
}

/** Interceptor: returns a response to short-circuit a request (fault injection), or undefined to pass. */
export type Interceptor = (req: {
  method: string;
  url: URL;
  headers: Headers;
}) => MemoryResponse | undefined | Promise<MemoryResponse | undefined>;

interface Upload {
  repo: string;
  parts: Buffer[];
  size: number;
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}): MemoryResponse => {
  const b = Buffer.from(JSON.stringify(body));
  return {
    status,
    headers: { 'content-type': 'application/json', 'content-length': String(b.length), ...headers },
    body: b,
  };
};
const oops = (status: number, code: string, message: string, headers: Record<string, string> = {}) =>
  json(status, { errors: [{ code, message, detail: null }] }, headers);

/** MemoryRegistry: the registry state plus its request handler. See the adapters in this folder. */
export class MemoryRegistry {
  /** Every request handled, in order. */
  readonly requests: RequestRecord[] = [];
  readonly #blobs = new Map<string, Buffer>();
  readonly #links = new Map<string, Set<string>>();
  readonly #manifests = new Map<string, Map<string, { bytes: Buffer; mediaType: string }>>();
  readonly #tags = new Map<string, Map<string, string>>();
  readonly #uploads = new Map<string, Upload>();
  readonly #tokens = new Map<string, { scopes: Set<string>; expires: number }>();
  readonly #o: MemoryRegistryOptions;
  #interceptors: Interceptor[] = [];

  constructor(options: MemoryRegistryOptions = {}) {
    this.#o = options;
  }

  /** intercept: adds a fault injector consulted before every request; returns a remover. */
  intercept(fn: Interceptor): () => void {
    this.#interceptors.push(fn);
    return () => {
      this.#interceptors = this.#interceptors.filter((f) => f !== fn);
    };
  }

  /** hasBlob: whether `repo` links the blob. */
  hasBlob(repo: string, digest: string): boolean {
    return !!this.#links.get(repo)?.has(digest);
  }

  /** blobCount: how many distinct blobs are stored. */
  get blobCount(): number {
    return this.#blobs.size;
  }

  /** tagDigest: the manifest digest a tag points at, if any. */
  tagDigest(repo: string, tag: string): string | undefined {
    return this.#tags.get(repo)?.get(tag);
  }

  /** manifest: stored manifest bytes and media type, by digest. */
  manifest(repo: string, digest: string): { bytes: Buffer; mediaType: string } | undefined {
    return this.#manifests.get(repo)?.get(digest);
  }

  /** handle: answers one request. Reads the whole request body into memory (it is a test double). */
  async handle(req: MemoryRequest): Promise<MemoryResponse> {
    let res: MemoryResponse | undefined;
    for (const i of this.#interceptors) {
      res = await i({ method: req.method, url: req.url, headers: req.headers });
      if (res) break;
    }
    if (res) await drain(req.body);
    else res = await this.#route(req);
    const rec: RequestRecord = {
      method: req.method,
      host: req.url.host,
      path: req.url.pathname + req.url.search,
      authorized: req.headers.has('authorization'),
      status: res.status,
    };
    const range = req.headers.get('range');
    const contentRange = req.headers.get('content-range');
    const contentType = req.headers.get('content-type');
    if (range) rec.range = range;
    if (contentRange) rec.contentRange = contentRange;
    if (contentType) rec.contentType = contentType;
    const accept = req.headers.get('accept');
    if (accept) rec.accept = accept;
    this.requests.push(rec);
    if (req.method === 'HEAD') return { status: res.status, headers: res.headers };
    return res;
  }

  async #route(req: MemoryRequest): Promise<MemoryResponse> {
    const { pathname } = req.url;
    if (pathname === '/token' && req.method === 'POST') return this.#oauthToken(req);
    if (pathname === '/token') return this.#token(req);
    if (pathname.startsWith('/_blobstore/')) return this.#serveBlob(req, pathname.slice(12));
    if (pathname === '/v2/' || pathname === '/v2') {
      const denied = this.#authorize(req, undefined, 'pull');
      return denied ?? json(200, {}, { 'docker-distribution-api-version': 'registry/2.0' });
    }
    if (pathname === '/v2/_catalog')
      return json(200, {
        repositories: [...this.#links.keys(), ...this.#manifests.keys()]
          .filter((v, i, a) => a.indexOf(v) === i)
          .sort(),
      });
    const m = /^\/v2\/(.+?)\/(manifests|blobs|tags)\/(.*)$/.exec(pathname);
    if (!m) return oops(404, 'NOT_FOUND', 'no such route');
    const [, repo, kind, rest] = m as unknown as [string, string, string, string];
    if (!/^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/.test(repo)) {
      return oops(400, 'NAME_INVALID', 'invalid repository name');
    }
    const write = !['GET', 'HEAD'].includes(req.method);
    const denied = this.#authorize(req, repo, write ? 'push' : 'pull');
    if (denied) return denied;
    if (kind === 'tags' && rest === 'list') {
      const tags = [...(this.#tags.get(repo)?.keys() ?? [])].sort();
      return tags.length
        ? json(200, { name: repo, tags })
        : oops(404, 'NAME_UNKNOWN', 'repository name not known to registry');
    }
    if (kind === 'manifests') return this.#manifest(req, repo, decodeURIComponent(rest));
    if (rest === 'uploads/' || rest === 'uploads') return this.#startUpload(req, repo);
    if (rest.startsWith('uploads/')) return this.#upload(req, repo, rest.slice(8));
    return this.#blob(req, repo, rest);
  }

  #authorize(
    req: MemoryRequest,
    repo: string | undefined,
    action: 'pull' | 'push',
  ): MemoryResponse | undefined {
    const a = this.#o.auth;
    if (!a) return undefined;
    const header = req.headers.get('authorization') ?? '';
    if (a.mode === 'basic') {
      if (header.startsWith('Basic ') && this.#checkBasic(header)) return undefined;
      return oops(401, 'UNAUTHORIZED', 'authentication required', {
        'www-authenticate': 'Basic realm="memory-registry"',
      });
    }
    const token = header.startsWith('Bearer ') ? this.#tokens.get(header.slice(7)) : undefined;
    const scope = repo ? `repository:${repo}:${action}` : undefined;
    if (token && token.expires > Date.now() && (!scope || token.scopes.has(scope))) return undefined;
    const challenge = `Bearer realm="${req.url.origin}/token",service="memory-registry"${repo ? `,scope="repository:${repo}:${action === 'push' ? 'pull,push' : 'pull'}"` : ''}`;
    return oops(401, 'UNAUTHORIZED', 'authentication required', { 'www-authenticate': challenge });
  }

  #checkBasic(header: string): string | undefined {
    const decoded = Buffer.from(header.slice(6), 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    const user = decoded.slice(0, colon);
    const want = this.#o.auth?.users[user];
    if (colon === -1 || want === undefined) return undefined;
    const a = Buffer.from(decoded.slice(colon + 1));
    const b = Buffer.from(want);
    return a.length === b.length && timingSafeEqual(a, b) ? user : undefined;
  }

  /** The OAuth2 form of the token protocol: `grant_type=refresh_token` with an identity token. */
  async #oauthToken(req: MemoryRequest): Promise<MemoryResponse> {
    const form = new URLSearchParams((await collect(req.body)).toString('utf8'));
    const user =
      form.get('grant_type') === 'refresh_token'
        ? this.#o.auth?.refreshTokens?.[form.get('refresh_token') ?? '']
        : undefined;
    if (!user) return oops(401, 'UNAUTHORIZED', 'invalid refresh token');
    return this.#issue(user, (form.get('scope') ?? '').split(' ').filter(Boolean));
  }

  #token(req: MemoryRequest): MemoryResponse {
    const header = req.headers.get('authorization') ?? '';
    let user: string | undefined;
    if (header) {
      user = header.startsWith('Basic ') ? this.#checkBasic(header) : undefined;
      if (!user) return oops(401, 'UNAUTHORIZED', 'invalid credentials');
    }
    return this.#issue(user, req.url.searchParams.getAll('scope'));
  }

  #issue(user: string | undefined, requested: string[]): MemoryResponse {
    const scopes = new Set<string>();
    for (const s of requested) {
      for (const one of s.split(' ')) {
        const [type, name, actions] = one.split(':') as [string, string, string | undefined];
        for (const action of (actions ?? '').split(',')) {
          if (type !== 'repository' || !action) continue;
          if (user || (this.#o.auth?.anonymousPull && action === 'pull'))
            scopes.add(`${type}:${name}:${action}`);
        }
      }
    }
    const token = randomBytes(16).toString('hex');
    const ttl = this.#o.tokenTtl ?? 300;
    this.#tokens.set(token, { scopes, expires: Date.now() + ttl * 1000 });
    return json(200, { token, access_token: token, expires_in: ttl, issued_at: new Date().toISOString() });
  }

  /** revokeTokens: invalidates every token issued so far (clients must refresh on the next 401). */
  revokeTokens(): void {
    this.#tokens.clear();
  }

  async #manifest(req: MemoryRequest, repo: string, ref: string): Promise<MemoryResponse> {
    const store = this.#manifests.get(repo);
    if (req.method === 'GET' || req.method === 'HEAD') {
      const digest = isDigest(ref) ? ref : this.#tags.get(repo)?.get(ref);
      const m = digest ? store?.get(digest) : undefined;
      if (!m || !digest) return oops(404, 'MANIFEST_UNKNOWN', `manifest unknown: ${ref}`);
      return {
        status: 200,
        headers: {
          'content-type': m.mediaType,
          'content-length': String(m.bytes.length),
          'docker-content-digest': digest,
        },
        body: m.bytes,
      };
    }
    if (req.method === 'PUT') {
      const bytes = await collect(req.body);
      const contentType = req.headers.get('content-type') ?? '';
      let parsed: ReturnType<typeof parseManifest>;
      try {
        parsed = parseManifest(bytes, contentType, 'request');
      } catch (e) {
        return oops(400, 'MANIFEST_INVALID', (e as Error).message);
      }
      const declared = parsed.manifest.mediaType;
      if (declared && contentType && declared !== contentType) {
        return oops(
          400,
          'MANIFEST_INVALID',
          `mediaType in manifest should be '${contentType}' not '${declared}'`,
        );
      }
      const digest = sha256Digest(bytes);
      if (isDigest(ref) && ref !== digest)
        return oops(400, 'DIGEST_INVALID', 'provided digest did not match uploaded content');
      const children =
        parsed.kind === 'index'
          ? parsed.manifest.manifests
          : [parsed.manifest.config, ...parsed.manifest.layers];
      const missing = children.filter((d) =>
        parsed.kind === 'index' ? !store?.has(d.digest) : !this.hasBlob(repo, d.digest),
      );
      if (missing.length) {
        return json(400, {
          errors: missing.map((d) => ({
            code: 'MANIFEST_BLOB_UNKNOWN',
            message: 'blob unknown to registry',
            detail: d.digest,
          })),
        });
      }
      let s = store;
      if (!s) this.#manifests.set(repo, (s = new Map()));
      s.set(digest, {
        bytes,
        mediaType: isIndexMediaType(parsed.mediaType) || contentType === '' ? parsed.mediaType : contentType,
      });
      if (!isDigest(ref)) {
        let t = this.#tags.get(repo);
        if (!t) this.#tags.set(repo, (t = new Map()));
        t.set(ref, digest);
      }
      return {
        status: 201,
        headers: {
          location: `/v2/${repo}/manifests/${digest}`,
          'docker-content-digest': digest,
          'content-length': '0',
        },
      };
    }
    if (req.method === 'DELETE') {
      if (!isDigest(ref)) return oops(400, 'UNSUPPORTED', 'delete by digest only');
      if (!store?.delete(ref)) return oops(404, 'MANIFEST_UNKNOWN', 'manifest unknown');
      for (const [tag, d] of this.#tags.get(repo) ?? []) if (d === ref) this.#tags.get(repo)?.delete(tag);
      return { status: 202, headers: { 'content-length': '0' } };
    }
    return oops(405, 'UNSUPPORTED', 'method not allowed');
  }

  #blob(req: MemoryRequest, repo: string, digest: string): MemoryResponse {
    if (!isDigest(digest)) return oops(400, 'DIGEST_INVALID', 'invalid digest');
    if (req.method === 'DELETE') {
      if (!this.#links.get(repo)?.delete(digest))
        return oops(404, 'BLOB_UNKNOWN', 'blob unknown to registry');
      return { status: 202, headers: { 'content-length': '0' } };
    }
    if (!this.hasBlob(repo, digest)) return oops(404, 'BLOB_UNKNOWN', 'blob unknown to registry');
    if (this.#o.redirectBlobsTo && req.method === 'GET') {
      return {
        status: 307,
        headers: { location: `${this.#o.redirectBlobsTo}/_blobstore/${digest}`, 'content-length': '0' },
      };
    }
    return this.#serveBlob(req, digest);
  }

  #serveBlob(req: MemoryRequest, digest: string): MemoryResponse {
    const blob = this.#blobs.get(digest);
    if (!blob) return oops(404, 'BLOB_UNKNOWN', 'blob unknown to registry');
    const headers = {
      'content-type': 'application/octet-stream',
      'docker-content-digest': digest,
      'accept-ranges': 'bytes',
      etag: `"${digest}"`,
    };
    const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.get('range') ?? '');
    if (range) {
      const start = Number(range[1]);
      const end = range[2] ? Math.min(Number(range[2]), blob.length - 1) : blob.length - 1;
      if (start >= blob.length)
        return { status: 416, headers: { 'content-range': `bytes */${blob.length}`, 'content-length': '0' } };
      const part = blob.subarray(start, end + 1);
      return {
        status: 206,
        headers: {
          ...headers,
          'content-range': `bytes ${start}-${end}/${blob.length}`,
          'content-length': String(part.length),
        },
        body: part,
      };
    }
    return { status: 200, headers: { ...headers, 'content-length': String(blob.length) }, body: blob };
  }

  #link(repo: string, digest: string): void {
    let l = this.#links.get(repo);
    if (!l) this.#links.set(repo, (l = new Set()));
    l.add(digest);
  }

  #uploadHeaders(repo: string, id: string, u: Upload): Record<string, string> {
    // distribution reports "0-0" for an empty upload as well as for a one-byte one.
    return {
      location: `/v2/${repo}/blobs/uploads/${id}`,
      range: `0-${Math.max(u.size - 1, 0)}`,
      'docker-upload-uuid': id,
      'content-length': '0',
    };
  }

  async #startUpload(req: MemoryRequest, repo: string): Promise<MemoryResponse> {
    if (req.method !== 'POST') return oops(405, 'UNSUPPORTED', 'method not allowed');
    const q = req.url.searchParams;
    const mount = q.get('mount');
    const from = q.get('from');
    if (mount && from && this.hasBlob(from, mount) && this.#authorize(req, from, 'pull') === undefined) {
      this.#link(repo, mount);
      return {
        status: 201,
        headers: {
          location: `/v2/${repo}/blobs/${mount}`,
          'docker-content-digest': mount,
          'content-length': '0',
        },
      };
    }
    const digest = q.get('digest');
    if (digest) {
      const bytes = await collect(req.body);
      return this.#commit(repo, bytes, digest);
    }
    await drain(req.body);
    const id = randomBytes(12).toString('hex');
    const u: Upload = { repo, parts: [], size: 0 };
    this.#uploads.set(id, u);
    return { status: 202, headers: this.#uploadHeaders(repo, id, u) };
  }

  #commit(repo: string, bytes: Buffer, digest: string): MemoryResponse {
    if (!isDigest(digest)) return oops(400, 'DIGEST_INVALID', 'invalid digest');
    const actual = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    if (actual !== digest)
      return oops(400, 'DIGEST_INVALID', 'provided digest did not match uploaded content');
    this.#blobs.set(digest, bytes);
    this.#link(repo, digest);
    return {
      status: 201,
      headers: {
        location: `/v2/${repo}/blobs/${digest}`,
        'docker-content-digest': digest,
        'content-length': '0',
      },
    };
  }

  async #upload(req: MemoryRequest, repo: string, id: string): Promise<MemoryResponse> {
    const u = this.#uploads.get(id);
    if (!u || u.repo !== repo) {
      await drain(req.body);
      return oops(404, 'BLOB_UPLOAD_UNKNOWN', 'blob upload unknown to registry');
    }
    if (req.method === 'GET') return { status: 204, headers: this.#uploadHeaders(repo, id, u) };
    if (req.method === 'DELETE') {
      this.#uploads.delete(id);
      return { status: 204, headers: { 'content-length': '0' } };
    }
    if (req.method === 'PATCH') {
      const cr = req.headers.get('content-range');
      if (cr) {
        const m = /^(\d+)-(\d+)$/.exec(cr);
        if (!m || Number(m[1]) !== u.size) {
          await drain(req.body);
          return { status: 416, headers: this.#uploadHeaders(repo, id, u) };
        }
      }
      for await (const c of req.body ?? []) {
        const b = Buffer.from(c);
        u.parts.push(b);
        u.size += b.length;
      }
      return { status: 202, headers: this.#uploadHeaders(repo, id, u) };
    }
    if (req.method === 'PUT') {
      const digest = req.url.searchParams.get('digest');
      if (!digest) return oops(400, 'DIGEST_INVALID', 'digest missing');
      for await (const c of req.body ?? []) u.parts.push(Buffer.from(c));
      this.#uploads.delete(id);
      return this.#commit(repo, Buffer.concat(u.parts), digest);
    }
    return oops(405, 'UNSUPPORTED', 'method not allowed');
  }
}

async function collect(body: AsyncIterable<Uint8Array> | null): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of body ?? []) parts.push(Buffer.from(c));
  return Buffer.concat(parts);
}

async function drain(body: AsyncIterable<Uint8Array> | null): Promise<void> {
  for await (const _ of body ?? []) {
    // discard
  }
}
