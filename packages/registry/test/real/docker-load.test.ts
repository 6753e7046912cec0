import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type DockerEngine,
  ensureDockerEngine,
  stopDockerEngine,
} from '../../../../test/lib/docker-engine.js';
import { copyImage, DockerArchive, OciLayout } from '../../src/index.js';
import { opener } from '../helpers/images.js';
import { realImage } from '../helpers/layer-tar.js';

// A private dockerd (Debian docker.io 20.10) under a temp state dir, stopped afterwards.
let state: string;
let engine: DockerEngine;

beforeAll(async () => {
  state = await mkdtemp(join(tmpdir(), 'kiln-dockerd-'));
  engine = await ensureDockerEngine(state, []);
}, 120_000);
afterAll(async () => {
  if (state) {
    await stopDockerEngine(state);
    await rm(state, { recursive: true, force: true });
  }
}, 60_000);

/** Writes `img` into an OCI layout, then copies it into a docker-archive at `file` named `ref`. */
async function kilnArchive(img: ReturnType<typeof realImage>, name: string, ref: string): Promise<string> {
  const layout = new OciLayout(join(state, `layout-${name}`), 'x');
  for (const b of [img.config, ...img.layers]) await layout.putBlob(b.desc, opener(b.bytes));
  await layout.putManifest('x', img.manifest, img.mediaType);
  const file = join(state, `${name}.tar`);
  const archive = new DockerArchive(file, ref);
  await copyImage(layout, archive);
  await archive.close();
  return file;
}

describe('docker-archive and docker load / docker save', () => {
  it('docker loads what kiln wrote (gzip layers kept), with the config and diff_ids kiln wrote', async () => {
    const img = realImage([3000, 5000], { docker: true });
    const file = await kilnArchive(img, 'kiln', 'kiln/loadme:1.0');
    const load = await engine.docker(['load', '-i', file]);
    expect(load.stdout).toContain('Loaded image: kiln/loadme:1.0');
    const [inspected] = JSON.parse((await engine.docker(['image', 'inspect', 'kiln/loadme:1.0'])).stdout);
    expect(inspected.Id).toBe(img.config.desc.digest);
    expect(inspected.RootFS.Layers).toEqual(img.diffIds);
  }, 60_000);

  it('kiln reads what docker save wrote (legacy <id>/layer.tar layout)', async () => {
    const img = realImage([2000], { docker: true });
    const file = await kilnArchive(img, 'first', 'kiln/saveme:2');
    await engine.docker(['load', '-i', file]);
    const saved = join(state, 'saved.tar');
    await engine.docker(['save', '-o', saved, 'kiln/saveme:2']);
    const fromDocker = new DockerArchive(saved, 'kiln/saveme:2');
    const resolved = await fromDocker.resolve();
    expect(resolved.configDigest).toBe(img.config.desc.digest);
    expect(resolved.layers.map((l) => l.digest)).toEqual(img.diffIds); // docker saves layers uncompressed
    const copy = new OciLayout(join(state, 'layout3'), 'z');
    await copyImage(fromDocker, copy); // every layer verified against its digest on the way
    await fromDocker.close();
    expect((await copy.resolve()).config.rootfs.diff_ids).toEqual(img.diffIds);
  }, 60_000);
});
