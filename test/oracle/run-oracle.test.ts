import path from 'node:path';
import { namespaceExecutor } from '@kiln/core';
import { oracleSuite } from './oracle-suite.js';

// Dockerfiles with RUN, executed by the namespace executor (bubblewrap), against BuildKit.
await oracleSuite('kiln RUN builds the same image as BuildKit', path.join(import.meta.dirname, 'run-cases'), {
  executor: () => namespaceExecutor(),
});
