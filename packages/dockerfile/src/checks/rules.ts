/**
 * Build-check rules as data, modelled on BuildKit's Dockerfile checks (same rule names and
 * documentation URLs, so users can look them up; descriptions and messages are kiln's own).
 */
export interface CheckRule<A extends unknown[] = string[]> {
  /** Rule name as used in `# check=skip=<name>`. */
  name: string;
  description: string;
  url: string;
  /** Builds the warning message from the rule's arguments. */
  format: (...args: A) => string;
}

const url = (slug: string): string => `https://docs.docker.com/go/dockerfile/rule/${slug}/`;

function rule<A extends unknown[]>(
  name: string,
  slug: string,
  description: string,
  format: (...args: A) => string,
) {
  return { name, description, url: url(slug), format } satisfies CheckRule<A>;
}

/** Every rule kiln checks, keyed by name. */
export const rules = {
  StageNameCasing: rule(
    'StageNameCasing',
    'stage-name-casing',
    'Stage names should be written in lower case.',
    (name: string) => `stage name '${name}' should be lower case`,
  ),
  FromAsCasing: rule(
    'FromAsCasing',
    'from-as-casing',
    "The 'AS' keyword should be written in the same case as 'FROM'.",
    (from: string, as: string) => `'${as}' does not match the casing of '${from}'`,
  ),
  NoEmptyContinuation: rule(
    'NoEmptyContinuation',
    'no-empty-continuation',
    'Blank lines inside a line continuation are deprecated.',
    () => 'blank line inside a line continuation',
  ),
  ConsistentInstructionCasing: rule(
    'ConsistentInstructionCasing',
    'consistent-instruction-casing',
    'Instructions should all be upper case or all be lower case.',
    (keyword: string, majority: string) => `instruction '${keyword}' should be ${majority} like most others`,
  ),
  DuplicateStageName: rule(
    'DuplicateStageName',
    'duplicate-stage-name',
    'Each stage name may be defined once.',
    (name: string) => `stage name ${JSON.stringify(name)} is defined more than once`,
  ),
  ReservedStageName: rule(
    'ReservedStageName',
    'reserved-stage-name',
    'Reserved words such as "scratch" cannot name a stage.',
    (name: string) => `stage name ${JSON.stringify(name)} is reserved`,
  ),
  JSONArgsRecommended: rule(
    'JSONArgsRecommended',
    'json-args-recommended',
    'CMD and ENTRYPOINT should use the JSON (exec) form so the process receives OS signals.',
    (keyword: string) => `use the JSON form for ${keyword} so that OS signals reach the process`,
  ),
  MaintainerDeprecated: rule(
    'MaintainerDeprecated',
    'maintainer-deprecated',
    'MAINTAINER is deprecated; set the org.opencontainers.image.authors label instead.',
    () => 'MAINTAINER is deprecated, use LABEL org.opencontainers.image.authors=… instead',
  ),
  UndefinedArgInFrom: rule(
    'UndefinedArgInFrom',
    'undefined-arg-in-from',
    'FROM may only use ARGs declared before the first FROM.',
    (name: string, suggestion?: string) =>
      `FROM uses '${name}', which is not a declared global ARG${suggestion ? ` (did you mean ${suggestion}?)` : ''}`,
  ),
  WorkdirRelativePath: rule(
    'WorkdirRelativePath',
    'workdir-relative-path',
    'A relative WORKDIR depends on the base image working directory; set an absolute one first.',
    (path: string) =>
      `relative WORKDIR ${JSON.stringify(path)} depends on the base image's working directory`,
  ),
  UndefinedVar: rule(
    'UndefinedVar',
    'undefined-var',
    'Variables should be defined before they are used.',
    (name: string, suggestion?: string) =>
      `variable '$${name}' is not defined${suggestion ? ` (did you mean $${suggestion}?)` : ''}`,
  ),
  MultipleInstructionsDisallowed: rule(
    'MultipleInstructionsDisallowed',
    'multiple-instructions-disallowed',
    'Only the last CMD, ENTRYPOINT or HEALTHCHECK of a stage takes effect.',
    (keyword: string) => `more than one ${keyword} in this stage: only the last one takes effect`,
  ),
  LegacyKeyValueFormat: rule(
    'LegacyKeyValueFormat',
    'legacy-key-value-format',
    'Use the `key=value` form rather than the legacy `key value` form.',
    (keyword: string) => `use "${keyword} key=value" rather than the legacy "${keyword} key value" form`,
  ),
  RedundantTargetPlatform: rule(
    'RedundantTargetPlatform',
    'redundant-target-platform',
    'FROM --platform=$TARGETPLATFORM is the default and can be removed.',
    (value: string) => `--platform=${value} is the default platform and is redundant`,
  ),
  SecretsUsedInArgOrEnv: rule(
    'SecretsUsedInArgOrEnv',
    'secrets-used-in-arg-or-env',
    'ARG and ENV values end up in the image; pass secrets with RUN --mount=type=secret.',
    (keyword: string, name: string) =>
      `${keyword} ${JSON.stringify(name)} looks like a secret; use a secret mount`,
  ),
  InvalidDefaultArgInFrom: rule(
    'InvalidDefaultArgInFrom',
    'invalid-default-arg-in-from',
    'Default values of global ARGs used in FROM should give a valid image name.',
    (names: string) => `with its default value, ARG ${names} gives an empty or invalid base image name`,
  ),
  FromPlatformFlagConstDisallowed: rule(
    'FromPlatformFlagConstDisallowed',
    'from-platform-flag-const-disallowed',
    'FROM --platform should use a variable such as $BUILDPLATFORM, not a constant.',
    (value: string) => `FROM --platform uses the constant ${JSON.stringify(value)}`,
  ),
  ExposeProtoCasing: rule(
    'ExposeProtoCasing',
    'expose-proto-casing',
    'The protocol in EXPOSE should be lower case.',
    (port: string) => `protocol in EXPOSE ${port} should be lower case`,
  ),
  ExposeInvalidFormat: rule(
    'ExposeInvalidFormat',
    'expose-invalid-format',
    'EXPOSE takes ports only, not IP addresses or host-port mappings.',
    (port: string) => `EXPOSE ${port} names an IP address or a host port`,
  ),
} as const;

/** A rule name. */
export type RuleName = keyof typeof rules;
