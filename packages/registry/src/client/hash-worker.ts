import { createHash } from 'node:crypto';
import { Worker } from 'node:worker_threads';

/** BlobHasher: an incremental digest whose `update` may ask the caller to wait (backpressure). */
export interface BlobHasher {
  update(chunk: Buffer): void | Promise<void>;
  /** The hex digest of everything updated so far. */
  digest(): Promise<string>;
  /** Drops the state (the stream failed). */
  dispose(): void;
}

/** HasherFactory: makes a hasher for an algorithm (`sha256`, `sha512`). */
export type HasherFactory = (algorithm: string) => BlobHasher;

/** inThreadHasher: node:crypto on the calling thread. */
export const inThreadHasher: HasherFactory = (algorithm) => {
  const h = createHash(algorithm);
  return { update: (c) => void h.update(c), digest: async () => h.digest('hex'), dispose: () => {} };
};

// The worker keeps one hash per stream id, reading the stream's bytes from a ring buffer shared
// with the main thread (no per-chunk allocation, so no garbage for a lazy worker GC to pile up).
// It is CommonJS evaluated from this string, so no separate worker file ships next to dist/.
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const streams = new Map();
parentPort.on('message', (m) => {
  if (m.t === 'open') {
    streams.set(m.id, { h: createHash(m.alg), ring: m.sab, consumed: 0, acked: 0, every: m.every });
  } else if (m.t === 'u') {
    const s = streams.get(m.id);
    if (!s) return;
    s.h.update(new Uint8Array(s.ring, m.pos, m.n));
    s.consumed += m.n;
    if (s.consumed - s.acked >= s.every) {
      s.acked = s.consumed;
      parentPort.postMessage({ id: m.id, consumed: s.consumed });
    }
  } else if (m.t === 'd') {
    const s = streams.get(m.id);
    streams.delete(m.id);
    parentPort.postMessage({ id: m.id, hex: s ? s.h.digest('hex') : '' });
  } else if (m.t === 'x') streams.delete(m.id);
});`;

// 2 MiB of ring per stream (6 concurrent downloads: 12 MiB), acknowledged every 256 KiB.
const RING = 2 * 1024 * 1024;
const ACK_EVERY = 256 * 1024;

interface StreamState {
  consumed: number;
  wake?: (() => void) | undefined;
  done?: { resolve: (hex: string) => void; reject: (e: Error) => void };
}

/**
 * HashWorker: hashes blob streams on a worker thread, so that verifying several concurrent
 * downloads does not serialise on the main thread (which also parses HTTP and writes files).
 * Each chunk is copied once into the stream's shared ring (far cheaper than hashing it); the
 * main thread waits only when the worker is a whole ring behind, so memory stays flat. Started
 * on first use; it keeps the process alive only while a stream is being hashed. `close()` ends it.
 */
export class HashWorker {
  #worker: Worker | undefined;
  #next = 0;
  readonly #streams = new Map<number, StreamState>();

  #ensure(): Worker {
    if (this.#worker) return this.#worker;
    const w = new Worker(WORKER_SOURCE, { eval: true });
    w.on('message', (m: { id: number; consumed?: number; hex?: string }) => {
      const s = this.#streams.get(m.id);
      if (!s) return;
      if (m.hex !== undefined) {
        this.#streams.delete(m.id);
        this.#idle();
        s.done?.resolve(m.hex);
        return;
      }
      s.consumed = m.consumed ?? s.consumed;
      const wake = s.wake;
      s.wake = undefined;
      wake?.();
    });
    const fail = (e: Error) => {
      for (const s of this.#streams.values()) {
        s.done?.reject(e);
        s.wake?.();
      }
      this.#streams.clear();
      this.#worker = undefined;
    };
    w.on('error', fail);
    w.on('exit', (code) => fail(new Error(`hash worker exited with code ${code}`)));
    // Unref'd only now: adding a 'message' listener refs the worker's port again.
    w.unref();
    this.#worker = w;
    return w;
  }

  /** With no stream left, the worker no longer keeps the process alive (while one is open, it must). */
  #idle(): void {
    if (this.#streams.size === 0) this.#worker?.unref();
  }

  /** create: a hasher for one stream. */
  readonly create: HasherFactory = (alg) => {
    let w: Worker;
    try {
      w = this.#ensure();
    } catch {
      // No worker threads here (a restricted runtime): hash on this thread instead.
      return inThreadHasher(alg);
    }
    const id = this.#next++;
    const sab = new SharedArrayBuffer(RING);
    const ring = new Uint8Array(sab);
    const state: StreamState = { consumed: 0 };
    this.#streams.set(id, state);
    w.ref();
    w.postMessage({ t: 'open', id, alg, sab, every: ACK_EVERY });
    let written = 0;
    const update = async (chunk: Buffer): Promise<void> => {
      for (let off = 0; off < chunk.length; ) {
        const free = RING - (written - state.consumed);
        if (free === 0) {
          if (!this.#streams.has(id)) throw new Error('hash worker stopped');
          await new Promise<void>((r) => (state.wake = r));
          continue;
        }
        const pos = written % RING;
        const n = Math.min(chunk.length - off, free, RING - pos);
        ring.set(chunk.subarray(off, off + n), pos);
        w.postMessage({ t: 'u', id, pos, n });
        written += n;
        off += n;
      }
    };
    return {
      // Synchronous (no promise) while the ring has room: the common case costs no extra tick.
      update: (chunk) =>
        RING - (written - state.consumed) >= chunk.length ? void update(chunk) : update(chunk),
      digest: () =>
        new Promise<string>((resolve, reject) => {
          state.done = { resolve, reject };
          w.postMessage({ t: 'd', id });
        }),
      dispose: () => {
        if (this.#streams.delete(id)) w.postMessage({ t: 'x', id });
        this.#idle();
      },
    };
  };

  /** close: ends the worker (a later `create` starts a new one). */
  async close(): Promise<void> {
    const w = this.#worker;
    this.#worker = undefined;
    if (w) {
      w.removeAllListeners('exit');
      await w.terminate();
    }
  }
}
