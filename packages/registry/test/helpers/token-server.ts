import { createSign, randomBytes, X509Certificate } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { issueCert, makeCa } from './certs.js';

/**
 * A minimal Docker token server (distribution's `docs/spec/auth/token.md` and `jwt.md`): GET
 * `/token?service=&scope=…` with optional Basic credentials answers `{ token, access_token,
 * expires_in }`, where the token is an RS256 JWT whose header carries the signing certificate
 * (`x5c`) issued by a CA the registry trusts through `auth.token.rootcertbundle`.
 * Authenticated users get every action they ask for; anonymous callers get `pull` when
 * `anonymousPull` is set, else nothing (the registry then answers 401).
 */
export interface TokenServer {
  realm: string;
  service: string;
  issuer: string;
  /** PEM file with the CA certificate to put in the registry's rootcertbundle. */
  rootCertBundle: string;
  /** Every token request: the scopes asked and whether credentials came with it. */
  requests: { scopes: string[]; user?: string }[];
  close(): Promise<void>;
}

async function makeSigningCert(dir: string): Promise<{ keyPem: string; certDer: Buffer; caFile: string }> {
  // RS256: the token spec's usual algorithm, which distribution verifies through libtrust.
  const ca = await makeCa(dir, 'token-ca', 'rsa');
  const signer = await issueCert(
    dir,
    ca,
    'token-signer',
    ['basicConstraints=critical,CA:FALSE', 'keyUsage=critical,digitalSignature'],
    'rsa',
  );
  return { keyPem: signer.keyPem, certDer: new X509Certificate(signer.certPem).raw, caFile: ca.certFile };
}

const b64url = (b: Buffer | string) => Buffer.from(b).toString('base64url');

/** startTokenServer: a token server on 127.0.0.1 (random port) with its CA bundle under `dir`. */
export async function startTokenServer(opts: {
  dir: string;
  users: Record<string, string>;
  anonymousPull?: boolean;
  expiresIn?: number;
}): Promise<TokenServer> {
  const { keyPem, certDer, caFile } = await makeSigningCert(opts.dir);
  const service = 'kiln-test-registry';
  const issuer = 'kiln-test-token-issuer';
  const requests: TokenServer['requests'] = [];
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    let user: string | undefined;
    const auth = req.headers.authorization;
    if (auth) {
      const [name, pass] = Buffer.from(auth.replace(/^Basic /, ''), 'base64')
        .toString()
        .split(/:(.*)/s) as [string, string];
      if (!auth.startsWith('Basic ') || opts.users[name] !== pass) {
        res.writeHead(401, { 'content-type': 'application/json' });
        res.end('{"details":"invalid credentials"}');
        return;
      }
      user = name;
    }
    const scopes = url.searchParams.getAll('scope').flatMap((s) => s.split(' '));
    requests.push(user ? { scopes, user } : { scopes });
    const access = scopes.map((s) => {
      const [type, name, actions = ''] = s.split(':') as [string, string, string?];
      const wanted = actions.split(',').filter(Boolean);
      const granted = user ? wanted : opts.anonymousPull ? wanted.filter((a) => a === 'pull') : [];
      return { type, name, actions: granted };
    });
    const now = Math.floor(Date.now() / 1000);
    const expiresIn = opts.expiresIn ?? 300;
    const header = { typ: 'JWT', alg: 'RS256', x5c: [certDer.toString('base64')] };
    const claims = {
      iss: issuer,
      sub: user ?? '',
      aud: service,
      exp: now + expiresIn,
      nbf: now - 10,
      iat: now,
      jti: randomBytes(8).toString('hex'),
      access,
    };
    const signingInput = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    const signature = createSign('RSA-SHA256').update(signingInput).sign(keyPem);
    const token = `${signingInput}.${b64url(signature)}`;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({
        token,
        access_token: token,
        expires_in: expiresIn,
        issued_at: new Date().toISOString(),
      }),
    );
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    realm: `http://127.0.0.1:${port}/token`,
    service,
    issuer,
    rootCertBundle: caFile,
    requests,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
