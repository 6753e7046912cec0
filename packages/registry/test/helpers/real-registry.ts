import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type RunningRegistry, startRegistry } from '../../../../test/setup/distribution.js';
import { startTokenServer, type TokenServer } from './token-server.js';

export type { RunningRegistry };
export { startRegistry };

/** The htpasswd user of the TLS registry. */
export const HTPASSWD = { user: 'kiln', password: 'kiln-S3cret-pw' };
/** The token server's user. */
export const TOKEN_USER = { user: 'tokuser', password: 'tok-S3cret-pw' };

/** startTokenRegistry: a token server fixture plus a real registry (plain HTTP) trusting it. */
export async function startTokenRegistry(opts: { anonymousPull?: boolean } = {}): Promise<{
  registry: RunningRegistry;
  tokens: TokenServer;
  stop(): Promise<void>;
}> {
  const dir = await mkdtemp(join(tmpdir(), 'kiln-token-'));
  const tokens = await startTokenServer({
    dir,
    users: { [TOKEN_USER.user]: TOKEN_USER.password },
    anonymousPull: !!opts.anonymousPull,
  });
  const registry = await startRegistry({
    tokenAuth: {
      realm: tokens.realm,
      service: tokens.service,
      issuer: tokens.issuer,
      rootCertBundle: tokens.rootCertBundle,
    },
  });
  return {
    registry,
    tokens,
    stop: async () => {
      await registry.stop();
      await tokens.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
