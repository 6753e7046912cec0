import type { Readable } from 'node:stream';
import { ContextError } from '../errors.js';
import type { ContextEntry, ContextSource, ListOptions } from '../types.js';
import { readAll } from '../walk/read-all.js';

/** BaseSource: what every shipped source shares: `kind`, `readFile` over `open`, an idempotent `close`. */
export abstract class BaseSource implements ContextSource {
  readonly kind: string;
  readonly #onClose: (() => Promise<void>) | undefined;
  #closed = false;

  constructor(kind: string, onClose?: () => Promise<void>) {
    this.kind = kind;
    this.#onClose = onClose;
  }

  abstract list(opts?: ListOptions): AsyncIterable<ContextEntry>;
  abstract stat(path: string): Promise<ContextEntry | undefined>;
  abstract open(path: string): Promise<Readable>;

  async readFile(path: string): Promise<Buffer> {
    return readAll(await this.open(path));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#onClose?.();
  }

  /** assertOpen throws `KILN_CONTEXT_CLOSED` once `close()` was called. */
  protected assertOpen(): void {
    if (this.#closed)
      throw new ContextError('KILN_CONTEXT_CLOSED', `the ${this.kind} context was already closed`);
  }
}
