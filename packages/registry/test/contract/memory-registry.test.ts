import { afterAll, beforeAll } from 'vitest';
import { RegistryClient } from '../../src/index.js';
import {
  listenMemoryRegistry,
  MemoryDispatcher,
  MemoryRegistry,
  type MemoryRegistryServer,
  memoryFetch,
} from '../../src/testing/index.js';
import { registryContract } from './registry-contract.js';

const viaFetch = new MemoryRegistry();
registryContract('in-memory registry via fetch', () => ({
  host: 'registry.test:5000',
  client: (extra) => new RegistryClient({ fetch: memoryFetch(viaFetch), dockerConfig: false, ...extra }),
}));

const viaDispatcher = new MemoryRegistry();
registryContract('in-memory registry via undici Dispatcher', () => ({
  host: 'registry.test',
  client: (extra) =>
    new RegistryClient({ dispatcher: new MemoryDispatcher(viaDispatcher), dockerConfig: false, ...extra }),
}));

let server: MemoryRegistryServer;
beforeAll(async () => {
  server = await listenMemoryRegistry(new MemoryRegistry());
});
afterAll(() => server.close());
registryContract('in-memory registry over loopback HTTP', () => ({
  host: server.host,
  client: (extra) => new RegistryClient({ insecure: [server.host], dockerConfig: false, ...extra }),
}));
