import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, test } from 'vitest';
import { uniqueRepo } from './build/helpers.js';
import { inspectImage } from './lib/compare.js';
import { testEnv } from './lib/test-env.js';

const run = promisify(execFile);
const examples = path.resolve(import.meta.dirname, '../examples');

describe('the examples run as documented', () => {
  test('build-to-oci-layout.mjs writes a layout skopeo reads, with the printed digest', async () => {
    const out = path.join(testEnv().stateDir, uniqueRepo('example-layout'));
    const { stdout } = await run(process.execPath, [path.join(examples, 'build-to-oci-layout.mjs'), out]);
    expect((await inspectImage(`oci:${out}:latest`)).digest).toBe(stdout.trim());
  });
  test('push-to-registry.mjs pushes and prints name@digest', async () => {
    const env = testEnv();
    const repo = `${env.registry}/${uniqueRepo('example-push')}`;
    const { stdout } = await run(process.execPath, [
      path.join(examples, 'push-to-registry.mjs'),
      `${repo}:latest`,
      '--insecure',
    ]);
    const [line] = stdout.trim().split('\n');
    const digest = line!.split('@')[1]!;
    expect(line).toBe(`${repo}@${digest}`);
    expect((await inspectImage(`docker://${repo}:latest`)).digest).toBe(digest);
  });
  test('custom-transport.mjs routes every request through the given dispatcher', async () => {
    const env = testEnv();
    const repo = `${env.registry}/${uniqueRepo('example-transport')}`;
    const { stdout, stderr } = await run(process.execPath, [
      path.join(examples, 'custom-transport.mjs'),
      `${repo}:t`,
    ]);
    expect((await inspectImage(`docker://${repo}:t`)).digest).toBe(stdout.trim());
    expect(stderr).toMatch(
      new RegExp(`PUT http://${env.registry}/v2/${repo.split('/').slice(1).join('/')}/manifests/t`),
    );
  });
});
