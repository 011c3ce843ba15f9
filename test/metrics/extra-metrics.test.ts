/**
 * The scrape-time metric builders: the families the LLM and compression
 * modules declare with them keep their names, labels and sample shapes.
 */
import { describe, expect, it } from 'vitest';
import { ServerMetrics, createRegistry } from '../../src/metrics/metrics.js';
import { LlmMetrics, llmMetrics } from '../../src/llm/metrics.js';
import { compressionMetrics } from '../../src/compression/metrics.js';

describe('extra metric builders', () => {
  it('LLM metrics: counters, gauges, errors by kind and histograms, as scraped', async () => {
    const m = new LlmMetrics();
    m.streamsActive = 2;
    m.streamsStarted = 5;
    m.errors.auth = 1;
    m.timeToFirstToken.observe(0.2);
    m.timeToFirstToken.observe(3);
    const text = await createRegistry(new ServerMetrics(), { defaultMetrics: false, extra: llmMetrics(m) }).metrics();
    expect(text).toMatch(/^# TYPE mcp_ws_llm_streams_active gauge\nmcp_ws_llm_streams_active 2$/m);
    expect(text).toMatch(/^# TYPE mcp_ws_llm_streams_total counter\nmcp_ws_llm_streams_total 5$/m);
    expect(text).toMatch(/^mcp_ws_llm_errors_total\{kind="auth"\} 1$/m);
    expect(text).toMatch(/^# TYPE mcp_ws_llm_time_to_first_token_seconds histogram$/m);
    expect(text).toMatch(/^mcp_ws_llm_time_to_first_token_seconds_bucket\{le="0.1"\} 0$/m);
    expect(text).toMatch(/^mcp_ws_llm_time_to_first_token_seconds_bucket\{le="0.25"\} 1$/m);
    expect(text).toMatch(/^mcp_ws_llm_time_to_first_token_seconds_bucket\{le="\+Inf"\} 2$/m);
    expect(text).toMatch(/^mcp_ws_llm_time_to_first_token_seconds_count 2$/m);
    expect(text).toMatch(/^mcp_ws_llm_time_to_first_token_seconds_sum 3.2$/m);
    for (const name of ['deltas_relayed', 'output_tokens', 'streams_cancelled', 'retries', 'upstream_bytes', 'paused']) {
      expect(text).toMatch(new RegExp(`^mcp_ws_llm_${name}_total 0$`, 'm'));
    }
  });

  it('compression metrics: one sample per codec, refusals by codec and reason', async () => {
    const text = await createRegistry(new ServerMetrics(), { defaultMetrics: false, extra: compressionMetrics() }).metrics();
    expect(text).toMatch(/^# TYPE mcp_ws_compression_in_bytes_total counter$/m);
    expect(text).toMatch(/^mcp_ws_compression_in_bytes_total\{codec="gzip"\} \d+$/m);
    expect(text).toMatch(/^mcp_ws_compression_refused_total\{codec="gzip",reason="too_big"\} \d+$/m);
  });
});
