export { type InPlaceExecutorOptions, inPlaceExecutor } from './in-place-executor.js';
export { type NamespaceExecutorOptions, namespaceExecutor } from './namespace-executor.js';
export { type ImageFileReader, type RunIdentity, resolveRunUser, runHome } from './run-user.js';
