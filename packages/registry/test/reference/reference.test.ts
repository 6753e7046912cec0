import { describe, expect, it } from 'vitest';
import {
  InvalidReferenceError,
  isKilnRegistryError,
  makeReference,
  parseReference,
  referenceIdentifier,
} from '../../src/index.js';
import { invalidCases, validCases } from './reference-cases.js';

describe('parseReference: distribution/reference normalisation table', () => {
  it('has at least 100 cases', () => {
    expect(validCases.length + invalidCases.length).toBeGreaterThanOrEqual(100);
  });
  it.each(validCases)('%s parses and normalises', (input, registry, repository, tag, digest, familiar) => {
    const r = parseReference(input);
    expect({ registry: r.registry, repository: r.repository, tag: r.tag, digest: r.digest }).toEqual({
      registry,
      repository,
      tag,
      digest,
    });
    expect(r.familiar()).toBe(familiar);
    const full = `${registry}/${repository}${tag ? `:${tag}` : ''}${digest ? `@${digest}` : ''}`;
    expect(r.toString()).toBe(full);
    // The full form is a fixed point of parsing.
    expect(parseReference(r.toString()).toString()).toBe(full);
    expect(parseReference(r.familiar()).toString()).toBe(full);
  });
  it.each(invalidCases)('%j is rejected (%s)', (input, fragment) => {
    let err: unknown;
    try {
      parseReference(input);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InvalidReferenceError);
    expect(isKilnRegistryError(err)).toBe(true);
    expect((err as InvalidReferenceError).code).toBe('KILN_INVALID_REFERENCE');
    expect((err as Error).message).toContain(JSON.stringify(input));
    expect((err as Error).message).toContain(fragment);
  });
});

describe('reference helpers', () => {
  it('referenceIdentifier prefers digest, then tag, then latest', () => {
    expect(referenceIdentifier(parseReference('a'))).toBe('latest');
    expect(referenceIdentifier(parseReference('a:1'))).toBe('1');
    expect(referenceIdentifier(parseReference(`a:1@sha256:${'c'.repeat(64)}`))).toBe(
      `sha256:${'c'.repeat(64)}`,
    );
  });
  it('makeReference builds from parts and refuses a registry that would read as a path', () => {
    expect(makeReference({ registry: 'localhost:5000', repository: 'x', tag: 't' }).toString()).toBe(
      'localhost:5000/x:t',
    );
    expect(makeReference({ registry: 'index.docker.io', repository: 'busybox' }).toString()).toBe(
      'docker.io/library/busybox',
    );
    expect(() => makeReference({ registry: 'myhost', repository: 'x' })).toThrow(/not a registry host/);
  });
  it('serialises to JSON as its full string', () => {
    expect(JSON.stringify({ r: parseReference('busybox:1') })).toBe('{"r":"docker.io/library/busybox:1"}');
  });
});
