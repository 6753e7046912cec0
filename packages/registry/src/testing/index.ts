export type { MemoryRegistryServer } from './adapters.js';
export { listenMemoryRegistry, MemoryDispatcher, memoryFetch } from './adapters.js';
export type {
  Interceptor,
  MemoryRegistryOptions,
  MemoryRequest,
  MemoryResponse,
  RequestRecord,
} from './memory-registry.js';
export { MemoryRegistry } from './memory-registry.js';
