// How to unit-test your own pipeline that calls build(): an in-memory context, the in-memory registry of
// @kiln/registry/testing as the transport, no daemon, no disk, no network.
import { memoryContext } from '@kiln/context';
import { build } from '@kiln/core';
import { MemoryDispatcher, MemoryRegistry } from '@kiln/registry/testing';
import { expect, test } from 'vitest';

test('my pipeline pushes an image with the app and its config', async () => {
  const registry = new MemoryRegistry();
  const result = await build({
    dockerfile: 'FROM scratch\nCOPY dist/ /app/\nENTRYPOINT ["/app/server"]\n',
    context: memoryContext({ 'dist/server': { content: 'binary', mode: 0o755 }, 'dist/config.json': '{}' }),
    destinations: ['registry.test/my/app:1.0'],
    registry: { dispatcher: new MemoryDispatcher(registry), insecureRegistries: ['registry.test'] },
  });
  expect(registry.tagDigest('my/app', '1.0')).toBe(result.digest);
  expect(result.layers).toHaveLength(1);
});
