/**
 * Compression metrics for /metrics: bytes before and after, and time, per
 * codec, read from the plain-number counters in stats.ts at scrape time.
 */
import type { ExtraMetric } from '../metrics/metrics.js';
import { byLabel } from '../metrics/extra-metrics.js';
import { CODEC_NAMES } from './codec.js';
import { compressionStats, type CodecStats } from './stats.js';

function perCodec(name: string, help: string, read: (s: CodecStats) => number): ExtraMetric {
  return byLabel('counter', name, help, 'codec', CODEC_NAMES, (codec) => read(compressionStats[codec]));
}

/** Metrics in the shape createRegistry's `extra` option takes. */
export function compressionMetrics(): ExtraMetric[] {
  return [
    perCodec('mcp_ws_compression_in_bytes_total', 'Bytes of messages before compression, by codec', (s) => s.compressBytesIn),
    perCodec('mcp_ws_compression_out_bytes_total', 'Bytes of messages after compression, by codec', (s) => s.compressBytesOut),
    perCodec('mcp_ws_compression_seconds_total', 'Time spent compressing, by codec', (s) => s.compressSeconds),
    perCodec('mcp_ws_decompression_in_bytes_total', 'Compressed bytes received, by codec', (s) => s.decompressBytesIn),
    perCodec('mcp_ws_decompression_out_bytes_total', 'Bytes after decompression, by codec', (s) => s.decompressBytesOut),
    perCodec('mcp_ws_decompression_seconds_total', 'Time spent decompressing, by codec', (s) => s.decompressSeconds),
    { name: 'mcp_ws_compression_refused_total', help: 'Compressed messages refused: too big once decompressed, or invalid', type: 'counter', read: () => CODEC_NAMES.flatMap((codec) => [
      { labels: { codec, reason: 'too_big' }, value: compressionStats[codec].tooBig },
      { labels: { codec, reason: 'invalid' }, value: compressionStats[codec].invalid },
    ]) },
  ];
}
