/**
 * Compression metrics for /metrics: bytes before and after, and time, per
 * codec, read from the plain-number counters in stats.ts at scrape time.
 */
import { CODEC_NAMES } from './codec.js';
import { compressionStats, type CodecStats } from './stats.js';

type Value = { value: number; labels?: Record<string, string> };

function perCodec(read: (s: CodecStats) => number): () => Value[] {
  return () => CODEC_NAMES.map((codec) => ({ labels: { codec }, value: read(compressionStats[codec]) }));
}

/** Metrics in the shape createRegistry's `extra` option takes. */
export function compressionMetrics(): Array<{ name: string; help: string; type: 'counter'; read: () => Value[] }> {
  return [
    { name: 'mcp_ws_compression_in_bytes_total', help: 'Bytes of messages before compression, by codec', type: 'counter', read: perCodec((s) => s.compressBytesIn) },
    { name: 'mcp_ws_compression_out_bytes_total', help: 'Bytes of messages after compression, by codec', type: 'counter', read: perCodec((s) => s.compressBytesOut) },
    { name: 'mcp_ws_compression_seconds_total', help: 'Time spent compressing, by codec', type: 'counter', read: perCodec((s) => s.compressSeconds) },
    { name: 'mcp_ws_decompression_in_bytes_total', help: 'Compressed bytes received, by codec', type: 'counter', read: perCodec((s) => s.decompressBytesIn) },
    { name: 'mcp_ws_decompression_out_bytes_total', help: 'Bytes after decompression, by codec', type: 'counter', read: perCodec((s) => s.decompressBytesOut) },
    { name: 'mcp_ws_decompression_seconds_total', help: 'Time spent decompressing, by codec', type: 'counter', read: perCodec((s) => s.decompressSeconds) },
    { name: 'mcp_ws_compression_refused_total', help: 'Compressed messages refused: too big once decompressed, or invalid', type: 'counter', read: () => CODEC_NAMES.flatMap((codec) => [
      { labels: { codec, reason: 'too_big' }, value: compressionStats[codec].tooBig },
      { labels: { codec, reason: 'invalid' }, value: compressionStats[codec].invalid },
    ]) },
  ];
}
