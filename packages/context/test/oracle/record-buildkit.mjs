#!/usr/bin/env node
// Records what Docker's BuildKit copies for `COPY . /` under a set of .dockerignore files, and for
// `COPY <src> /out/` under a range of source patterns, into
// ../fixtures/buildkit-dockerignore.json, which dockerignore-buildkit.test.ts replays against kiln.
// Needs a Docker engine with BuildKit and a client that can `docker build -o type=local`:
//   DOCKER_HOST=unix:///path/docker.sock DOCKER_BUILDKIT=1 node record-buildkit.mjs [docker-binary]
import { execFileSync } from 'node:child_process';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const docker = process.argv[2] ?? 'docker';
const here = dirname(fileURLToPath(import.meta.url));

export const files = [
  'README.md',
  'CHANGES.md',
  'README-secret.md',
  'docs/a.md',
  'docs/keep.md',
  'docs/sub/deep.md',
  'a/b.md',
  'tempa',
  'tempab',
  'somedir/temporary.txt',
  'somedir/temp/inner.txt',
  'somedir/subdir/temporary.txt',
  'main.go',
  'cmd/tool/main.go',
  'node_modules/x/index.js',
  'pkg/node_modules/x/index.js',
  '# foo',
  'foo',
  'b',
  'a(b)c/def',
  'abc/def',
  'abc/x',
  'ab/c',
  '.foo',
  'bar.foo',
  'x.log',
  'sub/x.log',
  'ae',
  'ace',
  'aze',
  'axb',
  'a/x/b',
];

const variants = {
  'docs example': ['# comment', '*/temp*', '*/*/temp*', 'temp?'],
  'double star go': ['**/*.go'],
  'exceptions order 1': ['*.md', '!README*.md', 'README-secret.md'],
  'exceptions order 2': ['*.md', 'README-secret.md', '!README*.md'],
  'dir then exception': ['docs', '!docs/keep.md'],
  'comments and spaces': [' # foo', '# comment', 'node_modules', '   ', ''],
  cleaning: ['/foo', './b', 'a/../abc/x'],
  'everything but one': ['**', '!docs/keep.md'],
  'a**b quirk': ['a**b'],
  'build files excluded': ['Dockerfile', '.dockerignore'],
  'root star with md exception': ['*', '!*.md'],
  'dir contents then subdir exception': ['docs/**', '!docs/sub'],
  'dotdot patterns': ['../b', '/../foo'],
  'nested exception glob': ['*.md', '!docs/*.md'],
  'prefix star': ['a*', '!a/x'],
  'double star prefix': ['**/x*', '!sub'],
  'trailing slashes': ['docs/', '!docs/sub/'],
  'class range': ['[a-b]*', '!ab'],
  'any and negated class': ['a?[^b]'],
  'star slash': ['*/', 'x.log/'],
  'double star md keep': ['**/*.md', '!**/keep.md'],
  'middle star': ['docs/*/deep.md'],
  'escaped parens': ['a\\(b\\)c'],
  'node_modules anywhere': ['**/node_modules'],
  'log exception in subdir': ['*.log', '!sub/*.log'],
  'deep exception': ['docs', '!docs/sub/deep.md'],
  'dir exception child': ['ab', '!ab/c'],
  'dotdot inside': ['a/x/../b.md'],
  'dot files': ['.*'],
  'case sensitive': ['*.MD'],
  'lone bang': ['  !  ', 'foo'],
};

// Seeded random ignore files over the fixture names, for a differential check beyond the cases above.
const fuzzCount = Number(process.env.FUZZ ?? 40);
let seed = 20261122;
const pick = (xs) => xs[((seed = (seed * 1103515245 + 12345) & 0x7fffffff) >>> 16) % xs.length];
const fuzzSegments = [
  'a',
  'b',
  'ab',
  'docs',
  'sub',
  '*',
  '?',
  '**',
  '[a-c]*',
  'a*',
  '*.md',
  '*.log',
  'x*',
  '.*',
  'temp?',
  'node_modules',
];
for (let i = 0; i < fuzzCount; i++) {
  const lines = [];
  const n = 1 + (pick([0, 1, 2, 3, 4]) % 5);
  for (let j = 0; j < n; j++) {
    const depth = 1 + (pick([0, 1, 2]) % 3);
    const segs = Array.from({ length: depth }, () => pick(fuzzSegments));
    lines.push(`${pick(['', '', '!', '/'])}${segs.join('/')}`);
  }
  variants[`fuzz ${i}`] = lines;
}

/** COPY sources tried with `COPY <src> /out/`, under a fixed .dockerignore (`copyIgnore`). */
const copySources = [
  '*.md',
  'docs',
  'docs/',
  'docs/*',
  '*/*.md',
  'd?cs/*.md',
  '[a-c]*',
  '[^a-z]*',
  '../README.md',
  '/docs/../b',
  'missing',
  'missing*',
  'x.log',
  '*.log',
  'linkdir',
  'linkdir/*.md',
  'file-link',
  'a\\(b\\)c',
  '.',
  'sub',
  'somedir/*/temporary.txt',
  '**/*.md',
  'a*',
  'abslink/*.md',
  'abslink/keep.md',
  'abslink',
  'outlink/passwd',
  'outlink',
  'abs-file',
  '*link',
];
const copyIgnore = ['x.log', 'sub', 'docs/sub'];
// seeded random COPY sources over the same names
const copySegments = [
  'a',
  'ab',
  'docs',
  'somedir',
  'cmd',
  '*',
  '?',
  '[a-c]*',
  'a*',
  '*.md',
  'tool',
  '*.go',
  'x',
  'linkdir',
  '..',
];
for (let i = 0; i < fuzzCount; i++) {
  const depth = 1 + (pick([0, 1, 2]) % 3);
  copySources.push(Array.from({ length: depth }, () => pick(copySegments)).join('/'));
}
const links = {
  linkdir: 'docs',
  'file-link': 'README.md',
  abslink: '/docs',
  outlink: '../../etc',
  'abs-file': '/README.md',
};

/** Hand-made archives (tar-stream) fed to `docker build -`: hostile names, links, modes, odd types. */
const tarCases = {
  'modes and types': [
    { name: 'suid', content: 'x', mode: 0o4755 },
    { name: 'sgid', content: 'x', mode: 0o2750 },
    { name: 'tmp', type: 'directory', mode: 0o1777 },
    { name: 'private/key', content: 'k', mode: 0o600 },
    { name: 'link', type: 'symlink', linkname: '/etc/passwd' },
    { name: 'fifo', type: 'fifo', mode: 0o644 },
  ],
  'climbing names': [
    { name: '../evil', content: 'e' },
    { name: 'a/../../b', content: 'b' },
    { name: '/abs/c', content: 'c' },
    { name: './d', content: 'd' },
  ],
  'hard links': [
    { name: 'orig', content: 'shared', mode: 0o755 },
    { name: 'dup', type: 'link', linkname: 'orig', mode: 0o755 },
    { name: 'sub/dup2', type: 'link', linkname: 'orig', mode: 0o700 },
  ],
  'same name twice': [
    { name: 'f', content: 'first', mode: 0o644 },
    { name: 'f', content: 'second', mode: 0o600 },
  ],
  'implied parents': [{ name: 'x/y/z', content: 'z', mode: 0o640 }],
};

async function buildTar(members) {
  const { pack } = await import('tar-stream');
  const p = pack();
  const chunks = [];
  p.on('data', (c) => chunks.push(c));
  const done = new Promise((r) => p.on('end', r));
  for (const { content, ...h } of members) {
    const header = { type: 'file', mode: 0o644, mtime: new Date(0), ...h };
    await new Promise((res, rej) => {
      const cb = (err) => (err ? rej(err) : res());
      if (header.type === 'file') p.entry(header, content ?? '', cb);
      else p.entry(header, cb);
    });
  }
  p.finalize();
  await done;
  return Buffer.concat(chunks);
}

function walk(root, rel = '') {
  const out = [];
  for (const name of readdirSync(join(root, rel)).sort()) {
    const p = rel ? `${rel}/${name}` : name;
    const st = lstatSync(join(root, p));
    out.push(st.isSymbolicLink() ? `${p} -> ${readlinkSync(join(root, p))}` : p);
    if (st.isDirectory()) out.push(...walk(root, p));
  }
  return out;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const result = {
    recorded: new Date().toISOString(),
    engine: execFileSync(docker, ['version', '-f', '{{.Server.Version}}']).toString().trim(),
    files,
    variants: {},
  };
  for (const [name, lines] of Object.entries(variants)) {
    const ctx = mkdtempSync(join(tmpdir(), 'kiln-oracle-ctx-'));
    const out = mkdtempSync(join(tmpdir(), 'kiln-oracle-out-'));
    for (const f of files) {
      mkdirSync(dirname(join(ctx, f)), { recursive: true });
      writeFileSync(join(ctx, f), f);
    }
    writeFileSync(join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY . /\n');
    writeFileSync(join(ctx, '.dockerignore'), `${lines.join('\n')}\n`);
    try {
      execFileSync(docker, ['build', '--no-cache', '-q', '-o', `type=local,dest=${out}`, ctx], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      result.variants[name] = { lines, copied: walk(out) };
    } catch (e) {
      result.variants[name] = { lines, error: String(e.stderr).trim().split('\n').pop() };
    }
    rmSync(ctx, { recursive: true, force: true });
    rmSync(out, { recursive: true, force: true });
  }
  result.copyIgnore = copyIgnore;
  result.links = links;
  result.copies = {};
  const ctx = mkdtempSync(join(tmpdir(), 'kiln-oracle-ctx-'));
  for (const f of files) {
    mkdirSync(dirname(join(ctx, f)), { recursive: true });
    writeFileSync(join(ctx, f), f);
  }
  for (const [l, t] of Object.entries(links)) symlinkSync(t, join(ctx, l));
  writeFileSync(join(ctx, '.dockerignore'), `${copyIgnore.join('\n')}\n`);
  for (const src of copySources) {
    const out = mkdtempSync(join(tmpdir(), 'kiln-oracle-out-'));
    writeFileSync(join(ctx, 'Dockerfile'), `FROM scratch\nCOPY ${src} /out/\n`);
    try {
      execFileSync(docker, ['build', '--no-cache', '-q', '-o', `type=local,dest=${out}`, ctx], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      // a wildcard matching nothing succeeds in BuildKit and creates no /out at all
      result.copies[src] = { copied: existsSync(join(out, 'out')) ? walk(join(out, 'out')) : [] };
    } catch (e) {
      result.copies[src] = { error: String(e.stderr).trim().split('\n').pop() };
    }
    rmSync(out, { recursive: true, force: true });
  }
  rmSync(ctx, { recursive: true, force: true });
  // <Dockerfile>.dockerignore next to the Dockerfile wins over the root .dockerignore
  result.perDockerfile = {};
  for (const dockerfile of ['app.Dockerfile', 'build/app.Dockerfile', 'build/none.Dockerfile']) {
    const dir = mkdtempSync(join(tmpdir(), 'kiln-oracle-ctx-'));
    const out = mkdtempSync(join(tmpdir(), 'kiln-oracle-out-'));
    const layout = {
      a: 'a',
      b: 'b',
      'build/c': 'c',
      '.dockerignore': 'b\n',
      'app.Dockerfile': 'FROM scratch\nCOPY . /\n',
      'app.Dockerfile.dockerignore': 'a\n',
      'build/app.Dockerfile': 'FROM scratch\nCOPY . /\n',
      'build/app.Dockerfile.dockerignore': 'build/c\n',
      'build/none.Dockerfile': 'FROM scratch\nCOPY . /\n',
    };
    for (const [f, c] of Object.entries(layout)) {
      mkdirSync(dirname(join(dir, f)), { recursive: true });
      writeFileSync(join(dir, f), c);
    }
    execFileSync(
      docker,
      ['build', '--no-cache', '-q', '-f', join(dir, dockerfile), '-o', `type=local,dest=${out}`, dir],
      {
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    result.perDockerfile[dockerfile] = { layout, copied: walk(out) };
    rmSync(dir, { recursive: true, force: true });
    rmSync(out, { recursive: true, force: true });
  }
  // tar contexts on stdin (`docker build - < ctx.tar`): what lands in `COPY . /out/`, with modes
  result.tarContexts = {};
  for (const [name, members] of Object.entries(tarCases)) {
    const out = mkdtempSync(join(tmpdir(), 'kiln-oracle-out-'));
    const tar = await buildTar([{ name: 'Dockerfile', content: 'FROM scratch\nCOPY . /out/\n' }, ...members]);
    try {
      execFileSync(docker, ['build', '--no-cache', '-q', '-o', `type=local,dest=${out}`, '-'], {
        input: tar,
        stdio: ['pipe', 'ignore', 'pipe'],
      });
      const listed = execFileSync('find', ['.', '-mindepth', '1', '-printf', '%P %m %y %l\\n'], {
        cwd: join(out, 'out'),
      });
      result.tarContexts[name] = { members, copied: listed.toString().split('\n').filter(Boolean).sort() };
    } catch (e) {
      result.tarContexts[name] = { members, error: String(e.stderr).trim().split('\n').pop() };
    }
    rmSync(out, { recursive: true, force: true });
  }
  writeFileSync(join(here, '../fixtures/buildkit-dockerignore.json'), `${JSON.stringify(result, null, 1)}\n`);
  console.log(`recorded ${Object.keys(variants).length} variants from engine ${result.engine}`);
}
