/**
 * Pool behaviour with real stdio children: warm and cold acquires, the
 * acquire timeout and its error, a start that cannot open anything,
 * autoscaling up and down, the idle timeout, and the metrics export.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ServerMetrics, createRegistry } from '../../src/metrics/metrics.js';
import { McpWsGateway } from '../../src/gateway/gateway.js';
import { UpstreamPool } from '../../src/gateway/pool.js';
import { parseUpstreams } from '../../src/gateway/config.js';
import { McpRpcError } from '../../src/protocol/errors.js';
import { type ClientCloseInfo } from '../../src/transport/client.js';
import { McpWsClient } from '../../src/transport/client.js';
import { closeAll, connect, fixtureUpstream, startGateway, until } from './helpers.js';

afterEach(closeAll);

describe('UpstreamPool', () => {
  it('opens minConnections warm sessions at start and hands them out warm', async () => {
    const { url, gateway } = await startGateway({ upstreams: [fixtureUpstream('a')], pool: { minConnections: 2, enableAutoScaling: false } });
    expect(gateway.pool.idle).toBe(2);
    await connect(url);
    expect(gateway.pool.stats.acquiredWarm).toBe(1);
    // The leased session is not replaced while the pool holds minConnections.
    expect(gateway.pool.size).toBe(2);
  });

  it('opens a session for a client when none is warm (cold), up to maxConnections', async () => {
    const { url, gateway } = await startGateway({ upstreams: [fixtureUpstream('a')], pool: { minConnections: 0, maxConnections: 2, enableAutoScaling: false } });
    expect(gateway.pool.size).toBe(0);
    await connect(url);
    await connect(url);
    expect(gateway.pool.stats.acquiredCold).toBe(2);
    expect(gateway.pool.leased).toBe(2);
  });

  it('a client that finds the pool full waits acquireTimeoutMs, then gets -32016 and close 1013', async () => {
    const { url, gateway } = await startGateway({
      upstreams: [fixtureUpstream('a')],
      pool: { minConnections: 1, maxConnections: 1, acquireTimeoutMs: 400, enableAutoScaling: false },
    });
    await connect(url);
    const late = await McpWsClient.connect(url, { heartbeat: false });
    const closed = new Promise<ClientCloseInfo>((r) => late.onClose(r));
    const err = await late.initialize().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(McpRpcError);
    expect((err as McpRpcError).code).toBe(-32016);
    expect((err as McpRpcError).message).toContain('no upstream session free within 400 ms: 1 of maxConnections 1 in use');
    expect((await closed).code).toBe(1013);
    expect(gateway.pool.stats.acquireTimeouts).toBe(1);
  });

  it('when every breaker is open a client waits acquireTimeoutMs, then gets -32016 naming the open breakers, and close 1013', async () => {
    const { url, gateway } = await startGateway({
      upstreams: [{ command: process.execPath, args: ['-e', 'process.stderr.write("boom\\n"); process.exit(3)'], name: 'dies' }],
      pool: { minConnections: 0, acquireTimeoutMs: 500 },
      breaker: { failureThreshold: 1, halfOpenAfterMs: 60_000 },
    });
    const c = await McpWsClient.connect(url, { heartbeat: false });
    const closed = new Promise<ClientCloseInfo>((r) => c.onClose(r));
    const err = (await c.initialize().catch((e: unknown) => e)) as McpRpcError;
    expect(err.code).toBe(-32016);
    expect(err.message).toMatch(/no healthy upstream within 500 ms: all 1 circuit breakers are open \(next trial in \d+ ms\)/);
    expect((await closed).code).toBe(1013);
    expect(gateway.pool.members[0]!.breaker.state).toBe('open');
    expect(gateway.pool.members[0]!.metrics.errors.connect).toBe(1);
  });

  it('start fails with one clear line when no upstream can be started', async () => {
    const gateway = new McpWsGateway({ upstreams: ['mcp-ws-no-such-command-xyz --stdio'], pool: { minConnections: 1 }, breaker: { failureThreshold: 1 } });
    await expect(gateway.start()).rejects.toThrow(/no upstream session could be opened: cannot start stdio upstream "mcp-ws-no-such-command-xyz --stdio": command not found/);
  });

  it('grows ahead of demand at scaleUpThreshold and shrinks after the cool-down, never below minConnections', async () => {
    const { url, gateway } = await startGateway({
      upstreams: [fixtureUpstream('a'), fixtureUpstream('b')],
      pool: { minConnections: 1, maxConnections: 8, enableAutoScaling: true, scaleUpThreshold: 0.6, scaleDownThreshold: 0.2, scaleDownCooldownMs: 200 },
      tickMs: 50,
    });
    const pool = gateway.pool;
    const c1 = await connect(url);
    const c2 = await connect(url);
    // 2 leased: the pool opens warm sessions until utilization is back under scaleUpThreshold
    // (how many depends on whether the second client came before the first warm-up finished).
    await until(() => pool.leased === 2 && pool.idle >= 2 && pool.leased / pool.size < 0.6, 20_000, 'warm sessions opened ahead of demand');
    await c1.close();
    await c2.close();
    await until(() => pool.leased === 0 && pool.size === 1, 20_000, 'the pool to shrink back to minConnections');
  }, 60_000);

  it('closes idle sessions beyond minConnections after idleTimeoutMs', async () => {
    const upstreams = parseUpstreams([fixtureUpstream('a')]);
    // Autoscaling grows the pool; its shrinking is pushed far away so only the idle timeout can act.
    const pool = new UpstreamPool({
      upstreams,
      pool: { minConnections: 1, scaleUpThreshold: 0.5, scaleDownThreshold: 0.1, scaleDownCooldownMs: 3_600_000, idleTimeoutMs: 150 },
      tickMs: 25,
    });
    await pool.start();
    try {
      const s = await pool.acquire();
      await until(() => pool.idle >= 1, 10_000, 'autoscaling to open a warm session');
      pool.release(s);
      await until(() => pool.size === 1 && pool.idle === 1, 5000, 'idle sessions beyond minConnections to expire');
    } finally {
      await pool.close();
    }
  });

  it('exports per-upstream metrics in the shape createRegistry accepts', async () => {
    const { url, gateway } = await startGateway({ upstreams: [fixtureUpstream('a')], pool: { enableAutoScaling: false } });
    const c = await connect(url);
    await c.request('tools/call', { name: 'echo', arguments: { text: 'x' } });
    const registry = createRegistry(new ServerMetrics(), { defaultMetrics: false, extra: gateway.metrics() });
    const out = await registry.metrics();
    expect(out).toContain('mcp_ws_gateway_upstream_sessions{upstream="a",state="active"} 1');
    expect(out).toContain('mcp_ws_gateway_upstream_breaker_state{upstream="a"} 0');
    expect(out).toMatch(/mcp_ws_gateway_upstream_request_duration_seconds_count\{upstream="a"\} [1-9]/);
    expect(out).toMatch(/mcp_ws_gateway_upstream_requests_total\{upstream="a"\} [1-9]/);
    expect(out).toContain('mcp_ws_gateway_pool_size 1');
  });
});
