import { InvalidReferenceError } from '../errors.js';

/**
 * Image references, following the grammar and normalisation of distribution/reference
 * (`ParseNormalizedNamed`): a name `[domain/]path`, an optional `:tag`, an optional `@digest`.
 *
 * Normalisation rules (from distribution/reference's `normalize.go`, re-derived from its docs):
 * - the first `/`-separated component is a registry only if it contains `.` or `:`, or is `localhost`
 *   (and, as in newer versions, an upper-case first component is never a registry host: `Foo/bar`
 *   is rejected as an upper-case repository rather than read as host `Foo`);
 * - with no registry, `docker.io` is used; `index.docker.io` and `registry-1.docker.io` mean `docker.io`;
 * - on `docker.io`, a one-component repository gets the `library/` prefix;
 * - a bare 64-hex string is refused (it would be ambiguous with an image ID);
 * - the full name (`domain/path`) is at most 255 characters.
 */

/** The registry name used when a reference names none. */
export const DEFAULT_REGISTRY = 'docker.io';
/** The host that actually serves `docker.io`'s API. */
export const DOCKER_HUB_API_HOST = 'registry-1.docker.io';
const HUB_ALIASES = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io']);
const NAME_MAX = 255;

const domainComponent = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const ipv6 = '\\[(?:[a-fA-F0-9:]+)\\]';
const domainRe = new RegExp(`^(?:${domainComponent}(?:\\.${domainComponent})*|${ipv6})(?::[0-9]+)?$`);
const pathComponentRe = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const tagRe = /^[\w][\w.-]{0,127}$/;
const digestRe = /^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$/;
const anchoredIdRe = /^[a-f0-9]{64}$/;

/** Reference: a parsed, normalised image reference. */
export interface Reference {
  /** Registry host (with port), normalised: `docker.io` for Docker Hub. */
  readonly registry: string;
  /** Repository path inside the registry, e.g. `library/busybox`. */
  readonly repository: string;
  /** Tag, if one was given. */
  readonly tag?: string;
  /** Digest (`algorithm:hex`), if one was given. */
  readonly digest?: string;
  /** `registry/repository`. */
  readonly name: string;
  /** Full form: `registry/repository[:tag][@digest]`. */
  toString(): string;
  /** Short form as `docker` prints it: `busybox:1.36`, `me/app`, `ghcr.io/x/y:1`. */
  familiar(): string;
}

class ParsedReference implements Reference {
  readonly registry: string;
  readonly repository: string;
  readonly tag?: string;
  readonly digest?: string;
  constructor(registry: string, repository: string, tag?: string, digest?: string) {
    this.registry = registry;
    this.repository = repository;
    if (tag !== undefined) this.tag = tag;
    if (digest !== undefined) this.digest = digest;
  }
  get name(): string {
    return `${this.registry}/${this.repository}`;
  }
  toString(): string {
    return this.name + suffix(this);
  }
  familiar(): string {
    return familiarName(this) + suffix(this);
  }
  toJSON(): string {
    return this.toString();
  }
}

function suffix(r: Reference): string {
  return (r.tag !== undefined ? `:${r.tag}` : '') + (r.digest !== undefined ? `@${r.digest}` : '');
}

function familiarName(r: Reference): string {
  if (r.registry !== DEFAULT_REGISTRY) return r.name;
  if (r.repository.startsWith('library/') && r.repository.indexOf('/', 8) === -1)
    return r.repository.slice(8);
  return r.repository;
}

/**
 * parseReference: parses and normalises an image reference (`busybox`, `me/app:1`,
 * `127.0.0.1:5000/x@sha256:…`). Throws {@link InvalidReferenceError} (code `KILN_INVALID_REFERENCE`)
 * naming the input and the rule it broke.
 */
export function parseReference(input: string): Reference {
  if (typeof input !== 'string' || input.length === 0)
    throw new InvalidReferenceError(String(input), 'empty');
  if (anchoredIdRe.test(input)) {
    throw new InvalidReferenceError(
      input,
      'a 64-character hexadecimal string is an image ID, not a repository name',
    );
  }
  let rest = input;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at !== -1) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    validateDigestText(input, digest);
  }
  let tag: string | undefined;
  const lastColon = rest.lastIndexOf(':');
  if (lastColon !== -1 && !rest.slice(lastColon + 1).includes('/')) {
    tag = rest.slice(lastColon + 1);
    rest = rest.slice(0, lastColon);
    if (!tagRe.test(tag)) {
      throw new InvalidReferenceError(
        input,
        `tag ${JSON.stringify(tag)} must be 1-128 characters of letters, digits, '_', '.', '-' and not start with '.' or '-'`,
      );
    }
  }
  if (rest === '') throw new InvalidReferenceError(input, 'the repository name is empty');
  let registry = DEFAULT_REGISTRY;
  let path = rest;
  const slash = rest.indexOf('/');
  if (slash !== -1) {
    const first = rest.slice(0, slash);
    const isHost = (first.includes('.') || first.includes(':') || first === 'localhost') && first !== '';
    if (isHost) {
      if (!domainRe.test(first))
        throw new InvalidReferenceError(
          input,
          `registry host ${JSON.stringify(first)} is not a valid host[:port]`,
        );
      registry = first;
      path = rest.slice(slash + 1);
    }
  }
  if (rest.length > NAME_MAX)
    throw new InvalidReferenceError(input, `the repository name is longer than ${NAME_MAX} characters`);
  if (HUB_ALIASES.has(registry.toLowerCase())) registry = DEFAULT_REGISTRY;
  if (path !== path.toLowerCase()) {
    throw new InvalidReferenceError(input, `repository name ${JSON.stringify(path)} must be lowercase`);
  }
  for (const component of path.split('/')) {
    if (!pathComponentRe.test(component)) {
      throw new InvalidReferenceError(
        input,
        component === ''
          ? 'the repository path has an empty component'
          : `path component ${JSON.stringify(component)} must be lowercase letters and digits, separated by '.', '_', '__' or '-'`,
      );
    }
  }
  if (registry === DEFAULT_REGISTRY && !path.includes('/')) path = `library/${path}`;
  return new ParsedReference(registry, path, tag, digest);
}

function validateDigestText(input: string, digest: string): void {
  if (!digestRe.test(digest)) {
    throw new InvalidReferenceError(input, `digest ${JSON.stringify(digest)} is not algorithm:hex`);
  }
  const [alg, hex] = digest.split(':') as [string, string];
  if (alg === 'sha256' && !/^[a-f0-9]{64}$/.test(hex)) {
    throw new InvalidReferenceError(input, 'a sha256 digest must be 64 lowercase hexadecimal characters');
  }
  if (alg === 'sha512' && !/^[a-f0-9]{128}$/.test(hex)) {
    throw new InvalidReferenceError(input, 'a sha512 digest must be 128 lowercase hexadecimal characters');
  }
}

/**
 * makeReference: builds a {@link Reference} from parts (validated as if parsed), e.g. to point a
 * parsed reference at another tag: `makeReference({ ...ref, tag: 'v2', digest: undefined })`.
 */
export function makeReference(parts: {
  registry: string;
  repository: string;
  tag?: string;
  digest?: string;
}): Reference {
  const text = `${parts.registry}/${parts.repository}${parts.tag !== undefined ? `:${parts.tag}` : ''}${parts.digest !== undefined ? `@${parts.digest}` : ''}`;
  const parsed = parseReference(text);
  const wanted = HUB_ALIASES.has(parts.registry.toLowerCase()) ? DEFAULT_REGISTRY : parts.registry;
  if (parsed.registry !== wanted) {
    throw new InvalidReferenceError(
      text,
      `${JSON.stringify(parts.registry)} is not a registry host (needs '.', ':' or localhost)`,
    );
  }
  return parsed;
}

/** referenceIdentifier: what to ask the registry for: the digest if known, else the tag, else `latest`. */
export function referenceIdentifier(ref: Pick<Reference, 'tag' | 'digest'>): string {
  return ref.digest ?? ref.tag ?? 'latest';
}
