import { describe, expect, it } from 'vitest';
import { runImage } from './run-image.js';
import { testEnv } from './test-env.js';

const env = testEnv();

describe('runImage', () => {
  it('runs the image default command from its config (Cmd sh reading stdin)', async () => {
    const r = await runImage(env.images.busybox, { input: 'echo "$PATH"; id -u; pwd\n' });
    expect(r.process.args).toEqual(['sh']);
    expect(r.stdout).toBe('/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n0\n/\n');
    expect(r.code).toBe(0);
  });

  it('overrides the command and env, and returns a non-zero exit code', async () => {
    const r = await runImage(env.images.busyboxV2s2, {
      args: ['sh', '-c', 'echo "$GREETING"; ls /proc/self >/dev/null && exit 3'],
      env: { GREETING: 'hi there' },
    });
    expect(r.stdout).toBe('hi there\n');
    expect(r.code).toBe(3);
  });

  it('has no network but loopback inside the container', async () => {
    const r = await runImage(env.images.busybox, { args: ['sh', '-c', 'ls /sys/class/net'] });
    expect(r.stdout.trim()).toBe('lo');
  });
});
