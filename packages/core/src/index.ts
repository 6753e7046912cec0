export { build, hostPlatform } from './build.js';
export { KilnError } from './errors.js';
export { type BuildEvent, buildChannel, type SourceLocation } from './events.js';
export type { Executor, RunMount, RunRequest } from './executor.js';
export * from './executors/index.js';
export type { ContainerConfig, HealthConfig, HistoryEntry, ImageConfigFile } from './image/config.js';
export type {
  BuildOptions,
  BuildResult,
  BuildWarning,
  DestinationResult,
  InstructionTiming,
  RegistrySettings,
} from './options.js';
export {
  inUserNamespace,
  type ReexecOptions,
  reexecInUserNamespace,
  type UserNamespaceMapping,
  userNamespaceMapping,
} from './user-namespace.js';
