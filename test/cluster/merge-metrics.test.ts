/**
 * mergeExpositions: the text one scrape of a cluster returns, from the
 * workers' texts. Sums what adds up, keeps per worker what does not, and
 * survives what a worker might send (empty text, a family only one worker
 * has, labels with spaces and braces, NaN and infinities).
 */
import { describe, expect, it } from 'vitest';
import { keptPerWorker, mergeExpositions } from '../../src/cluster/merge-metrics.js';

const w1 = `# HELP mcp_ws_messages_received_total JSON-RPC messages received
# TYPE mcp_ws_messages_received_total counter
mcp_ws_messages_received_total 10

# HELP mcp_ws_connections_active Open WebSocket sessions
# TYPE mcp_ws_connections_active gauge
mcp_ws_connections_active 3

# HELP mcp_ws_request_duration_seconds Request time
# TYPE mcp_ws_request_duration_seconds histogram
mcp_ws_request_duration_seconds_bucket{le="0.001"} 4
mcp_ws_request_duration_seconds_bucket{le="+Inf"} 10
mcp_ws_request_duration_seconds_sum 0.5
mcp_ws_request_duration_seconds_count 10

# HELP mcp_ws_errors_total Errors by kind
# TYPE mcp_ws_errors_total counter
mcp_ws_errors_total{kind="parse"} 1
mcp_ws_errors_total{kind="odd } label"} 2

# HELP mcp_ws_ratelimit_store_up 1 when the store answers
# TYPE mcp_ws_ratelimit_store_up gauge
mcp_ws_ratelimit_store_up 1

# HELP process_resident_memory_bytes Resident memory size in bytes.
# TYPE process_resident_memory_bytes gauge
process_resident_memory_bytes 1000
`;

const w2 = `# HELP mcp_ws_messages_received_total JSON-RPC messages received
# TYPE mcp_ws_messages_received_total counter
mcp_ws_messages_received_total 5

# HELP mcp_ws_connections_active Open WebSocket sessions
# TYPE mcp_ws_connections_active gauge
mcp_ws_connections_active 2

# HELP mcp_ws_request_duration_seconds Request time
# TYPE mcp_ws_request_duration_seconds histogram
mcp_ws_request_duration_seconds_bucket{le="0.001"} 1
mcp_ws_request_duration_seconds_bucket{le="+Inf"} 5
mcp_ws_request_duration_seconds_sum 0.25
mcp_ws_request_duration_seconds_count 5

# HELP mcp_ws_errors_total Errors by kind
# TYPE mcp_ws_errors_total counter
mcp_ws_errors_total{kind="parse"} 3
mcp_ws_errors_total{kind="odd } label"} 0

# HELP mcp_ws_ratelimit_store_up 1 when the store answers
# TYPE mcp_ws_ratelimit_store_up gauge
mcp_ws_ratelimit_store_up 0

# HELP mcp_ws_gateway_only Only this worker has it
# TYPE mcp_ws_gateway_only counter
mcp_ws_gateway_only NaN

# HELP process_resident_memory_bytes Resident memory size in bytes.
# TYPE process_resident_memory_bytes gauge
process_resident_memory_bytes 2000
`;

describe('mergeExpositions', () => {
  const merged = mergeExpositions([
    { worker: 1, text: w1 },
    { worker: 2, text: w2 },
    { worker: 3, text: '' },
  ]);

  it('sums counters, histograms (bucket by bucket, sum and count) and counting gauges', () => {
    expect(merged).toMatch(/^mcp_ws_messages_received_total 15$/m);
    expect(merged).toMatch(/^mcp_ws_connections_active 5$/m);
    expect(merged).toMatch(/^mcp_ws_request_duration_seconds_bucket\{le="0.001"\} 5$/m);
    expect(merged).toMatch(/^mcp_ws_request_duration_seconds_bucket\{le="\+Inf"\} 15$/m);
    expect(merged).toMatch(/^mcp_ws_request_duration_seconds_sum 0.75$/m);
    expect(merged).toMatch(/^mcp_ws_request_duration_seconds_count 15$/m);
    expect(merged).toMatch(/^mcp_ws_errors_total\{kind="parse"\} 4$/m);
    expect(merged).toMatch(/^mcp_ws_errors_total\{kind="odd \} label"\} 2$/m);
  });

  it('keeps state gauges and process metrics per worker, labelled', () => {
    expect(merged).toMatch(/^mcp_ws_ratelimit_store_up\{worker="1"\} 1$/m);
    expect(merged).toMatch(/^mcp_ws_ratelimit_store_up\{worker="2"\} 0$/m);
    expect(merged).toMatch(/^process_resident_memory_bytes\{worker="1"\} 1000$/m);
    expect(merged).toMatch(/^process_resident_memory_bytes\{worker="2"\} 2000$/m);
    expect(keptPerWorker('mcp_ws_gateway_breaker_open', 'gauge')).toBe(true);
    expect(keptPerWorker('mcp_ws_connections_active', 'gauge')).toBe(false);
    expect(keptPerWorker('nodejs_heap_size_used_bytes', 'gauge')).toBe(true);
  });

  it('writes each family once, with its HELP and TYPE, in first-seen order; odd values survive', () => {
    const types = [...merged.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => m[1]);
    expect(types).toEqual([
      'mcp_ws_messages_received_total',
      'mcp_ws_connections_active',
      'mcp_ws_request_duration_seconds',
      'mcp_ws_errors_total',
      'mcp_ws_ratelimit_store_up',
      'process_resident_memory_bytes',
      'mcp_ws_gateway_only',
    ]);
    expect(merged).toMatch(/^# HELP mcp_ws_gateway_only Only this worker has it$/m);
    expect(merged).toMatch(/^mcp_ws_gateway_only NaN$/m);
  });

  it('labels a sample that already has labels, and one with an empty label set', () => {
    const text = '# TYPE nodejs_gc_duration_seconds_count counter\nnodejs_gc_duration_seconds_count{kind="major"} 2\n# TYPE x_info gauge\nx_info{} 1\n';
    const out = mergeExpositions([{ worker: 7, text }]);
    expect(out).toMatch(/^nodejs_gc_duration_seconds_count\{worker="7",kind="major"\} 2$/m);
    expect(out).toMatch(/^x_info\{worker="7"\} 1$/m);
  });
});
