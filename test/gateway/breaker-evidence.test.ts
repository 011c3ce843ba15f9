/**
 * What feeds a member's circuit breaker: connection-level evidence only
 * (opens failing, sessions lost, transport errors) against it; opens and
 * pings that succeed for it. Request timeouts and ordinary responses are not
 * evidence. Scripted connector and injected clock: exact, no wall-clock waits
 * except polling for the real client's requests to arrive.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { BreakerConfig } from '../../src/policy/circuit-breaker-options.js';
import { UpstreamPool } from '../../src/gateway/pool.js';
import type { PoolConfig } from '../../src/gateway/pool-config.js';
import { McpRpcError } from '../../src/protocol/errors.js';
import { fakeConnector, flush, wsSpec, type FakeConnection } from './fake-upstream.js';
import { closeAll, connect, startGateway, until } from './helpers.js';

const pools: UpstreamPool[] = [];
afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.close()));
  await closeAll();
});

function setup(pool: Partial<PoolConfig>, breaker: Partial<BreakerConfig>): { pool: UpstreamPool; conns: FakeConnection[]; clock: { now: number } } {
  const clock = { now: 0 };
  const fake = fakeConnector({ preInitPing: true });
  const p = new UpstreamPool({
    upstreams: [wsSpec('a')],
    pool: { minConnections: 0, enableAutoScaling: false, healthCheckIntervalMs: 0, idleTimeoutMs: 0, acquireTimeoutMs: 60_000, ...pool },
    breaker: { halfOpenAfterMs: 60_000, ...breaker },
    clock: () => clock.now,
    connect: fake.connect,
  });
  pools.push(p);
  return { pool: p, conns: fake.conns, clock };
}

const INIT_RESULT = { protocolVersion: '2025-06-18', capabilities: { tools: {} }, serverInfo: { name: 'fake', version: '1.0.0' } };

describe('circuit breaker evidence', () => {
  it('many request timeouts on one upstream do not open its breaker', async () => {
    const clock = { now: 0 };
    const fake = fakeConnector({
      preInitPing: true,
      openAtOnce: true,
      // initialize is answered; tools/call never is (a slow tool).
      answer: (req) => (req.method === 'initialize' ? INIT_RESULT : undefined),
    });
    const requestTimeoutMs = 1000;
    const { gateway, url } = await startGateway({
      upstreams: [wsSpec('a')],
      pool: { minConnections: 1, enableAutoScaling: false, healthCheckIntervalMs: 0 },
      breaker: { failureThreshold: 3, halfOpenAfterMs: 60_000 },
      retry: { maxRetries: 0 },
      requestTimeoutMs,
      clock: () => clock.now,
      connect: fake.connect,
      tickMs: 3_600_000,
    });
    const client = await connect(url);
    const n = 8;
    const calls = Array.from({ length: n }, (_, i) => client.request('tools/call', { name: 'slow', arguments: { i } }).catch((e: unknown) => e));
    const conn = fake.conns[0]!;
    await until(() => conn.sent.filter((m) => (m as { method?: string }).method === 'tools/call').length === n, 10_000, 'the calls to reach the upstream');
    clock.now += requestTimeoutMs;
    gateway.pool.tick();
    const errors = await Promise.all(calls);
    for (const e of errors) {
      expect(e).toBeInstanceOf(McpRpcError);
      expect((e as McpRpcError).code).toBe(-32001);
    }
    const member = gateway.pool.members[0]!;
    expect(member.metrics.errors.timeout).toBe(n);
    expect(member.breaker.state).toBe('closed');
    expect(member.breaker.toJSON().failures).toBe(0);
  });

  it('connect failures open the breaker', async () => {
    const { pool, conns } = setup({}, { failureThreshold: 3 });
    void pool.acquire().catch(() => {});
    await flush();
    for (let k = 0; k < 3; k++) {
      expect(pool.members[0]!.breaker.state).toBe('closed');
      conns[k]!.fail();
      await flush();
    }
    expect(pool.members[0]!.breaker.state).toBe('open');
    expect(pool.members[0]!.metrics.errors.connect).toBe(3);
  });

  it('a response during a failure streak does not reset it', async () => {
    const { pool, conns } = setup({}, { failureThreshold: 3 });
    const first = pool.acquire();
    await flush();
    conns[0]!.open();
    const s = await first;
    void pool.acquire().catch(() => {});
    await flush();
    conns[1]!.fail();
    await flush();
    conns[2]!.fail();
    await flush();
    expect(pool.members[0]!.breaker.toJSON().failures).toBe(2);
    // The leased session's upstream answers a client request.
    s.owner = { upstreamMessage: () => {}, upstreamError: () => {}, upstreamClosed: () => {} };
    conns[0]!.deliver({ id: 7, result: { content: [] } });
    expect(pool.members[0]!.breaker.toJSON().failures).toBe(2);
    conns[3]!.fail();
    await flush();
    expect(pool.members[0]!.breaker.state).toBe('open');
  });

  it('a successful open (answered ping) ends a failure streak', async () => {
    const { pool, conns } = setup({}, { failureThreshold: 3 });
    const a = pool.acquire();
    await flush();
    conns[0]!.fail();
    await flush();
    conns[1]!.fail();
    await flush();
    expect(pool.members[0]!.breaker.toJSON().failures).toBe(2);
    conns[2]!.open();
    await a;
    expect(pool.members[0]!.breaker.toJSON().failures).toBe(0);
  });

  it('a lost session and a failed send are failures; a stray error report is not', async () => {
    const { pool, conns } = setup({}, { failureThreshold: 3 });
    const a = pool.acquire();
    const b = pool.acquire();
    await flush();
    conns[0]!.open();
    conns[1]!.open();
    const [sa, sb] = await Promise.all([a, b]);
    const errs: string[] = [];
    sa.owner = { upstreamMessage: () => {}, upstreamError: (e) => errs.push(e.message), upstreamClosed: () => {} };
    sb.owner = { upstreamMessage: () => {}, upstreamError: () => {}, upstreamClosed: () => {} };
    conns[0]!.onerror!(new Error('POST failed: 502'), { jsonrpc: '2.0', id: 1, method: 'tools/call' });
    expect(errs).toEqual(['POST failed: 502']);
    expect(pool.members[0]!.breaker.toJSON().failures).toBe(1);
    // A report that is not about a send (e.g. a non-JSON stdout line) is not.
    conns[0]!.onerror!(new Error('ignored a stdout line that is not JSON: hello'));
    expect(pool.members[0]!.breaker.toJSON().failures).toBe(1);
    conns[1]!.drop('connection reset');
    expect(pool.members[0]!.metrics.errors.lost).toBe(1);
    expect(pool.members[0]!.breaker.toJSON().failures).toBe(2);
  });
});
