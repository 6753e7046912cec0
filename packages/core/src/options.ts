import type { BuildEvent } from './events.js';
import type { Executor } from './executor.js';

/** Registry settings passed through to `@kiln/registry` for every pull and push of a build. */
export interface RegistrySettings {
  /** Credentials per registry host, overriding the Docker config and auth.json. */
  credentials?: Record<string, { username?: string; password?: string; identityToken?: string }>;
  /** Registries (host[:port]) spoken to over plain HTTP. */
  insecureRegistries?: string[];
  /** Every registry pulled from is spoken to over plain HTTP (kaniko's --insecure-pull). */
  insecurePull?: boolean;
  /** TLS certificates of registries pulled from are not verified (kaniko's --skip-tls-verify-pull). */
  skipTlsVerifyPull?: boolean;
  /** Registries whose TLS certificate is not verified. */
  skipTlsVerifyRegistries?: string[];
  /** Extra CA bundles (PEM text) per registry host. */
  caCertificates?: Record<string, string>;
  /** Client certificates (PEM) per registry host. */
  clientCertificates?: Record<string, { cert: string; key: string }>;
  /** Docker Hub mirrors, tried in order before docker.io. */
  mirrors?: string[];
  /** Registry rewrites: registry → mirrors tried in order, then the original. */
  registryMap?: Record<string, string[]>;
  /** An undici Dispatcher for every request (tests, proxies, mTLS). */
  dispatcher?: unknown;
  /** Directory holding config.json (default `$DOCKER_CONFIG` or `~/.docker`). */
  dockerConfigDir?: string;
  /** Extra attempts for a failed push. */
  pushRetries?: number;
}

/** What `build()` needs. Only `dockerfile` and a context are required; see each field for its default. */
export interface BuildOptions {
  /** Dockerfile text. Either this or `dockerfilePath`. */
  dockerfile?: string;
  /** Path of the Dockerfile: absolute, or relative to a directory context. Default `Dockerfile` in the context. */
  dockerfilePath?: string;
  /** A `ContextSource` from `@kiln/context`, a directory path, or a kaniko-style context URL. Default: no context. */
  context?: unknown;
  /** Sub-directory of the context to use. */
  contextSubPath?: string;
  /** Where the image goes: registry references, `oci:<dir>[:<tag>]`, `docker-archive:<file>[:<tag>]`. */
  destinations?: string[];
  /** Build but do not write any destination (the digest is still computed). */
  noPush?: boolean;
  /** Values for ARG instructions. */
  buildArgs?: Record<string, string>;
  /** The stage to build; default the last one. */
  target?: string;
  /** `os/arch[/variant]` of the image; default the host's. */
  platform?: string;
  /** Labels added to the final image. */
  labels?: Record<string, string>;
  /**
   * Runs RUN instructions. Default on Linux: the `namespace` executor (bubblewrap). `false`: this build has
   * no executor, and a Dockerfile with RUN fails before any work, naming the line.
   */
  executor?: Executor | false;
  /** Registry settings for pulls and pushes. */
  registry?: RegistrySettings;
  /** Timestamps fixed (to `sourceDateEpoch` or 0) so the same inputs give the same digest. */
  reproducible?: boolean;
  /** Seconds since the epoch used for timestamps in reproducible mode (default `SOURCE_DATE_EPOCH` or 0). */
  sourceDateEpoch?: number;
  /** Directory for kiln's caches (file indexes of base layers); default `$XDG_CACHE_HOME/kiln`. */
  cacheDir?: string;
  /**
   * Scratch space for layers being written; default a fresh directory under the OS temp dir (in-place builds:
   * `/.kiln-XXXXXX`, out of reach of `rm -rf /tmp/*`), removed at the end.
   */
  workDir?: string;
  /** gzip level of new layers (default 6, zlib's default: the usual size/speed balance). */
  compressionLevel?: number;
  /**
   * Secrets for `RUN --mount=type=secret,id=…`, by id: a file to read, an environment variable, or the value
   * itself. They are mounted for one RUN and never reach a layer, the config, the history or an event.
   */
  secrets?: Record<string, { file?: string; env?: string; value?: string | Buffer }>;
  /**
   * SSH agents for `RUN --mount=type=ssh[,id=…]` (id `default` unless the mount names one), by id: an agent's
   * socket path, or private key files (kiln starts an `ssh-agent` holding them for the build; keys with a
   * passphrase must be loaded into your own agent instead), or `''` for `$SSH_AUTH_SOCK`. BuildKit's
   * `--ssh id=…`. Each RUN reaches the agent through a socket of its own that leaves no trace in the image.
   */
  ssh?: Record<string, string | string[]>;
  /**
   * Paths (absolute in the image) a RUN's snapshot leaves out, with everything below them. In-place builds
   * also never unpack over them nor delete them.
   */
  ignorePaths?: string[];
  /**
   * In-place builds only: more paths of this machine the build must never delete or overwrite (files the
   * caller writes after the build, such as digest files). kiln finds its own (see docs/contracts.md).
   */
  keepPaths?: string[];
  /** Cancels the build. */
  signal?: AbortSignal;
  /** Receives every build event. */
  onEvent?: (event: BuildEvent) => void;
}

/** One destination written. */
export interface DestinationResult {
  destination: string;
  /** The reference as pushed, with its tag; `digestReference` pins it by digest. */
  reference: string;
  digestReference: string;
  digest: string;
}

/** Timing of one instruction. */
export interface InstructionTiming {
  stage: number;
  text: string;
  line: number;
  durationMs: number;
}

/** A warning of the Dockerfile checks or of the build. */
export interface BuildWarning {
  rule: string;
  message: string;
  line?: number;
  url?: string;
}

/** What `build()` returns. */
export interface BuildResult {
  /** Digest of the image manifest. */
  digest: string;
  /** Digest of the image config. */
  configDigest: string;
  /** Media type of the manifest. */
  mediaType: string;
  /** Manifest bytes as pushed. */
  manifest: Buffer;
  /** Sum of the compressed layer sizes plus the config. */
  size: number;
  /** Every destination written. */
  destinations: DestinationResult[];
  /** The layers of the image, base first. */
  layers: { digest: string; diffId: string; size: number; mediaType: string; fromBase: boolean }[];
  stages: { index: number; name?: string; durationMs: number }[];
  instructions: InstructionTiming[];
  warnings: BuildWarning[];
  durationMs: number;
}
