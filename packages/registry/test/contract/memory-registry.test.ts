import { fetch as undiciFetch } from 'undici';
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

// compose() hands the dispatcher undici's newer handler API (onRequestStart/onResponseStart/…).
const viaComposed = new MemoryRegistry();
let composedRequests = 0;
registryContract('in-memory registry via a composed Dispatcher (new handler API)', () => ({
  host: 'registry.test',
  client: (extra) =>
    new RegistryClient({
      dispatcher: new MemoryDispatcher(viaComposed).compose((dispatch) => (opts, handler) => {
        composedRequests++;
        return dispatch(opts, handler);
      }),
      dockerConfig: false,
      ...extra,
    }),
}));
afterAll(() => {
  if (composedRequests === 0) throw new Error('the composed dispatcher was never used');
});

// undici's own fetch, routed to the registry through the dispatcher option.
const viaUndiciFetch = new MemoryRegistry();
registryContract('in-memory registry via undici fetch + MemoryDispatcher', () => ({
  host: 'registry.test',
  client: (extra) => {
    const dispatcher = new MemoryDispatcher(viaUndiciFetch);
    return new RegistryClient({
      fetch: (url, init) => undiciFetch(url, { ...init, dispatcher }),
      dockerConfig: false,
      ...extra,
    });
  },
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
