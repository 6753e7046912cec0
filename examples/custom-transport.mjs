// Every registry request goes through a transport you pass in: here an undici Agent wrapped by an
// interceptor that logs each request line (method and URL, never headers, so no credentials).
//   node examples/custom-transport.mjs 127.0.0.1:5000/examples/hello:transport
import path from 'node:path';
import { build } from '@kiln/core';
import { Agent } from 'undici';

const destination = process.argv[2];
if (!destination) {
  console.error('usage: node examples/custom-transport.mjs <registry/repo:tag>');
  process.exit(2);
}
const logRequests = (dispatch) => (opts, handler) => {
  console.error(`${opts.method} ${opts.origin}${opts.path.split('?')[0]}`);
  return dispatch(opts, handler);
};
const dispatcher = new Agent({ connections: 8 }).compose(logRequests);
const result = await build({
  context: path.join(path.dirname(new URL(import.meta.url).pathname), 'hello'),
  destinations: [destination],
  registry: { dispatcher, insecureRegistries: [destination.split('/')[0]] },
});
console.log(result.digest);
await dispatcher.close();
