/**
 * The parts of an OCI image configuration (image-spec `config.md`) that a Dockerfile build reads and writes.
 * Field names follow the JSON document so the object serialises without mapping.
 */
export interface ContainerConfig {
  User?: string;
  ExposedPorts?: Record<string, object>;
  Env?: string[];
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  Volumes?: Record<string, object>;
  WorkingDir?: string;
  Labels?: Record<string, string>;
  StopSignal?: string;
  Shell?: string[];
  OnBuild?: string[] | null;
  Healthcheck?: HealthConfig;
  ArgsEscaped?: boolean;
}

/** Docker's healthcheck extension of the config (durations in nanoseconds). */
export interface HealthConfig {
  Test?: string[];
  Interval?: number;
  Timeout?: number;
  StartPeriod?: number;
  StartInterval?: number;
  Retries?: number;
}

/** One `history` entry of the image config. */
export interface HistoryEntry {
  created?: string;
  created_by?: string;
  author?: string;
  comment?: string;
  empty_layer?: boolean;
}

/** The whole image configuration document. */
export interface ImageConfigFile {
  created?: string;
  author?: string;
  architecture: string;
  os: string;
  variant?: string;
  'os.version'?: string;
  config: ContainerConfig;
  rootfs: { type: 'layers'; diff_ids: string[] };
  history?: HistoryEntry[];
}

/** The PATH BuildKit gives a Linux image that starts `FROM scratch`. */
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** A config for `FROM scratch`: no layers; like BuildKit, the default PATH and `/` as working directory. */
export function emptyConfig(platform: {
  os: string;
  architecture: string;
  variant?: string;
}): ImageConfigFile {
  const c: ImageConfigFile = {
    architecture: platform.architecture,
    os: platform.os,
    config: platform.os === 'linux' ? { Env: [`PATH=${DEFAULT_PATH}`], WorkingDir: '/' } : {},
    rootfs: { type: 'layers', diff_ids: [] },
    history: [],
  };
  if (platform.variant) c.variant = platform.variant;
  return c;
}

/** Deep copy, so stages never share mutable config objects. */
export function cloneConfig(c: ImageConfigFile): ImageConfigFile {
  return structuredClone(c);
}

/** Reads `KEY=value` pairs of `Env` into an ordered map. */
export function envToMap(env: readonly string[] | undefined): Map<string, string> {
  const m = new Map<string, string>();
  for (const kv of env ?? []) {
    const i = kv.indexOf('=');
    if (i < 0) m.set(kv, '');
    else m.set(kv.slice(0, i), kv.slice(i + 1));
  }
  return m;
}

/** Sets one variable in `Env`, replacing an earlier value in place (Docker keeps the first position). */
export function setEnv(config: ContainerConfig, key: string, value: string): void {
  const env = config.Env ?? [];
  const i = env.findIndex((kv) => kv === key || kv.startsWith(`${key}=`));
  if (i >= 0) env[i] = `${key}=${value}`;
  else env.push(`${key}=${value}`);
  config.Env = env;
}
