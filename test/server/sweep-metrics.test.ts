/**
 * The session sweep counts its passes and their cost (mcp_ws_sweep_*), so a
 * deployment can read what heartbeats cost per worker (docs/SCALING.md).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { closeAll, startServer } from '../helpers.js';

afterEach(closeAll);

describe('sweep metrics', () => {
  it('counts each pass with its wall time and CPU, and exports them', async () => {
    const { server, base } = await startServer();
    const before = server.metrics.sweeps;
    server.sweep();
    server.sweep();
    expect(server.metrics.sweeps).toBe(before + 2);
    expect(server.metrics.sweepSeconds).toBeGreaterThanOrEqual(0);
    expect(server.metrics.sweepCpuSeconds).toBeGreaterThanOrEqual(0);
    const text = await (await fetch(`${base}/metrics`)).text();
    expect(text).toMatch(/^# TYPE mcp_ws_sweeps_total counter$/m);
    expect(Number(/^mcp_ws_sweeps_total (\S+)$/m.exec(text)?.[1])).toBeGreaterThanOrEqual(before + 2);
    expect(text).toMatch(/^mcp_ws_sweep_seconds_total \S+$/m);
    expect(text).toMatch(/^mcp_ws_sweep_cpu_seconds_total \S+$/m);
  });
});
