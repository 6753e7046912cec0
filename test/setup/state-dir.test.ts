import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { execTool } from '../lib/exec.js';
import { cleanupStateDir, createStateDir, sweepStaleStateDirs } from './state-dir.js';

let scratch: string;
let saved: string | undefined;
beforeEach(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'kiln-scratch-'));
  saved = process.env.KILN_TEST_STATE_PARENT;
  process.env.KILN_TEST_STATE_PARENT = scratch; // isolate from the live run's state dir
});
afterEach(async () => {
  if (saved === undefined) delete process.env.KILN_TEST_STATE_PARENT;
  else process.env.KILN_TEST_STATE_PARENT = saved;
  await rm(scratch, { recursive: true, force: true });
});

describe('state dirs', () => {
  it('sweeps only dirs whose owner process is gone and that were not kept', async () => {
    const mine = await createStateDir();
    const deadPid = Number((await execTool('sh', ['-c', 'echo $$'])).stdout.trim());
    const stale = join(scratch, 'kiln-e2e-stale1');
    const kept = join(scratch, 'kiln-e2e-kept01');
    for (const d of [stale, kept]) {
      await mkdir(join(d, 'registry'), { recursive: true });
      await writeFile(join(d, 'owner.pid'), String(deadPid));
    }
    await writeFile(join(kept, 'kept'), '');
    await mkdir(join(scratch, 'unrelated'));
    expect(await sweepStaleStateDirs()).toEqual([stale]);
    expect(existsSync(stale)).toBe(false);
    expect(existsSync(kept)).toBe(true);
    expect(existsSync(mine)).toBe(true);
    expect(existsSync(join(scratch, 'unrelated'))).toBe(true);
  });

  it('cleanupStateDir deletes the dir, or with keep marks it so sweeps leave it', async () => {
    const a = await createStateDir();
    const b = await createStateDir();
    expect((await cleanupStateDir(a)).stopped).toBe(false);
    expect(existsSync(a)).toBe(false);
    await cleanupStateDir(b, { keep: true });
    expect(existsSync(join(b, 'kept'))).toBe(true);
  });
});
