/**
 * Errors of `@kiln/snapshot`. Every error has a stable `code` (`KILN_…`) and a `Symbol.for`
 * brand so that {@link isSnapshotError} works across duplicate installs. Errors about a layer
 * entry name the entry (`entry`) so a user can find it in the tar.
 */

const brand = Symbol.for('kiln.snapshot.error');

/** Stable error codes raised by this package. */
export type SnapshotErrorCode =
  /** An entry path or link target would resolve outside the extraction root. */
  | 'KILN_PATH_ESCAPE'
  /** A symlink chain longer than the kernel's limit (40), or a loop. */
  | 'KILN_SYMLINK_LOOP'
  /** A device node in a layer while `allowDevices` is false. */
  | 'KILN_DEVICE_NOT_ALLOWED'
  /** A hardlink whose target is not an earlier regular entry of the root. */
  | 'KILN_BAD_HARDLINK'
  /** A tar stream that is truncated, has a bad checksum or an unsupported entry type. */
  | 'KILN_TAR_INVALID'
  /** A LayerEntry that cannot be written (bad path, missing content, size mismatch). */
  | 'KILN_ENTRY_INVALID'
  /** zstd requested but neither node:zlib nor a `zstd` executable provides it. */
  | 'KILN_ZSTD_UNAVAILABLE'
  /** Extended attributes requested but the file system cannot read or write them. */
  | 'KILN_XATTR_UNAVAILABLE'
  /** An overlay upper directory using features whose data lives in the lower layers (redirect_dir, metacopy). */
  | 'KILN_OVERLAY_UNSUPPORTED'
  /** Contradictory or out-of-range options. */
  | 'KILN_OPTIONS_INVALID'
  /** The operation was aborted through its AbortSignal. */
  | 'KILN_ABORTED';

/** SnapshotError: the error class of every failure this package reports on purpose. */
export class SnapshotError extends Error {
  /** Stable machine-readable code. */
  readonly code: SnapshotErrorCode;
  /** The layer entry (tar path) concerned, when there is one. */
  readonly entry: string | undefined;
  readonly [brand] = true;
  constructor(code: SnapshotErrorCode, message: string, options?: { entry?: string; cause?: unknown }) {
    super(options?.entry === undefined ? message : `${message} (entry ${JSON.stringify(options.entry)})`, {
      cause: options?.cause,
    });
    this.code = code;
    this.entry = options?.entry;
    this.name = 'SnapshotError';
  }
}

/** isSnapshotError: true for any error raised by this package, even from another copy of it. */
export function isSnapshotError(e: unknown): e is SnapshotError {
  return typeof e === 'object' && e !== null && (e as Record<symbol, unknown>)[brand] === true;
}

/** Throws `KILN_ABORTED` when the signal has fired; call between units of work. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted)
    throw new SnapshotError('KILN_ABORTED', `aborted: ${String(signal.reason ?? 'signal')}`);
}
