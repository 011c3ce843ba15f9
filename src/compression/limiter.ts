/**
 * Bounds the async codec calls in flight, process-wide.
 *
 * Why process-wide: every async zlib call allocates its compressor state up
 * front (deflate ~256 KiB, brotli ~1 MiB at quality 4), and the machine
 * runs only as many of them at once as it has cores anyway. Without a
 * bound, a burst of large replies across many sessions allocates state for
 * all of them while they wait; with one, a waiting call holds only its
 * input. ws bounds its permessage-deflate zlib calls the same way.
 */
import { availableParallelism } from 'node:os';

/** Runs async jobs with at most `concurrency` in flight, first come first served. */
export class AsyncLimiter {
  /** Jobs running now. */
  active = 0;
  private readonly queue: Array<() => void> = [];

  /** @param concurrency Jobs allowed in flight at once, at least 1. */
  constructor(readonly concurrency: number) {
    if (!Number.isInteger(concurrency) || concurrency < 1) {
      throw new RangeError(`concurrency should be a positive integer, got ${String(concurrency)}`);
    }
  }

  /** Jobs waiting for a slot. */
  get waiting(): number {
    return this.queue.length;
  }

  /** Runs `job` when a slot is free; settles with its result. */
  run<T>(job: () => Promise<T>): Promise<T> {
    if (this.active < this.concurrency) return this.start(job);
    return new Promise<T>((resolve, reject) => {
      this.queue.push(() => void this.start(job).then(resolve, reject));
    });
  }

  private start<T>(job: () => Promise<T>): Promise<T> {
    this.active++;
    let p: Promise<T>;
    try {
      p = job();
    } catch (err) {
      p = Promise.reject(err);
    }
    return p.finally(() => {
      this.active--;
      this.queue.shift()?.();
    });
  }
}

/**
 * Async codec calls worth running at once: one per core, and no more than
 * libuv's pool has threads (UV_THREADPOOL_SIZE, default 4). More than one
 * per core only makes compressors evict each other's tables from the
 * caches: on 2 cores, 1 MiB messages through brotli-4 cost 13.3 ms of CPU
 * each with 4 in flight against 7.9 ms with 2, and the batch took 60 %
 * longer.
 */
export function defaultCodecConcurrency(): number {
  const n = Number(process.env.UV_THREADPOOL_SIZE);
  const pool = Number.isInteger(n) && n > 0 ? n : 4;
  return Math.max(1, Math.min(pool, availableParallelism()));
}

/** The limiter every {@link WireCodec} shares unless given its own. */
export const codecLimiter = new AsyncLimiter(defaultCodecConcurrency());
