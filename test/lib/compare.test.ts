import { describe, expect, it } from 'vitest';
import { diffConfigs, diffLayers, diffListings, normalizeConfig } from './compare.js';
import type { LayerTarEntry } from './layer-listing.js';
import type { RootfsEntry } from './unpack.js';

describe('normalizeConfig', () => {
  it('keeps Dockerfile-controlled fields, drops builder noise, empties and key order', () => {
    const n = normalizeConfig({
      architecture: 'amd64',
      os: 'linux',
      created: '2024-01-01T00:00:00Z',
      config: {
        Hostname: 'abc123',
        Image: 'sha256:deadbeef',
        ArgsEscaped: true,
        AttachStdout: false,
        Env: ['A=1'],
        Cmd: null,
        Entrypoint: [],
        WorkingDir: '',
        Labels: { 'io.buildah.version': '1.28.2', z: '1', a: '2' },
        ExposedPorts: { '80/tcp': {} },
        Volumes: {},
        Healthcheck: { Test: ['NONE'] },
      },
      history: [{ created_by: 'x' }],
    });
    expect(n).toEqual({
      architecture: 'amd64',
      os: 'linux',
      config: {
        Env: ['A=1'],
        Labels: { a: '2', z: '1' },
        ExposedPorts: { '80/tcp': {} },
        Healthcheck: { Test: ['NONE'] },
      },
    });
    expect(Object.keys(n.config.Labels as object)).toEqual(['a', 'z']);
  });

  it('drops Labels entirely when only builder labels were set, and adds history on request', () => {
    const n = normalizeConfig(
      {
        config: { Labels: { 'io.buildah.version': '1' } },
        history: [{ created_by: 'RUN x', empty_layer: true }, {}],
      },
      { history: true },
    );
    expect(n.config).toEqual({});
    expect(n.history).toEqual([
      { created_by: 'RUN x', empty_layer: true },
      { created_by: '', empty_layer: false },
    ]);
  });
});

describe('diffConfigs', () => {
  it('names each differing field with both values, and unset sides', () => {
    const a = normalizeConfig({ os: 'linux', config: { User: 'app', Cmd: ['sh'] } });
    const b = normalizeConfig({ os: 'linux', variant: 'v8', config: { Cmd: ['bash'] } });
    expect(diffConfigs(a, b)).toEqual([
      'variant: A=(unset) B="v8"',
      'config.User: A="app" B=(unset)',
      'config.Cmd: A=["sh"] B=["bash"]',
    ]);
    expect(diffConfigs(a, a)).toEqual([]);
  });
});

describe('diffListings / diffLayers', () => {
  const f = (path: string, over: Partial<RootfsEntry> = {}): RootfsEntry => ({
    path,
    type: 'f',
    mode: '0644',
    uid: 0,
    gid: 0,
    size: 1,
    sha256: 'aa',
    ...over,
  });

  it('reports changed, missing and extra paths in path order', () => {
    const out = diffListings([f('a'), f('b'), f('c')], [f('a'), f('b', { mode: '0755' }), f('d')]);
    expect(out).toEqual([
      '- b\tf\t0644\t0:0\t1\taa\t-',
      '+ b\tf\t0755\t0:0\t1\taa\t-',
      '- c\tf\t0644\t0:0\t1\taa\t-',
      '+ d\tf\t0644\t0:0\t1\taa\t-',
    ]);
  });

  it('caps a long diff and says how many lines were left out', () => {
    const many = Array.from({ length: 300 }, (_, i) => f(`p${String(i).padStart(3, '0')}`));
    expect(diffListings(many, [])).toHaveLength(300);
    const capped = diffListings([...many, ...many.map((e) => f(`q${e.path}`))], []);
    expect(capped).toHaveLength(501);
    expect(capped.at(-1)).toBe('… 100 more lines');
  });

  it('reports layer count and per-layer differences with 1-based layer numbers', () => {
    const e = (name: string, mode = '0644'): LayerTarEntry => ({
      name,
      type: 'file',
      mode,
      uid: 0,
      gid: 0,
      size: 0,
    });
    expect(diffLayers([[e('x')], [e('y')]], [[e('x')], [e('y', '0600')], [e('z')]])).toEqual([
      'layer count: A=2 B=3',
      'layer 2: - file\t0644\t0:0\t0\ty',
      'layer 2: + file\t0600\t0:0\t0\ty',
    ]);
  });
});
