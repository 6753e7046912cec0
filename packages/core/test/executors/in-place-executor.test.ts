import { afterAll, describe, expect, test } from 'vitest';
import { inPlaceExecutor } from '../../src/executors/in-place-executor.js';
import { executorContract } from './contract.js';
import { disposeCompiledDriver, driverExecutor } from './driver-executor.js';
import { testRequest } from './test-request.js';

/*
 * The in-place executor treats `/` as the image. Its tests never run it on this machine's root: each request
 * is executed by executor-driver.ts inside a bubblewrap sandbox whose `/` is the contract's temp busybox
 * rootfs (host /usr bound read-only so Node itself can run, plus /proc and /dev as a pod would have). The
 * driver's environment holds KILN_CONTRACT_LEAK, standing for kiln's own environment.
 */
const sandboxedInPlace = driverExecutor('in-place (in a bubblewrap sandbox)', 'in-place', (req, driver) => ({
  file: 'bwrap',
  args: [
    ...['--unshare-pid', '--die-with-parent', '--bind', req.rootfs, '/'],
    ...['--ro-bind', '/usr', '/usr', '--ro-bind', '/usr/lib', '/lib', '--ro-bind', '/usr/lib64', '/lib64'],
    ...['--proc', '/proc', '--dev', '/dev', '--ro-bind', driver, '/kiln-driver', '--chdir', '/'],
    ...['--clearenv', '--setenv', 'KILN_CONTRACT_LEAK', 'leaked', '--'],
    ...['/usr/bin/node', '/kiln-driver/test/executors/executor-driver.js'],
  ],
}));

afterAll(disposeCompiledDriver);

executorContract('in-place', {
  make: () => sandboxedInPlace,
  isolates: false,
  rootfsExtra: { 'usr/': '', 'lib/': '', 'lib64/': '', 'proc/': '', 'dev/': '', 'kiln-driver/': '' },
});

describe('inPlaceExecutor refuses to start unless explicitly enabled', () => {
  test('without enabled or KILN_IN_PLACE=1 it throws KILN_IN_PLACE_DISABLED', () => {
    const saved = process.env.KILN_IN_PLACE;
    delete process.env.KILN_IN_PLACE;
    try {
      expect(() => inPlaceExecutor()).toThrow(expect.objectContaining({ code: 'KILN_IN_PLACE_DISABLED' }));
      expect(() => inPlaceExecutor({ enabled: false })).toThrow(/KILN_IN_PLACE=1/);
    } finally {
      if (saved !== undefined) process.env.KILN_IN_PLACE = saved;
    }
  });
  test('KILN_IN_PLACE=1 enables it; any rootfs but / is refused before anything runs', async () => {
    process.env.KILN_IN_PLACE = '1';
    try {
      const ex = inPlaceExecutor();
      expect(ex.name).toBe('in-place');
      await expect(ex.run(testRequest('/tmp/some-rootfs').req)).rejects.toMatchObject({
        code: 'KILN_RUN_ROOTFS',
      });
    } finally {
      delete process.env.KILN_IN_PLACE;
    }
  });
});
