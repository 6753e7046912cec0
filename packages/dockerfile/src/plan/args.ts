import type { ArgDeclaration } from '../instructions/types.js';
import { type Env, expandWordWithMatches } from '../shell/lexer.js';
import { formatPlatform } from './platform.js';
import type { Platform } from './types.js';

/** Build args that reach every RUN without an ARG declaration (any case). */
export const PROXY_ARGS = ['HTTP_PROXY', 'HTTPS_PROXY', 'FTP_PROXY', 'NO_PROXY', 'ALL_PROXY'];

/** Whether `name` is one of the proxy args, in any case. */
export const isProxyArg = (name: string): boolean => PROXY_ARGS.includes(name.toUpperCase());

/** The automatic platform args in global scope (TARGETPLATFORM, BUILDOS, …). */
export function platformArgs(target: Platform, build: Platform): Record<string, string> {
  return {
    BUILDPLATFORM: formatPlatform(build),
    BUILDOS: build.os,
    BUILDARCH: build.architecture,
    BUILDVARIANT: build.variant ?? '',
    TARGETPLATFORM: formatPlatform(target),
    TARGETOS: target.os,
    TARGETARCH: target.architecture,
    TARGETVARIANT: target.variant ?? '',
  };
}

/** Whether a build arg is consumed without any ARG (proxy, platform, BUILDKIT_* and SOURCE_DATE_EPOCH). */
export function isPredefinedArg(name: string): boolean {
  return (
    isProxyArg(name) ||
    name.startsWith('BUILDKIT_') ||
    name === 'SOURCE_DATE_EPOCH' ||
    /^(BUILD|TARGET)(PLATFORM|OS|ARCH|VARIANT)$/.test(name)
  );
}

/** Reads a record or map. */
export function lookup(env: Env | undefined, key: string): string | undefined {
  if (!env) return undefined;
  if (env instanceof Map) return env.get(key);
  return Object.hasOwn(env, key) ? (env as Record<string, string>)[key] : undefined;
}

/** Inputs of {@link resolveArgValue}. */
export interface ArgContext {
  /** `--build-arg` values. */
  buildArgs?: Env;
  /** `BuildPlan.globalArgValues`. */
  globalArgs?: Env;
  /** The stage's current environment (base image Env, earlier ARGs and ENVs). */
  env: Env;
  escape?: '\\' | '`';
}

/** The value one ARG name takes, and the variables its default referenced but did not find. */
export interface ResolvedArg {
  key: string;
  /** Undefined when the ARG has neither a build arg, a default nor a global value. */
  value: string | undefined;
  source: 'build-arg' | 'default' | 'global' | 'unset';
  undefinedVars: string[];
}

/**
 * resolveArgValue gives the value of one `ARG name[=default]` in a stage, as BuildKit does:
 * the build arg wins (its default is then not even expanded), else the default expanded with
 * the stage environment, else the global value (predefined platform args included), else unset.
 */
export function resolveArgValue(decl: ArgDeclaration, ctx: ArgContext): ResolvedArg {
  const fromBuild = lookup(ctx.buildArgs, decl.key);
  if (fromBuild !== undefined)
    return { key: decl.key, value: fromBuild, source: 'build-arg', undefinedVars: [] };
  if (decl.value !== undefined) {
    const r = expandWordWithMatches(decl.value, ctx.env, { escape: ctx.escape ?? '\\' });
    return { key: decl.key, value: r.result, source: 'default', undefinedVars: r.unmatched };
  }
  const global = lookup(ctx.globalArgs, decl.key);
  if (global !== undefined) return { key: decl.key, value: global, source: 'global', undefinedVars: [] };
  return { key: decl.key, value: undefined, source: 'unset', undefinedVars: [] };
}
