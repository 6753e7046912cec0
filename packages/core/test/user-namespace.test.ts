import { describe, expect, test } from 'vitest';
import { describeMap, identityMapText, idMapped, parseIdMap } from '../src/user-namespace.js';

describe('user namespace id maps', () => {
  // What /proc/self/uid_map shows inside `unshare --map-root-user --map-auto` for a user with uid 1001 and
  // the subordinate range 100000:65536.
  const mapped = parseIdMap('         0       1001          1\n         1     100000      65535\n');

  test('parses /proc uid_map text, ignoring blank lines', () => {
    expect(mapped).toEqual([
      { inner: 0, outer: 1001, count: 1 },
      { inner: 1, outer: 100000, count: 65535 },
    ]);
    expect(parseIdMap('0 0 4294967295\n\n')).toEqual([{ inner: 0, outer: 0, count: 4294967295 }]);
  });

  test('an identity map for a nested namespace has one extent per extent of the parent', () => {
    expect(identityMapText(mapped)).toBe('0 0 1\n1 1 65535\n');
    expect(identityMapText(parseIdMap('0 0 4294967295'))).toBe('0 0 4294967295\n');
  });

  test('tells which ids a map names', () => {
    expect(idMapped(mapped, 0)).toBe(true);
    expect(idMapped(mapped, 65535)).toBe(true);
    expect(idMapped(mapped, 65536)).toBe(false);
    const single = parseIdMap('0 1001 1');
    expect(idMapped(single, 0)).toBe(true);
    expect(idMapped(single, 33)).toBe(false);
    expect(describeMap(mapped)).toBe('0,1-65535');
    expect(describeMap(single)).toBe('0');
  });
});
