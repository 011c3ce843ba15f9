/**
 * Pool waiters with a scripted connector and an injected clock: exact, no
 * wall-clock waits. A waiter keeps its deadline while a session is opened
 * for it, close() rejects every waiter, a failed open re-serves the waiter,
 * and sessions go to waiters in arrival order.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { BreakerConfig } from '../../src/policy/circuit-breaker-options.js';
import { GatewayError } from '../../src/gateway/errors.js';
import { UpstreamPool } from '../../src/gateway/pool.js';
import type { PoolConfig } from '../../src/gateway/pool-config.js';
import type { PooledSession } from '../../src/gateway/pool-member.js';
import { fakeConnector, flush, wsSpec, type FakeConnection } from './fake-upstream.js';

interface Tracked<T> {
  state: 'pending' | 'resolved' | 'rejected';
  value: T | undefined;
  error: GatewayError | undefined;
}

function track<T>(p: Promise<T>, order?: number[], index?: number): Tracked<T> {
  const t: Tracked<T> = { state: 'pending', value: undefined, error: undefined };
  p.then(
    (v) => {
      t.state = 'resolved';
      t.value = v;
      if (order !== undefined && index !== undefined) order.push(index);
    },
    (e: unknown) => {
      t.state = 'rejected';
      t.error = e as GatewayError;
    },
  );
  return t;
}

const pools: UpstreamPool[] = [];
afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.close()));
});

function setup(
  pool: Partial<PoolConfig>,
  breaker?: Partial<BreakerConfig>,
): { pool: UpstreamPool; conns: FakeConnection[]; clock: { now: number } } {
  const clock = { now: 0 };
  const fake = fakeConnector();
  const p = new UpstreamPool({
    upstreams: [wsSpec('a')],
    pool: { minConnections: 0, enableAutoScaling: false, healthCheckIntervalMs: 0, idleTimeoutMs: 0, ...pool },
    breaker,
    clock: () => clock.now,
    connect: fake.connect,
  });
  pools.push(p);
  return { pool: p, conns: fake.conns, clock };
}

describe('UpstreamPool waiters', () => {
  it('close() during a cold open rejects the waiter with POOL_CLOSED and closes the session that was opening', async () => {
    const { pool, conns } = setup({});
    const a = track(pool.acquire());
    await flush();
    expect(conns).toHaveLength(1);
    expect(a.state).toBe('pending');
    const closing = pool.close();
    await flush();
    expect(a.state).toBe('rejected');
    expect(a.error).toBeInstanceOf(GatewayError);
    expect(a.error!.code).toBe('POOL_CLOSED');
    conns[0]!.open();
    await closing;
    await flush();
    expect(conns[0]!.closed).toBe(true);
    expect(pool.size).toBe(0);
    await expect(pool.acquire()).rejects.toMatchObject({ code: 'POOL_CLOSED' });
  });

  it('an aborted acquire leaves the queue at once; its open serves the next waiter, and dead waiters start no more opens', async () => {
    const { pool, conns } = setup({ maxConnections: 4 });
    const gone: Array<Tracked<PooledSession>> = [];
    const aborts: AbortController[] = [];
    for (let i = 0; i < 3; i++) {
      const ac = new AbortController();
      aborts.push(ac);
      gone.push(track(pool.acquire(ac.signal)));
    }
    await flush();
    expect(conns).toHaveLength(3);
    for (const ac of aborts) ac.abort();
    await flush();
    for (const g of gone) expect(g.error?.code).toBe('ACQUIRE_ABORTED');
    expect(pool.waiting).toBe(0);
    // A live client now: served by the first open to finish, no fourth open started.
    const live = track(pool.acquire());
    await flush();
    expect(conns).toHaveLength(3);
    conns[1]!.open();
    await flush();
    expect(live.state).toBe('resolved');
    conns[0]!.open();
    conns[2]!.open();
    await flush();
    expect(pool.idle).toBe(2);
    const pre = new AbortController();
    pre.abort();
    await expect(pool.acquire(pre.signal)).rejects.toMatchObject({ code: 'ACQUIRE_ABORTED' });
  });

  it('a session that finishes opening after close() is closed, not leased or kept', async () => {
    const { pool, conns } = setup({});
    // A connection whose close() does not abort its start (the open still completes).
    const a = track(pool.acquire());
    await flush();
    const c = conns[0]!;
    c.close = () => Promise.resolve();
    await pool.close();
    expect(a.state).toBe('rejected');
    c.open();
    await flush();
    expect(pool.size).toBe(0);
    expect(pool.leased).toBe(0);
  });

  it('a waiter keeps its deadline while its session is opening: rejected at acquireTimeoutMs, the late session goes idle', async () => {
    const { pool, conns, clock } = setup({ acquireTimeoutMs: 100 });
    const a = track(pool.acquire());
    await flush();
    expect(conns).toHaveLength(1);
    clock.now = 99;
    pool.tick();
    await flush();
    expect(a.state).toBe('pending');
    clock.now = 100;
    pool.tick();
    await flush();
    expect(a.state).toBe('rejected');
    expect(a.error!.code).toBe('ACQUIRE_TIMEOUT');
    expect(a.error!.message).toContain('no upstream session free within 100 ms');
    expect(pool.stats.acquireTimeouts).toBe(1);
    expect(pool.waiting).toBe(0);
    // The open takes 900 ms in all; it finishes into the idle list.
    clock.now = 900;
    conns[0]!.open();
    await flush();
    expect(pool.idle).toBe(1);
    expect(pool.leased).toBe(0);
    const b = track(pool.acquire());
    await flush();
    expect(b.state).toBe('resolved');
    expect(pool.stats.acquiredWarm).toBe(1);
    expect(conns).toHaveLength(1);
  });

  it('a session opened for a waiter that timed out goes to the next waiter', async () => {
    const { pool, conns, clock } = setup({ acquireTimeoutMs: 100, maxConnections: 1 });
    const a = track(pool.acquire());
    await flush();
    clock.now = 50;
    const b = track(pool.acquire());
    await flush();
    expect(conns).toHaveLength(1);
    clock.now = 100;
    pool.tick();
    await flush();
    expect(a.state).toBe('rejected');
    expect(b.state).toBe('pending');
    conns[0]!.open();
    await flush();
    expect(b.state).toBe('resolved');
    expect(pool.leased).toBe(1);
  });

  it('a failed open re-serves its waiter with a new open; it is never lost', async () => {
    const { pool, conns } = setup({ acquireTimeoutMs: 1000 });
    const a = track(pool.acquire());
    await flush();
    conns[0]!.fail();
    await flush();
    expect(pool.stats.openFailures).toBe(1);
    expect(conns).toHaveLength(2);
    expect(a.state).toBe('pending');
    conns[1]!.open();
    await flush();
    expect(a.state).toBe('resolved');
    expect(pool.stats.acquiredCold).toBe(1);
  });

  it('when failed opens open the breaker the waiter stays queued and gets NO_HEALTHY_UPSTREAM at its deadline', async () => {
    const { pool, conns, clock } = setup({ acquireTimeoutMs: 1000 }, { failureThreshold: 2, halfOpenAfterMs: 60_000 });
    const a = track(pool.acquire());
    await flush();
    conns[0]!.fail();
    await flush();
    conns[1]!.fail();
    await flush();
    expect(pool.members[0]!.breaker.state).toBe('open');
    expect(conns).toHaveLength(2);
    expect(pool.waiting).toBe(1);
    clock.now = 999;
    pool.tick();
    await flush();
    expect(a.state).toBe('pending');
    clock.now = 1000;
    pool.tick();
    await flush();
    expect(a.state).toBe('rejected');
    expect(a.error!.code).toBe('NO_HEALTHY_UPSTREAM');
  });

  it('serves many waiters in arrival order, whichever open finishes first, and serves the queue on release', async () => {
    const { pool, conns } = setup({ maxConnections: 2, acquireTimeoutMs: 60_000 });
    const order: number[] = [];
    const ws = Array.from({ length: 6 }, (_, i) => track(pool.acquire(), order, i));
    await flush();
    expect(conns).toHaveLength(2);
    expect(pool.waiting).toBe(6);
    conns[1]!.open();
    await flush();
    conns[0]!.open();
    await flush();
    expect(order).toEqual([0, 1]);
    for (let k = 2; k < 6; k++) {
      pool.release(ws[k - 2]!.value as PooledSession);
      await flush();
      expect(conns).toHaveLength(k + 1);
      conns[k]!.open();
      await flush();
    }
    expect(order).toEqual([0, 1, 2, 3, 4, 5]);
    expect(pool.waiting).toBe(0);
    expect(pool.leased).toBe(2);
  });
});
