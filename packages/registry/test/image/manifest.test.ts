import { describe, expect, it } from 'vitest';
import {
  assertDigest,
  type ImageIndex,
  isDigest,
  MediaType,
  parseManifest,
  parsePlatform,
  platformMatches,
  selectPlatform,
  sha256Digest,
} from '../../src/index.js';

const d = (c: string) => `sha256:${c.repeat(64)}`;
const desc = (c: string, extra: object = {}) => ({
  mediaType: MediaType.OciManifest,
  digest: d(c),
  size: 1,
  ...extra,
});
const json = (o: unknown) => Buffer.from(JSON.stringify(o));

describe('parseManifest', () => {
  it('takes the type from the body, else the Content-Type, else the shape', () => {
    const image = { schemaVersion: 2, config: desc('a'), layers: [desc('b')] };
    expect(
      parseManifest(json({ ...image, mediaType: MediaType.DockerManifest }), MediaType.OciManifest, 'x')
        .mediaType,
    ).toBe(MediaType.DockerManifest);
    expect(parseManifest(json(image), MediaType.DockerManifest, 'x').mediaType).toBe(
      MediaType.DockerManifest,
    );
    expect(parseManifest(json(image), 'application/json', 'x').mediaType).toBe(MediaType.OciManifest);
    expect(parseManifest(json({ schemaVersion: 2, manifests: [] }), undefined, 'x').kind).toBe('index');
  });

  it('computes the digest of the exact bytes', () => {
    const bytes = Buffer.from(
      `{ "schemaVersion": 2, "config": ${JSON.stringify(desc('a'))}, "layers": [] }\n`,
    );
    expect(parseManifest(bytes, MediaType.OciManifest, 'x').digest).toBe(sha256Digest(bytes));
  });

  it.each([
    [
      { schemaVersion: 1, name: 'a', tag: 'b', fsLayers: [] },
      undefined,
      'KILN_MANIFEST_UNSUPPORTED',
      /schema 1/,
    ],
    [
      { schemaVersion: 2, mediaType: MediaType.DockerSchema1Signed },
      undefined,
      'KILN_MANIFEST_UNSUPPORTED',
      /schema 1/,
    ],
    [
      { schemaVersion: 2, config: desc('a'), layers: [] },
      MediaType.DockerSchema1,
      'KILN_MANIFEST_UNSUPPORTED',
      /schema 1/,
    ],
    [{ schemaVersion: 3 }, MediaType.OciManifest, 'KILN_MANIFEST_INVALID', /schemaVersion 3/],
    [{ schemaVersion: 2, config: desc('a') }, MediaType.OciManifest, 'KILN_MANIFEST_INVALID', /no "layers"/],
    [
      { schemaVersion: 2, config: { mediaType: 'x', digest: 'sha256:zz', size: 1 }, layers: [] },
      MediaType.OciManifest,
      'KILN_MANIFEST_INVALID',
      /config has an invalid digest/,
    ],
    [
      { schemaVersion: 2, config: desc('a'), layers: [{ ...desc('b'), size: -1 }] },
      MediaType.OciManifest,
      'KILN_MANIFEST_INVALID',
      /layers\[0\] has an invalid size/,
    ],
    [
      { schemaVersion: 2, mediaType: 'application/vnd.example+json' },
      undefined,
      'KILN_MANIFEST_UNSUPPORTED',
      /unsupported media type/,
    ],
    [[1, 2], undefined, 'KILN_MANIFEST_INVALID', /not a JSON object/],
  ])('refuses %j (%s)', (body, ct, code, message) => {
    let err: unknown;
    try {
      parseManifest(json(body), ct, 'https://reg/v2/x/manifests/y');
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code });
    expect((err as Error).message).toMatch(message);
    expect((err as Error).message).toContain('https://reg/v2/x/manifests/y');
  });

  it('refuses bytes that are not JSON', () => {
    expect(() => parseManifest(Buffer.from('<html>'), undefined, 'x')).toThrow(/not valid JSON/);
  });
});

describe('platforms', () => {
  const index: ImageIndex = {
    schemaVersion: 2,
    manifests: [
      desc('1', { platform: { os: 'linux', architecture: 'amd64' } }),
      desc('2', { platform: { os: 'linux', architecture: 'arm64' } }),
      desc('3', { platform: { os: 'linux', architecture: 'arm', variant: 'v6' } }),
      desc('4', { platform: { os: 'linux', architecture: 'arm', variant: 'v7' } }),
      desc('5', {
        platform: { os: 'unknown', architecture: 'unknown' },
        annotations: { 'vnd.docker.reference.type': 'attestation-manifest' },
      }),
    ],
  };
  it.each([
    ['linux/amd64', d('1')],
    ['linux/arm64', d('2')],
    ['linux/arm64/v8', d('2')], // arm64 without a variant means v8
    ['linux/arm/v7', d('4')],
    ['linux/arm/v6', d('3')],
  ])('%s selects the right entry', (p, digest) => {
    expect(selectPlatform(index, parsePlatform(p), 'img').digest).toBe(digest);
  });
  it('a missing platform lists what is available, without attestation entries', () => {
    expect(() => selectPlatform(index, parsePlatform('windows/amd64'), 'reg/img:1')).toThrow(
      'reg/img:1 has no image for platform windows/amd64; available: linux/amd64, linux/arm64, linux/arm/v6, linux/arm/v7',
    );
  });
  it('parsePlatform validates os/arch[/variant]', () => {
    expect(parsePlatform('linux/arm/v7')).toEqual({ os: 'linux', architecture: 'arm', variant: 'v7' });
    expect(() => parsePlatform('linux')).toThrow(/os\/arch/);
    expect(() => parsePlatform('linux//v7')).toThrow(/os\/arch/);
    expect(platformMatches(undefined, { os: 'linux', architecture: 'amd64' })).toBe(false);
  });
});

describe('digests', () => {
  it('accepts sha256/sha512 in canonical form only', () => {
    expect(isDigest(d('a'))).toBe(true);
    expect(isDigest(`sha512:${'a'.repeat(128)}`)).toBe(true);
    expect(isDigest(d('A'))).toBe(false);
    expect(isDigest('sha256:abc')).toBe(false);
    expect(isDigest(`md5:${'a'.repeat(32)}`)).toBe(false);
    expect(() => assertDigest('../../etc/passwd', 'layer digest')).toThrow(
      /layer digest "..\/..\/etc\/passwd" is not a sha256\/sha512 digest/,
    );
  });
});
