import { describe, expect, test } from 'vitest';
import { resolveRunUser, runHome } from '../../src/executors/run-user.js';

const files = {
  '/etc/passwd': 'root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\nalias:x:1000:7::/:/bin/sh\n',
  '/etc/group': 'root:x:0:\nstaff:x:50:app,other\nwheel:x:10:app\ndup:x:50:app\napp:x:1000:\n',
};
const read = async (f: '/etc/passwd' | '/etc/group') => files[f];

const never = async () => {
  throw new Error('must not read the image');
};

describe('resolveRunUser (USER → uid, gid, supplementary groups, as the BuildKit oracle resolves it)', () => {
  test('the empty USER is 0:0 with no groups, without reading the image; root by name gets its memberships', async () => {
    expect(await resolveRunUser('', never)).toEqual({ uid: 0, gid: 0, groups: [] });
    const rootInWheel = async (f: '/etc/passwd' | '/etc/group') =>
      f === '/etc/passwd' ? 'root:x:0:0::/root:/bin/sh\n' : 'wheel:x:10:root\n';
    expect(await resolveRunUser('root', rootInWheel)).toEqual({ uid: 0, gid: 0, groups: [10] });
  });
  test('a numeric uid takes the first passwd entry with that uid, and its memberships (deduplicated)', async () => {
    expect(await resolveRunUser('1000', read)).toEqual({ uid: 1000, gid: 1000, groups: [50, 10] });
  });
  test('an explicit group replaces the primary group and drops the memberships', async () => {
    expect(await resolveRunUser('app:wheel', read)).toEqual({ uid: 1000, gid: 10, groups: [] });
    expect(await resolveRunUser('app:77', read)).toEqual({ uid: 1000, gid: 77, groups: [] });
  });
  test('a uid with no passwd entry gets gid 0; uid:gid and root:root never read the image', async () => {
    expect(await resolveRunUser('5555', read)).toEqual({ uid: 5555, gid: 0, groups: [] });
    expect(await resolveRunUser('5:6', never)).toEqual({ uid: 5, gid: 6, groups: [] });
    expect(await resolveRunUser('root:root', never)).toEqual({ uid: 0, gid: 0, groups: [] });
  });
  test('unknown names and an empty user part are errors with stable codes', async () => {
    await expect(resolveRunUser('ghost', read)).rejects.toMatchObject({ code: 'KILN_UNKNOWN_USER' });
    await expect(resolveRunUser('app:ghosts', read)).rejects.toMatchObject({ code: 'KILN_UNKNOWN_GROUP' });
    await expect(resolveRunUser(':50', read)).rejects.toMatchObject({ code: 'KILN_BAD_USER' });
    await expect(resolveRunUser('app', async () => undefined)).rejects.toMatchObject({
      code: 'KILN_UNKNOWN_USER',
    });
  });
});

describe('runHome (the HOME a RUN gets when its env has none)', () => {
  test('the first passwd entry with the uid gives it; no entry or an empty home gives /', async () => {
    expect(await runHome(0, read)).toBe('/root');
    expect(await runHome(1000, read)).toBe('/home/app');
    expect(await runHome(4242, read)).toBe('/');
    expect(await runHome(0, async () => undefined)).toBe('/');
    expect(await runHome(5, async (f) => (f === '/etc/passwd' ? 'x:x:5:5:::/bin/sh\n' : undefined))).toBe(
      '/',
    );
  });
});
