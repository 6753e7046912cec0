// Builds examples/hello and pushes it to a registry, printing name@digest for every destination.
//   node examples/push-to-registry.mjs 127.0.0.1:5000/examples/hello:latest [--insecure]
import path from 'node:path';
import { build } from '@kiln/core';

const [destination, flag] = process.argv.slice(2);
if (!destination) {
  console.error('usage: node examples/push-to-registry.mjs <registry/repo:tag> [--insecure]');
  process.exit(2);
}
const host = destination.split('/')[0];
const result = await build({
  context: path.join(path.dirname(new URL(import.meta.url).pathname), 'hello'),
  destinations: [destination],
  buildArgs: { GREETING: 'pushed by kiln' },
  // Plain HTTP only when asked: a local test registry, never a real one.
  registry: flag === '--insecure' ? { insecureRegistries: [host] } : {},
  onEvent: (e) => {
    if (e.type === 'push')
      console.error(
        `blob ${e.digest.slice(7, 19)}: ${e.mounted ? 'mounted' : e.existed ? 'already there' : 'uploaded'}`,
      );
  },
});
for (const d of result.destinations) console.log(d.digestReference);
