import { namespaceExecutor } from '../../src/executors/namespace-executor.js';
import { executorContract } from './contract.js';

executorContract('namespace', { make: () => namespaceExecutor(), mounts: 'mounted', networkNone: true });
