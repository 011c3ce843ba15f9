/**
 * ScrapeGate: concurrent /metrics requests share one collection, beyond the
 * cap they are refused, and a failed collection does not stick.
 */
import { describe, expect, it } from 'vitest';
import { ScrapeGate } from '../../src/metrics/scrape-gate.js';

function deferred(): { promise: Promise<string>; resolve: (v: string) => void; reject: (e: Error) => void } {
  let resolve!: (v: string) => void;
  let reject!: (e: Error) => void;
  const promise = new Promise<string>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe('ScrapeGate', () => {
  it('a flood shares one collection and is refused beyond the cap', async () => {
    const gate = new ScrapeGate<string>(3);
    let collections = 0;
    const d = deferred();
    const collect = (): Promise<string> => {
      collections++;
      return d.promise;
    };
    const got = Array.from({ length: 10 }, () => gate.run(collect));
    expect(collections).toBe(1);
    expect(got.filter((p) => p === undefined)).toHaveLength(7);
    expect(gate.sharing).toBe(3);
    d.resolve('text');
    expect(await Promise.all(got.filter((p) => p !== undefined))).toEqual(['text', 'text', 'text']);
    // Settled: the next request starts a new collection.
    expect(gate.sharing).toBe(0);
    const again = gate.run(() => Promise.resolve('fresh'));
    expect(await again).toBe('fresh');
    expect(collections).toBe(1);
  });

  it('a collection that fails (rejects or throws) fails its sharers only; the next one runs', async () => {
    const gate = new ScrapeGate<string>(4);
    const d = deferred();
    const a = gate.run(() => d.promise)!;
    const b = gate.run(() => Promise.resolve('not called'))!;
    d.reject(new Error('registry failed'));
    await expect(a).rejects.toThrow('registry failed');
    await expect(b).rejects.toThrow('registry failed');
    const thrown = gate.run(() => {
      throw new Error('sync throw');
    })!;
    await expect(thrown).rejects.toThrow('sync throw');
    expect(await gate.run(() => Promise.resolve('ok'))).toBe('ok');
  });
});
