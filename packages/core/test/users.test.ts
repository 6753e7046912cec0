import { describe, expect, test } from 'vitest';
import { resolveChown } from '../src/fs/users.js';

const db = {
  passwd: async () => 'root:x:0:0:root:/root:/bin/sh\napp:x:1001:1002::/home/app:/bin/sh\nbroken line\n',
  group: async () => 'root:x:0:\napp:x:1002:\nstaff:x:50:app\n',
};

describe('resolveChown follows BuildKit: names from the image; a lone uid doubles as gid, a lone name takes its primary group', () => {
  test.each([
    ['1000', { uid: 1000, gid: 1000 }],
    ['1000:50', { uid: 1000, gid: 50 }],
    ['app', { uid: 1001, gid: 1002 }],
    ['app:staff', { uid: 1001, gid: 50 }],
    ['0:app', { uid: 0, gid: 1002 }],
  ])('%s', async (spec, want) => {
    expect(await resolveChown(spec, db)).toEqual(want);
  });
  test('an unknown user names the user and the file', async () => {
    await expect(resolveChown('ghost', db)).rejects.toThrow(/unable to find user ghost.*\/etc\/passwd/);
  });
  test('an unknown group names the group', async () => {
    await expect(resolveChown('app:ghosts', db)).rejects.toThrow(/unable to find group ghosts/);
  });
  test('an image without /etc/passwd cannot resolve names', async () => {
    await expect(
      resolveChown('app', { passwd: async () => undefined, group: async () => undefined }),
    ).rejects.toThrow(/app/);
  });
});
