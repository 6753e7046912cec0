import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { processAlive } from '../setup/state-dir.js';
import { ensureDockerEngine, stopDockerEngine } from './docker-engine.js';
import { scratchDir } from './scratch-dir.js';

describe('private Docker engine', () => {
  it('starts once per state dir with its own socket, is reused, and stops leaving no process or mount', async () => {
    const state = await mkdtemp(join(scratchDir(), 'kiln-engine-'));
    try {
      const engine = await ensureDockerEngine(state, ['127.0.0.1:1']);
      expect(engine.host).toBe(`unix://${state}/docker/docker.sock`);
      const info = JSON.parse((await engine.docker(['info', '--format', '{{json .}}'])).stdout);
      expect(info.DockerRootDir).toBe(join(state, 'docker', 'data'));
      expect(info.ServerVersion).toMatch(/^20\.10\./);
      expect(info.RegistryConfig.IndexConfigs['127.0.0.1:1']?.Secure).toBe(false);
      const again = await ensureDockerEngine(state, ['127.0.0.1:1']);
      expect(again.pid).toBe(engine.pid);
      const stopped = await stopDockerEngine(state);
      expect(stopped.stopped).toBe(true);
      expect(await processAlive(engine.pid)).toBe(false);
      expect(existsSync(join(state, 'docker'))).toBe(false);
      expect(await readFile('/proc/self/mounts', 'utf8')).not.toContain(state);
    } finally {
      await stopDockerEngine(state);
      await rm(state, { recursive: true, force: true });
    }
  });
});
