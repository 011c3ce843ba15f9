/**
 * One metrics collection in flight, shared by every request that asks while
 * it runs: a flood of /metrics requests (or of a cluster's workers asking the
 * primary) costs one collection at a time, not one each. Beyond `maxWaiters`
 * requests sharing it, the gate refuses (the route answers 503 +
 * Retry-After), so the responses held open are bounded too.
 *
 * A request that arrives while a collection runs gets that collection's
 * text, taken at most one collection's duration before it asked: what a
 * Prometheus scrape can tolerate.
 */
export class ScrapeGate<T> {
  private current: Promise<T> | undefined;
  private waiters = 0;

  constructor(readonly maxWaiters: number) {}

  /** Requests sharing the collection in flight now. */
  get sharing(): number {
    return this.waiters;
  }

  /**
   * The collection in flight, or a new one from `collect`; undefined when
   * `maxWaiters` requests share it already. A `collect` that throws
   * synchronously is a rejected collection, as if it had rejected.
   */
  run(collect: () => Promise<T>): Promise<T> | undefined {
    if (this.current !== undefined) {
      if (this.waiters >= this.maxWaiters) return undefined;
      this.waiters++;
      return this.current;
    }
    let p: Promise<T>;
    try {
      p = collect();
    } catch (err) {
      p = Promise.reject(err);
    }
    const shared = p.finally(() => {
      if (this.current === shared) {
        this.current = undefined;
        this.waiters = 0;
      }
    });
    this.current = shared;
    this.waiters = 1;
    return shared;
  }
}
