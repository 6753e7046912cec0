// Parses and plans a generated 10,000-line Dockerfile with kiln's @kiln/dockerfile (the BUILT
// package: run `pnpm tsc -b packages/dockerfile` first) and parses it with dockerfile-ast, the
// parser behind VS Code's Docker tooling, in the same process. Prints median times and ratios.
// Targets: kiln parse + plan < 100 ms; kiln parse <= 1.0x dockerfile-ast parse.
import { performance } from 'node:perf_hooks';
import { parseDockerfile, planBuild } from '@kiln/dockerfile';
import { DockerfileParser } from 'dockerfile-ast';

const LINES = Number(process.env.LINES ?? 10_000);
const RUNS = Number(process.env.RUNS ?? 15);

/** A realistic mix: stages, ARG/ENV, continuations, comments, heredocs, COPY --from, JSON forms. */
function generate(lines) {
  const out = ['# syntax=docker/dockerfile:1', 'ARG BASE=debian:12', 'ARG VERSION=1.0'];
  let stage = 0;
  while (out.length < lines - 40) {
    const name = `s${stage}`;
    out.push(`FROM \${BASE} AS ${name}`, 'ARG VERSION', `ENV APP_HOME=/opt/app${stage} PATH=/opt/bin:$PATH`);
    out.push(
      '# install build dependencies',
      'RUN apt-get update \\',
      '    && apt-get install -y --no-install-recommends \\',
    );
    out.push('       curl ca-certificates git \\', '    && rm -rf /var/lib/apt/lists/*');
    out.push(`LABEL org.opencontainers.image.version="\${VERSION}" stage=${name}`);
    out.push('WORKDIR $APP_HOME', 'COPY --chown=1000:1000 --chmod=0755 src/ ./src/');
    if (stage > 0) out.push(`COPY --from=s${stage - 1} /opt/app${stage - 1}/out /deps/`);
    out.push('RUN --mount=type=cache,target=/root/.cache make build VERSION=$VERSION');
    out.push('RUN <<EOF', 'set -e', 'echo "building $VERSION"', 'EOF');
    out.push('EXPOSE 8080/tcp', 'USER 1000', 'HEALTHCHECK --interval=30s CMD ["/bin/check"]');
    out.push('ENTRYPOINT ["/opt/bin/app"]', 'CMD ["--serve"]', '');
    stage++;
  }
  while (out.length < lines) out.push(`RUN echo padding-${out.length}`);
  return `${out.join('\n')}\n`;
}

/** Median and minimum of RUNS timed calls (the minimum is the least disturbed by other load). */
function measure(fn) {
  const times = [];
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now();
    fn();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return { median: times[Math.floor(times.length / 2)], min: times[0] };
}

const text = generate(LINES);
// Warm up both parsers so the JIT has compiled them before measuring.
for (let i = 0; i < 5; i++) {
  planBuild(parseDockerfile(text));
  DockerfileParser.parse(text).getInstructions();
}
const parse = measure(() => parseDockerfile(text));
const ast = parseDockerfile(text, { skipChecks: true });
const plan = measure(() => planBuild(ast));
const parsePlan = measure(() => planBuild(parseDockerfile(text)));
const other = measure(() => DockerfileParser.parse(text).getInstructions());

const ms = (m) => `${m.median.toFixed(2)} ms median, ${m.min.toFixed(2)} ms min`;
console.log(
  `Dockerfile: ${text.split('\n').length - 1} lines, ${text.length} chars, ${ast.children.length} instructions`,
);
console.log(`kiln parseDockerfile:          ${ms(parse)}`);
console.log(`kiln planBuild (from AST):     ${ms(plan)}`);
console.log(`kiln parse + plan:             ${ms(parsePlan)}  (target < 100 ms)`);
console.log(`dockerfile-ast parse:          ${ms(other)}`);
console.log(
  `ratio kiln parse / dockerfile-ast: ${(parse.median / other.median).toFixed(2)}x median, ${(parse.min / other.min).toFixed(2)}x min  (target <= 1.0x)`,
);
