import { DockerfileError } from '../errors.js';
import type { Platform } from './types.js';

/** Parses `os/arch[/variant]` (lower-cased; arm64's `v8` variant normalised away). */
export function parsePlatform(text: string): Platform {
  const parts = text.trim().toLowerCase().split('/');
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => p === '')) {
    throw new DockerfileError(
      'INVALID_PLATFORM',
      `invalid platform ${JSON.stringify(text)}, expected os/arch[/variant]`,
    );
  }
  const [os, architecture, variant] = parts as [string, string, string?];
  if (variant && !(architecture === 'arm64' && variant === 'v8')) return { os, architecture, variant };
  return { os, architecture };
}

/** `os/arch[/variant]`. */
export function formatPlatform(p: Platform): string {
  return p.variant ? `${p.os}/${p.architecture}/${p.variant}` : `${p.os}/${p.architecture}`;
}
