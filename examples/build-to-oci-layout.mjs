// Builds examples/hello into an OCI image layout directory and prints the digest.
//   node examples/build-to-oci-layout.mjs [out-dir]
import path from 'node:path';
import { build } from '@kiln/core';

const here = path.dirname(new URL(import.meta.url).pathname);
const out = process.argv[2] ?? path.join(here, '..', 'out', 'hello-layout');
const result = await build({
  context: path.join(here, 'hello'),
  dockerfilePath: 'Dockerfile',
  destinations: [`oci:${out}:latest`],
  reproducible: true,
});
console.log(result.digest);
