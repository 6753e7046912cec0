#!/usr/bin/env node
// Bench: kiln's registry push and pull of a ~500 MB image against `skopeo copy` of the same
// image to and from the same kind of registry (the real CNCF distribution registry on 127.0.0.1,
// one fresh instance per tool so neither profits from blobs the other left behind), and kiln's
// peak RSS while pushing and pulling one 1 GB blob (measured in a child process).
//
// Needs the built package: `pnpm tsc -b packages/registry`. Run: `node bench/registry-push-pull.mjs`.
// Sizes: KILN_BENCH_IMAGE_MB (default 500, split into 5 layers), KILN_BENCH_BLOB_MB (default 1024),
// KILN_BENCH_ROUNDS (default 3; medians are printed).
import { execFile, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createGzip } from 'node:zlib';
import { copyImage, OciLayout, RegistryClient, RegistryImage, sha256Digest } from '@kiln/registry';

const run = promisify(execFile);
const IMAGE_MB = Number(process.env.KILN_BENCH_IMAGE_MB ?? 500);
const BLOB_MB = Number(process.env.KILN_BENCH_BLOB_MB ?? 1024);
const LAYERS = 5;
const ROUNDS = Number(process.env.KILN_BENCH_ROUNDS ?? 3);

async function freePort() {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** Starts docker-registry (plain HTTP) with its storage under `dir`; returns host and stop(). */
async function startRegistry(dir) {
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  await mkdir(dir, { recursive: true });
  const config = join(dir, 'config.yml');
  await writeFile(
    config,
    `version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: ${join(dir, 'storage')}\n  maintenance:\n    uploadpurging:\n      enabled: false\nhttp:\n  addr: ${host}\n  secret: ${randomBytes(8).toString('hex')}\n`,
  );
  const child = spawn('docker-registry', ['serve', config], { stdio: 'ignore' });
  for (let i = 0; i < 200; i++) {
    try {
      const res = await fetch(`http://${host}/v2/`);
      if (res.status === 200) break;
    } catch {}
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    host,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', resolve);
        child.kill('SIGTERM');
      }),
  };
}

/** A tar holding one file of `size` random bytes, gzip level 1, written to `file`; returns digests. */
async function makeLayer(file, size) {
  const header = Buffer.alloc(512);
  header.write('data.bin', 0);
  header.write('0000644\0', 100);
  header.write('0000000\0', 108);
  header.write('0000000\0', 116);
  header.write(`${size.toString(8).padStart(11, '0')}\0`, 124);
  header.write('00000000000\0', 136);
  header.write('        ', 148);
  header.write('0', 156);
  header.write('ustar\0', 257);
  header.write('00', 263);
  let sum = 0;
  for (const b of header) sum += b;
  header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  const diff = createHash('sha256');
  const gz = createGzip({ level: 1 });
  const out = createWriteStream(file);
  const compressed = createHash('sha256');
  let csize = 0;
  gz.on('data', (c) => {
    compressed.update(c);
    csize += c.length;
  });
  gz.pipe(out);
  const write = (b) => {
    diff.update(b);
    return gz.write(b) ? undefined : new Promise((r) => gz.once('drain', r));
  };
  await write(header);
  for (let left = size; left > 0; ) {
    const n = Math.min(left, 1 << 20);
    await write(randomBytes(n));
    left -= n;
  }
  await write(Buffer.alloc(((512 - (size % 512)) % 512) + 1024));
  await new Promise((r) => {
    out.once('close', r);
    gz.end();
  });
  return {
    digest: `sha256:${compressed.digest('hex')}`,
    size: csize,
    diffId: `sha256:${diff.digest('hex')}`,
  };
}

/** Builds the ~IMAGE_MB OCI layout with kiln's OciLayout (from layer files). */
async function makeImageLayout(dir, work) {
  const layout = new OciLayout(dir, 'bench');
  const layers = [];
  for (let i = 0; i < LAYERS; i++) {
    const file = join(work, `layer${i}.tgz`);
    const l = await makeLayer(file, Math.floor((IMAGE_MB * 1024 * 1024) / LAYERS));
    const desc = { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: l.digest, size: l.size };
    await layout.putBlob(desc, () => createReadStream(file));
    await rm(file);
    layers.push({ desc, diffId: l.diffId });
  }
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: {},
      rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
    }),
  );
  const configDesc = {
    mediaType: 'application/vnd.oci.image.config.v1+json',
    digest: sha256Digest(config),
    size: config.length,
  };
  await layout.putBlob(configDesc, () => Readable.from([config]));
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: configDesc,
      layers: layers.map((l) => l.desc),
    }),
  );
  await layout.putManifest('bench', manifest, 'application/vnd.oci.image.manifest.v1+json');
  return layers.reduce((n, l) => n + l.desc.size, config.length);
}

import { Readable } from 'node:stream';

async function time(fn) {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

/** Child mode: push then pull one BLOB_MB blob through kiln, print peak RSS. */
async function rssChild(host, file, digest, size, outFile) {
  const client = new RegistryClient({ insecure: [host], dockerConfig: false });
  const desc = { mediaType: 'application/octet-stream', digest, size };
  const ref = `${host}/bench/bigblob`;
  const t0 = Date.now();
  await client.pushBlob(ref, desc, () => createReadStream(file));
  const t1 = Date.now();
  const s = await client.openBlob(ref, desc);
  await new Promise((resolve, reject) => {
    const out = createWriteStream(outFile);
    s.on('error', reject);
    out.on('error', reject);
    out.on('close', resolve);
    s.pipe(out);
  });
  const t2 = Date.now();
  await client.close();
  process.stdout.write(
    JSON.stringify({
      maxRssKiB: process.resourceUsage().maxRSS,
      pushS: (t1 - t0) / 1000,
      pullS: (t2 - t1) / 1000,
    }),
  );
}

async function main() {
  if (process.argv[2] === '--rss-child')
    return rssChild(...process.argv.slice(3, 6), Number(process.argv[6]), process.argv[7]);
  const work = await mkdtemp(join(tmpdir(), 'kiln-bench-registry-'));
  const regs = [];
  try {
    const src = join(work, 'src-layout');
    process.stderr.write(`making a ${IMAGE_MB} MB image (${LAYERS} random gzip layers)...\n`);
    const bytes = await makeImageLayout(src, work);
    const mb = bytes / 1024 / 1024;
    // ROUNDS rounds, each against two fresh registries (so neither tool finds blobs left by an
    // earlier round, and skopeo's blob-info cache cannot turn an upload into a mount); the
    // median of each measurement is reported, since the machine may be shared.
    const t = { kilnPush: [], skopeoPush: [], kilnPull: [], skopeoPull: [] };
    for (let round = 0; round < ROUNDS; round++) {
      const kilnReg = await startRegistry(join(work, `reg-kiln-${round}`));
      const skopeoReg = await startRegistry(join(work, `reg-skopeo-${round}`));
      regs.push(kilnReg, skopeoReg);
      const client = new RegistryClient({ insecure: [kilnReg.host], dockerConfig: false });
      const kref = `${kilnReg.host}/bench/img:1`;
      const sref = `${skopeoReg.host}/bench/img:1`;
      const kdir = join(work, 'kiln-pulled');
      const sdir = join(work, 'skopeo-pulled');
      const kilnPush = () => copyImage(new OciLayout(src, 'bench'), new RegistryImage(client, kref));
      const skopeoPush = () =>
        run('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', `oci:${src}:bench`, `docker://${sref}`]);
      const kilnPull = () => copyImage(new RegistryImage(client, kref), new OciLayout(kdir, 'bench'));
      const skopeoPull = () =>
        run('skopeo', ['copy', '--quiet', '--src-tls-verify=false', `docker://${sref}`, `oci:${sdir}:bench`]);
      // Alternate which tool goes first, so neither always runs right after the other's burst.
      if (round % 2 === 0) {
        t.kilnPush.push(await time(kilnPush));
        t.skopeoPush.push(await time(skopeoPush));
        t.kilnPull.push(await time(kilnPull));
        t.skopeoPull.push(await time(skopeoPull));
      } else {
        t.skopeoPush.push(await time(skopeoPush));
        t.kilnPush.push(await time(kilnPush));
        t.skopeoPull.push(await time(skopeoPull));
        t.kilnPull.push(await time(kilnPull));
      }
      await client.close();
      await rm(kdir, { recursive: true });
      await rm(sdir, { recursive: true });
      await kilnReg.stop();
      await skopeoReg.stop();
      await rm(join(work, `reg-kiln-${round}`), { recursive: true });
      await rm(join(work, `reg-skopeo-${round}`), { recursive: true });
    }
    await rm(src, { recursive: true });
    const median = (xs) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
    const kilnPush = median(t.kilnPush);
    const skopeoPush = median(t.skopeoPush);
    const kilnPull = median(t.kilnPull);
    const skopeoPull = median(t.skopeoPull);
    const bigReg = await startRegistry(join(work, 'reg-big'));
    regs.push(bigReg);

    const row = (what, k, s) =>
      `${what.padEnd(6)} kiln ${k.toFixed(2)} s (${(mb / k).toFixed(0)} MB/s)   skopeo ${s.toFixed(2)} s (${(mb / s).toFixed(0)} MB/s)   kiln/skopeo throughput ${(s / k).toFixed(2)}x`;
    console.log(
      `image: ${mb.toFixed(0)} MB in ${LAYERS} layers + config, registry: distribution on 127.0.0.1 (plain HTTP), median of ${ROUNDS} rounds`,
    );
    console.log(row('push', kilnPush, skopeoPush));
    console.log(row('pull', kilnPull, skopeoPull));

    // Peak RSS while moving one big blob (in a child, so this process's buffers do not count).
    const big = join(work, 'big.bin');
    process.stderr.write(`making a ${BLOB_MB} MB random blob...\n`);
    await run('sh', ['-c', `head -c ${BLOB_MB}M /dev/urandom > ${big}`]);
    const { stdout: sum } = await run('sha256sum', [big]);
    const { size } = await stat(big);
    const { stdout } = await run(
      process.execPath,
      [
        fileURLToPath(import.meta.url),
        '--rss-child',
        bigReg.host,
        big,
        `sha256:${sum.split(' ')[0]}`,
        String(size),
        join(work, 'big.out'),
      ],
      {
        maxBuffer: 1 << 20,
      },
    );
    const r = JSON.parse(stdout);
    console.log(
      `${BLOB_MB} MB blob: push ${r.pushS.toFixed(2)} s, pull ${r.pullS.toFixed(2)} s (verified), kiln peak RSS ${(r.maxRssKiB / 1024).toFixed(0)} MB (target < 150 MB)`,
    );
  } finally {
    for (const r of regs) await r.stop();
    await rm(work, { recursive: true, force: true });
  }
}

await main();
