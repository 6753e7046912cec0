import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MockAgent } from 'undici';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { downloadUrl } from '../src/index.js';
import { removeAll } from './helpers/fixture-tree.js';

const body = 'remote file body\n';
const sha = `sha256:${createHash('sha256').update(body).digest('hex')}`;
const temps: string[] = [];
let agent: MockAgent;
let dir: string;

beforeEach(async () => {
  agent = new MockAgent();
  agent.disableNetConnect();
  dir = await mkdtemp(join(tmpdir(), 'kiln-ctx-dl-'));
  temps.push(dir);
});
afterEach(() => agent.close());
afterAll(() => removeAll(temps));

describe('downloadUrl (ADD <url>)', () => {
  it('streams to disk with digest, size, Last-Modified and the final URL name', async () => {
    const pool = agent.get('https://files.example');
    pool.intercept({ path: '/latest' }).reply(302, '', { headers: { location: '/v1.2/tool%20x.tar.gz' } });
    pool
      .intercept({ path: '/v1.2/tool%20x.tar.gz' })
      .reply(200, body, { headers: { 'last-modified': 'Wed, 21 Oct 2015 07:28:00 GMT' } });
    const got = await downloadUrl('https://files.example/latest', { dir, dispatcher: agent, checksum: sha });
    expect({ ...got, file: undefined }).toEqual({
      file: undefined,
      size: body.length,
      digest: sha,
      name: 'tool x.tar.gz',
      lastModified: Date.parse('Wed, 21 Oct 2015 07:28:00 GMT'),
    });
    expect(await readFile(got.file, 'utf8')).toBe(body);
  });

  it('keeps nothing when the content does not match --checksum', async () => {
    agent.get('https://files.example').intercept({ path: '/f' }).reply(200, 'tampered');
    await expect(
      downloadUrl('https://files.example/f', { dir, dispatcher: agent, checksum: sha }),
    ).rejects.toMatchObject({ code: 'KILN_CONTEXT_CHECKSUM', message: expect.stringContaining(sha) });
    expect(await readdir(dir)).toEqual([]);
  });

  it('refuses a malformed checksum before fetching anything', async () => {
    await expect(
      downloadUrl('https://files.example/f', { dir, dispatcher: agent, checksum: 'md5:abc' }),
    ).rejects.toMatchObject({ code: 'KILN_CONTEXT_CHECKSUM' });
  });

  it('names the URL (without credentials) and the status of a failed GET', async () => {
    agent.get('https://files.example').intercept({ path: '/gone' }).reply(404, 'no');
    const err = await downloadUrl('https://u:s3cret@files.example/gone', { dir, dispatcher: agent }).catch(
      (e: Error) => e,
    );
    expect(err).toMatchObject({
      code: 'KILN_CONTEXT_HTTP_STATUS',
      message: expect.stringContaining('HTTP 404'),
    });
    expect((err as Error).message).not.toContain('s3cret');
  });
});
