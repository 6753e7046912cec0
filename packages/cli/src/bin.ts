#!/usr/bin/env node
import { reexecInUserNamespace } from '@kiln/core';
import { main } from './main.js';

const args = process.argv.slice(2);
// A build by an ordinary user runs as root in a user namespace of its own (with the user's subordinate ids),
// so RUN stages get the image's file owners; see reexecInUserNamespace. Help and version need none.
if (args[0] === 'build' && !args.some((a) => a === '--help' || a === '-h')) {
  const status = await reexecInUserNamespace();
  if (status !== undefined) process.exit(status);
}
const code = await main(args, {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
});
process.exitCode = code;
