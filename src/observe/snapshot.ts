/**
 * The server's snapshot: ServerMetrics.snapshot() plus what only the server
 * knows (sessions, slots, draining), the process (memory, CPU), the extra
 * metrics it exports (rate limiter, compression, gateway, LLM streams: each
 * summed over its labels), the handler's own snapshot when it has one (the
 * gateway's upstreams and breakers), and rates over the interval since the
 * previous snapshot.
 */
import { bucketQuantile, type ExtraMetric, type MetricsSnapshot, type ServerMetrics } from '../metrics/metrics.js';

/** What a snapshot reads from its server. */
export interface SnapshotHost {
  readonly metrics: ServerMetrics;
  readonly sessionCount: number;
  readonly httpSessionCount: number;
  readonly slotCount: number;
  readonly draining: boolean;
  /** The metrics exported beside the server's own, read here as /metrics reads them. */
  readonly extraMetrics: readonly ExtraMetric[];
  /** The handler's snapshot (the gateway: pool, upstreams, breakers), when it has one. */
  readonly handlerSnapshot: (() => unknown) | undefined;
  /** True while requests are traced (an OpenTelemetry tracer provider is registered). */
  readonly tracingActive: boolean;
  /** Set in a cluster worker (`--workers`): the cluster's state as the primary last reported it. */
  readonly cluster?: { readonly state: { readonly up: number; readonly total: number; readonly draining: boolean } } | undefined;
}

/** Rates over the interval since the previous snapshot. */
export interface Rates {
  seconds: number;
  messagesInPerSec: number;
  messagesOutPerSec: number;
  requestsPerSec: number;
  errorsPerSec: number;
  rateLimitedPerSec: number;
  bytesInPerSec: number;
  bytesOutPerSec: number;
  /** Latency of the requests answered in the interval (from the histogram's bucket deltas), ms. */
  p50Ms: number;
  p99Ms: number;
}

export interface ServerSnapshot extends MetricsSnapshot {
  sessions: number;
  httpSessions: number;
  slots: number;
  draining: boolean;
  tracing: boolean;
  /** Under `--workers`: workers serving, workers the primary keeps, draining; null when not clustered. The rest of the snapshot is this worker's. */
  cluster: { up: number; total: number; draining: boolean } | null;
  process: { pid: number; uptimeSec: number; rssBytes: number; heapUsedBytes: number; heapTotalBytes: number; externalBytes: number; cpuPercent: number };
  /** Each extra metric summed over its labels. */
  extra: Record<string, number>;
  /** Labelled samples of the extra metrics that have labels (at most 32 per metric). */
  labelled: Record<string, Array<{ labels: Record<string, string | number>; value: number }>>;
  /** Compressed bytes out per byte in, over all codecs since start; null before any compression. */
  compressionRatio: number | null;
  handler: unknown;
  rates: Rates | null;
}

const MAX_LABELLED = 32;

/** Takes snapshots of one server, each with its rates against the one before. */
export class Snapshotter {
  private prev: ServerSnapshot | undefined;
  private prevCpu = process.cpuUsage();
  private prevCpuAt = performance.now();

  constructor(private readonly host: SnapshotHost) {}

  take(): ServerSnapshot {
    const h = this.host;
    const m = h.metrics.snapshot();
    const extra: Record<string, number> = {};
    const labelled: ServerSnapshot['labelled'] = {};
    for (const e of h.extraMetrics) {
      let values: ReturnType<ExtraMetric['read']>;
      try {
        values = e.read();
      } catch {
        continue;
      }
      let sum = 0;
      for (const v of values) sum += v.value;
      extra[e.name] = sum;
      if (values.some((v) => v.labels !== undefined)) {
        labelled[e.name] = values.slice(0, MAX_LABELLED).map((v) => ({ labels: v.labels ?? {}, value: v.value }));
      }
    }
    const cin = extra.mcp_ws_compression_in_bytes_total;
    const cout = extra.mcp_ws_compression_out_bytes_total;
    const mem = process.memoryUsage();
    const now = performance.now();
    const cpu = process.cpuUsage(this.prevCpu);
    const cpuPercent = now > this.prevCpuAt ? Math.round(((cpu.user + cpu.system) / 1000 / (now - this.prevCpuAt)) * 1000) / 10 : 0;
    this.prevCpu = process.cpuUsage();
    this.prevCpuAt = now;
    let handler: unknown = null;
    try {
      handler = h.handlerSnapshot?.() ?? null;
    } catch {
      handler = null;
    }
    const snap: ServerSnapshot = {
      ...m,
      sessions: h.sessionCount,
      httpSessions: h.httpSessionCount,
      slots: h.slotCount,
      draining: h.draining,
      tracing: h.tracingActive,
      cluster: h.cluster ? { up: h.cluster.state.up, total: h.cluster.state.total, draining: h.cluster.state.draining } : null,
      process: {
        pid: process.pid,
        uptimeSec: Math.round(process.uptime()),
        rssBytes: mem.rss,
        heapUsedBytes: mem.heapUsed,
        heapTotalBytes: mem.heapTotal,
        externalBytes: mem.external,
        cpuPercent,
      },
      extra,
      labelled,
      compressionRatio: cin !== undefined && cout !== undefined && cin > 0 ? Math.round((cout / cin) * 1000) / 1000 : null,
      handler,
      rates: null,
    };
    snap.rates = this.prev ? rates(this.prev, snap) : null;
    this.prev = snap;
    return snap;
  }
}

const sumOf = (r: Record<string, number>): number => {
  let s = 0;
  for (const k in r) s += r[k]!;
  return s;
};

function rates(a: ServerSnapshot, b: ServerSnapshot): Rates {
  const seconds = Math.max(0.001, (b.time - a.time) / 1000);
  const per = (x: number, y: number): number => Math.round(((y - x) / seconds) * 10) / 10;
  const counts = b.latency.counts.map((c, i) => c - (a.latency.counts[i] ?? 0));
  const n = b.requests - a.requests;
  const q = (p: number): number => Math.round(bucketQuantile(b.latency.bounds, counts, n, p) * 1e6) / 1e3;
  return {
    seconds,
    messagesInPerSec: per(a.messagesReceived, b.messagesReceived),
    messagesOutPerSec: per(a.messagesSent, b.messagesSent),
    requestsPerSec: per(a.requests, b.requests),
    errorsPerSec: per(sumOf(a.errors), sumOf(b.errors)),
    rateLimitedPerSec: per(a.errors.rate_limited, b.errors.rate_limited),
    bytesInPerSec: per(a.bytesReceived, b.bytesReceived),
    bytesOutPerSec: per(a.bytesSent, b.bytesSent),
    p50Ms: q(0.5),
    p99Ms: q(0.99),
  };
}
