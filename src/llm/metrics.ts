/**
 * LLM streaming metrics: plain numbers kept by the streams, read at scrape
 * time. {@link llmMetrics} returns them in the shape the server's `metrics`
 * option (createRegistry's `extra`) takes.
 *
 *   mcp_ws_llm_streams_active                    gauge      streams open now
 *   mcp_ws_llm_streams_total                     counter    streams started
 *   mcp_ws_llm_time_to_first_token_seconds       histogram  from the request to the first text delta
 *   mcp_ws_llm_stream_duration_seconds           histogram  from the request to the end of the stream
 *   mcp_ws_llm_deltas_relayed_total              counter    text deltas relayed to clients
 *   mcp_ws_llm_output_tokens_total               counter    output tokens, as the providers reported them
 *   mcp_ws_llm_streams_cancelled_total           counter    streams ended by the client (cancel, disconnect)
 *   mcp_ws_llm_errors_total{kind}                counter    auth | rate_limited | upstream | timeouts | busy | …
 *   mcp_ws_llm_retries_total                     counter    attempts made again before the first token
 *   mcp_ws_llm_upstream_bytes_total              counter    response body bytes read from providers
 *   mcp_ws_llm_paused_total                      counter    times a stream stopped reading its provider for a slow client
 */
import { LatencyHistogram, type ExtraMetric } from '../metrics/metrics.js';
import { byLabel, counter, gauge, histogram } from '../metrics/extra-metrics.js';
import { LLM_ERROR_KINDS, type LlmErrorKind } from './provider.js';

/** Time to first token, seconds: 50 ms … 60 s. */
export const TTFT_BUCKETS: readonly number[] = [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60];
/** Stream duration, seconds: 100 ms … 10 min. */
export const STREAM_DURATION_BUCKETS: readonly number[] = [0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];

/** The counters of one server's LLM streams. */
export class LlmMetrics {
  streamsActive = 0;
  streamsStarted = 0;
  deltasRelayed = 0;
  outputTokens = 0;
  cancelled = 0;
  retries = 0;
  upstreamBytes = 0;
  paused = 0;
  readonly timeToFirstToken = new LatencyHistogram(TTFT_BUCKETS);
  readonly streamDuration = new LatencyHistogram(STREAM_DURATION_BUCKETS);
  readonly errors: Record<LlmErrorKind, number>;

  constructor() {
    this.errors = Object.fromEntries(LLM_ERROR_KINDS.map((k) => [k, 0])) as Record<LlmErrorKind, number>;
  }
}

/** The metrics of `m`, for McpWsServer's `metrics` option. */
export function llmMetrics(m: LlmMetrics): ExtraMetric[] {
  return [
    gauge('mcp_ws_llm_streams_active', 'LLM streams open', () => m.streamsActive),
    counter('mcp_ws_llm_streams_total', 'LLM streams started', () => m.streamsStarted),
    histogram('mcp_ws_llm_time_to_first_token_seconds', 'Time from the request to the first text delta', () => [{ h: m.timeToFirstToken }]),
    histogram('mcp_ws_llm_stream_duration_seconds', 'Time from the request to the end of the stream', () => [{ h: m.streamDuration }]),
    counter('mcp_ws_llm_deltas_relayed_total', 'Text deltas relayed to clients', () => m.deltasRelayed),
    counter('mcp_ws_llm_output_tokens_total', 'Output tokens, as the providers reported them', () => m.outputTokens),
    counter('mcp_ws_llm_streams_cancelled_total', 'LLM streams ended by the client (cancel or disconnect)', () => m.cancelled),
    byLabel('counter', 'mcp_ws_llm_errors_total', 'LLM streams failed, by kind', 'kind', LLM_ERROR_KINDS, (kind) => m.errors[kind]),
    counter('mcp_ws_llm_retries_total', 'Provider requests made again before the first token', () => m.retries),
    counter('mcp_ws_llm_upstream_bytes_total', 'Response body bytes read from LLM providers', () => m.upstreamBytes),
    counter('mcp_ws_llm_paused_total', 'Times a stream stopped reading its provider because the client was not reading', () => m.paused),
  ];
}
