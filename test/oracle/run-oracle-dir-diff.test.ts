import path from 'node:path';
import { namespaceExecutor } from '@kiln/core';
import { oracleSuite } from './oracle-suite.js';

// The fallback without overlay (no root, no overlayfs): the rootfs unpacked into a plain directory and each
// RUN's layer found by directory diff. This file's process only (vitest runs each test file in its own).
process.env.KILN_OVERLAY = '0';

await oracleSuite(
  'kiln RUN without overlay (directory diff) builds the same image as BuildKit',
  path.join(import.meta.dirname, 'run-cases'),
  {
    executor: () => namespaceExecutor(),
    snapshot: 'dir-diff',
    cases: [
      'r02-delete-base-files',
      'r03-dir-replaced-by-symlink',
      'r04-opaque-dir',
      'r05-hardlinks',
      'r06-chown-chmod',
      'r12-mount-secret',
      'r18-copy-between-runs',
      'r19-debian-files',
      'r22-special-files',
    ],
  },
);
