import { execFile } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** A PEM certificate with its key, and the files they were written to. */
export interface Issued {
  certFile: string;
  keyFile: string;
  certPem: string;
  keyPem: string;
}

// EC P-256 keys take milliseconds; RSA is only needed where a protocol insists (RS256 tokens).
const keyArgs = (alg: 'ec' | 'rsa') =>
  alg === 'ec' ? ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1'] : ['-newkey', 'rsa:2048'];

async function load(certFile: string, keyFile: string): Promise<Issued> {
  return {
    certFile,
    keyFile,
    certPem: await readFile(certFile, 'utf8'),
    keyPem: await readFile(keyFile, 'utf8'),
  };
}

/** makeCa: a throw-away self-signed CA in `dir` (openssl). */
export async function makeCa(dir: string, name: string, alg: 'ec' | 'rsa' = 'ec'): Promise<Issued> {
  await mkdir(dir, { recursive: true });
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  await run('openssl', [
    'req',
    '-x509',
    ...keyArgs(alg),
    '-nodes',
    '-sha256',
    '-days',
    '2',
    '-subj',
    `/CN=${name}`,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
    '-keyout',
    key,
    '-out',
    cert,
  ]);
  return load(cert, key);
}

/** issueCert: a certificate signed by `ca` with the given X.509 extensions (one per line). */
export async function issueCert(
  dir: string,
  ca: Issued,
  name: string,
  extensions: string[],
  alg: 'ec' | 'rsa' = 'ec',
): Promise<Issued> {
  const f = (ext: string) => join(dir, `${name}.${ext}`);
  await run('openssl', [
    'req',
    ...keyArgs(alg),
    '-nodes',
    '-sha256',
    '-subj',
    `/CN=${name}`,
    '-keyout',
    f('key'),
    '-out',
    f('csr'),
  ]);
  await writeFile(f('ext'), `${extensions.join('\n')}\n`);
  await run('openssl', [
    'x509',
    '-req',
    '-sha256',
    '-days',
    '2',
    '-in',
    f('csr'),
    '-CA',
    ca.certFile,
    '-CAkey',
    ca.keyFile,
    '-CAcreateserial',
    '-extfile',
    f('ext'),
    '-out',
    f('crt'),
  ]);
  return load(f('crt'), f('key'));
}
