import path from 'node:path';
import { oracleSuite } from './oracle-suite.js';

// Dockerfiles without RUN: every instruction, flag and rule of COPY/ADD and the config, against BuildKit.
await oracleSuite('kiln builds the same image as BuildKit (no RUN)', path.join(import.meta.dirname, 'cases'));
