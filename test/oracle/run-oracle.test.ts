import { readFileSync } from 'node:fs';
import path from 'node:path';
import { namespaceExecutor } from '@kiln/core';
import { oracleSuite } from './oracle-suite.js';

// As root with overlayfs, every RUN's layer must come from its own overlay upper dir.
const overlay = process.getuid?.() === 0 && /\toverlay$/m.test(readFileSync('/proc/filesystems', 'utf8'));

// Dockerfiles with RUN, executed by the namespace executor (bubblewrap), against BuildKit.
await oracleSuite('kiln RUN builds the same image as BuildKit', path.join(import.meta.dirname, 'run-cases'), {
  executor: () => namespaceExecutor(),
  snapshot: overlay ? 'overlay' : 'dir-diff',
  // The issue asks the RUN builds to pass as root and as an unprivileged user with subordinate ids.
  rootless: true,
});
