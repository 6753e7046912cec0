import diagnosticsChannel from 'node:diagnostics_channel';
import { memoryContext } from '@kiln/context';
import { MemoryDispatcher, MemoryRegistry } from '@kiln/registry/testing';
import { describe, expect, test } from 'vitest';
import { type BuildEvent, build, KilnError } from '../src/index.js';

/** A build against the in-memory registry, through an injected transport: no socket, no disk context. */
function setup() {
  const registry = new MemoryRegistry();
  const dispatcher = new MemoryDispatcher(registry);
  return { registry, options: { registry: { dispatcher, insecureRegistries: ['registry.test'] } } };
}

describe('build() with an in-memory context and the in-memory registry', () => {
  test('pushes an image whose manifest and blobs are all in the registry, and reports events in order', async () => {
    const { registry, options } = setup();
    const events: BuildEvent[] = [];
    const channel: unknown[] = [];
    const onChannel = (m: unknown) => channel.push(m);
    diagnosticsChannel.subscribe('kiln:build', onChannel);
    try {
      const result = await build({
        ...options,
        dockerfile: 'FROM scratch\nCOPY app/ /app/\nENV MODE=test\nCMD ["/app/run"]\n',
        context: memoryContext({
          'app/run': { content: '#!/bin/sh\n', mode: 0o755 },
          'app/data.txt': 'data\n',
        }),
        destinations: ['registry.test/team/app:1'],
        onEvent: (e) => events.push(e),
      });
      expect(registry.tagDigest('team/app', '1')).toBe(result.digest);
      for (const l of result.layers) expect(registry.hasBlob('team/app', l.digest)).toBe(true);
      expect(registry.hasBlob('team/app', result.configDigest)).toBe(true);
      const types = events.map((e) => e.type);
      expect(types[0]).toBe('build-start');
      expect(types.at(-1)).toBe('build-end');
      expect(types.indexOf('stage-start')).toBeLessThan(types.indexOf('instruction-start'));
      expect(types.lastIndexOf('instruction-end')).toBeLessThan(types.indexOf('output'));
      const copyEnd = events.find((e) => e.type === 'instruction-end' && e.text.startsWith('COPY'));
      expect(copyEnd && 'layer' in copyEnd && copyEnd.layer?.digest).toBe(result.layers[0]!.digest);
      expect(channel).toEqual(events);
      expect(result.instructions.map((i) => i.text)).toEqual([
        'COPY app/ /app/',
        'ENV MODE=test',
        'CMD ["/app/run"]',
      ]);
    } finally {
      diagnosticsChannel.unsubscribe('kiln:build', onChannel);
    }
  });

  test('independent stages run concurrently: both start before either ends', async () => {
    const { options } = setup();
    const events: BuildEvent[] = [];
    await build({
      ...options,
      dockerfile:
        'FROM scratch AS a\nCOPY a /a\n\nFROM scratch AS b\nCOPY b /b\n\nFROM scratch\nCOPY --from=a /a /a\nCOPY --from=b /b /b\n',
      context: memoryContext({ a: 'a', b: 'b' }),
      noPush: true,
      onEvent: (e) => events.push(e),
    });
    const order = events
      .filter((e) => e.type === 'stage-start' || e.type === 'stage-end')
      .map((e) => `${e.type}:${'stage' in e ? e.stage : ''}`);
    expect(order.indexOf('stage-start:1')).toBeLessThan(order.indexOf('stage-end:0'));
    expect(order.indexOf('stage-start:0')).toBeLessThan(order.indexOf('stage-end:1'));
  });

  test('stages the target does not need are not built', async () => {
    const { options } = setup();
    const events: BuildEvent[] = [];
    const r = await build({
      ...options,
      dockerfile: 'FROM scratch AS unused\nCOPY missing-file /x\n\nFROM scratch\nLABEL a=b\n',
      context: memoryContext({}),
      noPush: true,
      onEvent: (e) => events.push(e),
    });
    expect(r.stages.map((s) => s.index)).toEqual([1]);
    expect(events.filter((e) => e.type === 'stage-start')).toHaveLength(1);
  });

  test('a RUN in a build without an executor fails before any work, naming the line', async () => {
    const { registry, options } = setup();
    const events: BuildEvent[] = [];
    const err = await build({
      ...options,
      executor: false,
      dockerfile: 'FROM scratch\nCOPY a /a\nRUN echo hi\n',
      context: memoryContext({ a: 'a' }),
      destinations: ['registry.test/x:1'],
      onEvent: (e) => events.push(e),
    }).catch((e) => e);
    expect(KilnError.is(err)).toBe(true);
    expect(err.code).toBe('KILN_NO_EXECUTOR');
    expect(err.message).toMatch(/Dockerfile:3: RUN echo hi/);
    expect(events.filter((e) => e.type === 'stage-start')).toEqual([]);
    expect(registry.blobCount).toBe(0);
  });

  test('a failing instruction pushes nothing: no blob, no manifest', async () => {
    const { registry, options } = setup();
    const err = await build({
      ...options,
      dockerfile: 'FROM scratch\nCOPY a /a\nCOPY nope /nope\n',
      context: memoryContext({ a: 'a' }),
      destinations: ['registry.test/x:1'],
    }).catch((e) => e);
    expect(err.message).toMatch(/Dockerfile:3: COPY nope \/nope: .*nope.*not found/);
    expect(registry.blobCount).toBe(0);
    expect(registry.tagDigest('x', '1')).toBeUndefined();
  });

  test('an aborted build stops with the abort reason', async () => {
    const { options } = setup();
    const ac = new AbortController();
    ac.abort(new Error('stop now'));
    await expect(
      build({
        ...options,
        dockerfile: 'FROM scratch\n',
        context: memoryContext({}),
        noPush: true,
        signal: ac.signal,
      }),
    ).rejects.toThrow('stop now');
  });
});

describe('UndefinedVar on stages built on an image (checked at dispatch, where the base Env is known)', () => {
  async function withBase() {
    const { registry, options } = setup();
    await build({
      ...options,
      dockerfile: 'FROM scratch\nENV FROM_BASE=1\n',
      context: memoryContext({}),
      destinations: ['registry.test/base:1'],
    });
    return { registry, options };
  }

  test('warns for a variable neither the base Env, an ENV nor an ARG defines; not for those that are', async () => {
    const { options } = await withBase();
    const events: BuildEvent[] = [];
    const r = await build({
      ...options,
      dockerfile:
        'FROM registry.test/base:1\nARG DECLARED\nENV A=$FROM_BASE B=$DECLARED C=$NOWHERE_DEFINED\n',
      context: memoryContext({}),
      noPush: true,
      onEvent: (e) => events.push(e),
    });
    const undefinedVars = r.warnings.filter((w) => w.rule === 'UndefinedVar');
    expect(undefinedVars.map((w) => [w.line, /NOWHERE_DEFINED/.test(w.message)])).toEqual([[3, true]]);
    expect(events.some((e) => e.type === 'warning' && e.rule === 'UndefinedVar')).toBe(true);
  });

  test('# check=error=true turns it into a failed build naming the line', async () => {
    const { options } = await withBase();
    const err = await build({
      ...options,
      dockerfile: '# check=error=true\nFROM registry.test/base:1\nLABEL x=$NOPE\n',
      context: memoryContext({}),
      noPush: true,
    }).catch((e) => e);
    expect(err.message).toMatch(/Dockerfile:3:.*UndefinedVar/);
  });
});
