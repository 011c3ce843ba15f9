/**
 * Server metrics: plain numbers on the hot path, Prometheus text at scrape time.
 *
 * The per-message path only does `m.messagesReceived++` or
 * `m.observeLatency(s)` — property increments on an object of stable shape —
 * and prom-client reads the numbers when /metrics is scraped, through metric
 * objects whose `get()` builds the values then. This is why a counter costs a
 * few nanoseconds here instead of prom-client's ~40 ns per `inc()`
 * (PERFORMANCE.md), and why a histogram observation is a short bucket scan.
 *
 * Names follow Prometheus conventions; the table in the README maps each to
 * the seed's name (websocket_connections_total → mcp_ws_connections_active, …).
 */
import { collectDefaultMetrics, Registry } from 'prom-client';

/** Upper bounds in seconds: the seed's buckets, 1 ms … 10 s. */
export const LATENCY_BUCKETS: readonly number[] = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

/** Error kinds counted in mcp_ws_errors_total{kind}. Fixed so the object shape never changes. */
export const ERROR_KINDS = [
  'parse',
  'invalid_request',
  'method_not_found',
  'invalid_params',
  'internal',
  'unsupported_data',
  'socket',
  'heartbeat_timeout',
  'slow_consumer',
  'message_timeout',
  'forbidden',
  'rate_limited',
  'notification_dropped',
  'codec',
] as const;
export type ErrorKind = (typeof ERROR_KINDS)[number];

/** Rejections before the upgrade, counted in mcp_ws_upgrade_rejected_total{reason}. */
export const REJECT_REASONS = [
  'path',
  'draining',
  'max_connections',
  'max_connections_per_ip',
  'not_upgrade',
  'headers',
  'origin',
  'host',
  'auth',
  'forbidden',
  'handshake_rate',
  'auth_unavailable',
  'internal',
] as const;
export type RejectReason = (typeof REJECT_REASONS)[number];

/** A histogram with fixed buckets, counted in plain numbers. */
export class LatencyHistogram {
  readonly bounds: Float64Array;
  /** counts[i] counts observations <= bounds[i]; the last slot is +Inf. Not cumulative. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(bounds: readonly number[] = LATENCY_BUCKETS) {
    this.bounds = Float64Array.from(bounds);
    this.counts = new Float64Array(bounds.length + 1);
  }

  /** Records one observation in seconds. */
  observe(seconds: number): void {
    const b = this.bounds;
    let i = 0;
    while (i < b.length && seconds > b[i]!) i++;
    this.counts[i]!++;
    this.sum += seconds;
    this.count++;
  }
}

/** Counters and gauges of one server. Every field is a plain number. */
export class ServerMetrics {
  connectionsActive = 0;
  connectionsOpened = 0;
  messagesReceived = 0;
  messagesSent = 0;
  bytesReceived = 0;
  bytesSent = 0;
  requestsInFlight = 0;
  readonly requestLatency = new LatencyHistogram();
  readonly errors: Record<ErrorKind, number>;
  readonly rejected: Record<RejectReason, number>;

  constructor() {
    this.errors = Object.fromEntries(ERROR_KINDS.map((k) => [k, 0])) as Record<ErrorKind, number>;
    this.rejected = Object.fromEntries(REJECT_REASONS.map((k) => [k, 0])) as Record<RejectReason, number>;
  }

  /** A plain snapshot for logs, tests and the dashboard. */
  snapshot(): Record<string, unknown> {
    return {
      connectionsActive: this.connectionsActive,
      connectionsOpened: this.connectionsOpened,
      messagesReceived: this.messagesReceived,
      messagesSent: this.messagesSent,
      bytesReceived: this.bytesReceived,
      bytesSent: this.bytesSent,
      requestsInFlight: this.requestsInFlight,
      requests: this.requestLatency.count,
      latencySecondsSum: this.requestLatency.sum,
      errors: { ...this.errors },
      rejected: { ...this.rejected },
    };
  }
}

/** Counters that stand in when a handler serves a peer outside a server (they are never exported). */
const DETACHED_ERRORS: Record<ErrorKind, number> = new ServerMetrics().errors;

/**
 * The error counters of the server a session peer belongs to. A server
 * session carries its server's metrics (`host.metrics`); any other peer gets
 * counters nobody reads. Handlers call this once per session, never per message.
 */
export function errorCountersOf(peer: object): Record<ErrorKind, number> {
  const metrics = (peer as { host?: { metrics?: unknown } }).host?.metrics;
  return metrics instanceof ServerMetrics ? metrics.errors : DETACHED_ERRORS;
}

/** Counts a JSON-RPC error reply a handler produced: -32601 as method_not_found, -32602 as invalid_params. */
export function countRpcError(errors: Record<ErrorKind, number>, rpcCode: number): void {
  if (rpcCode === -32601) errors.method_not_found++;
  else if (rpcCode === -32602) errors.invalid_params++;
}

type MetricType = 'counter' | 'gauge' | 'histogram';
interface MetricValue {
  value: number;
  labels?: Record<string, string | number>;
  metricName?: string;
}

/**
 * A metric prom-client can register whose values are read at scrape time.
 * prom-client's Registry accepts any object with name/help/type/get().
 */
class ScrapeTimeMetric {
  readonly aggregator = 'sum';
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: MetricType,
    private readonly read: () => MetricValue[],
  ) {}
  get(): { name: string; help: string; type: MetricType; values: MetricValue[]; aggregator: string } {
    return { name: this.name, help: this.help, type: this.type, values: this.read(), aggregator: this.aggregator };
  }
  reset(): void {}
}

function histogramValues(name: string, h: LatencyHistogram): MetricValue[] {
  const values: MetricValue[] = [];
  let cumulative = 0;
  for (let i = 0; i < h.bounds.length; i++) {
    cumulative += h.counts[i]!;
    values.push({ metricName: `${name}_bucket`, labels: { le: h.bounds[i]! }, value: cumulative });
  }
  cumulative += h.counts[h.bounds.length]!;
  values.push({ metricName: `${name}_bucket`, labels: { le: '+Inf' }, value: cumulative });
  values.push({ metricName: `${name}_sum`, value: h.sum });
  values.push({ metricName: `${name}_count`, value: h.count });
  return values;
}

/** A metric from another module (rate limiter, gateway), read at scrape time. */
export interface ExtraMetric {
  name: string;
  help: string;
  type: MetricType;
  read: () => MetricValue[];
}

/** Options of {@link createRegistry}. */
export interface RegistryOptions {
  /** Add prom-client's default process metrics (CPU, memory, event loop lag). Default true. */
  defaultMetrics?: boolean;
  /** Extra metrics to register on the same registry (e.g. from the gateway). */
  extra?: ExtraMetric[];
}

/** Builds a prom-client registry exporting one server's metrics. One registry per server. */
export function createRegistry(m: ServerMetrics, options: RegistryOptions = {}): Registry {
  const reg = new Registry();
  const add = (name: string, help: string, type: MetricType, read: () => MetricValue[]): void => {
    reg.registerMetric(new ScrapeTimeMetric(name, help, type, read) as never);
  };
  add('mcp_ws_connections_active', 'Open WebSocket sessions (seed: websocket_connections_total)', 'gauge', () => [
    { value: m.connectionsActive },
  ]);
  add('mcp_ws_connections_opened_total', 'WebSocket sessions accepted since start', 'counter', () => [
    { value: m.connectionsOpened },
  ]);
  add('mcp_ws_messages_received_total', 'JSON-RPC messages received (seed: websocket_messages_received_total)', 'counter', () => [
    { value: m.messagesReceived },
  ]);
  add('mcp_ws_messages_sent_total', 'JSON-RPC messages sent (seed: websocket_messages_sent_total)', 'counter', () => [
    { value: m.messagesSent },
  ]);
  add('mcp_ws_received_bytes_total', 'Payload bytes received in WebSocket messages', 'counter', () => [
    { value: m.bytesReceived },
  ]);
  add('mcp_ws_sent_bytes_total', 'Payload bytes sent in WebSocket messages', 'counter', () => [{ value: m.bytesSent }]);
  add('mcp_ws_requests_in_flight', 'Requests being handled', 'gauge', () => [{ value: m.requestsInFlight }]);
  add(
    'mcp_ws_request_duration_seconds',
    'Time from receiving a request to sending its response (seed: websocket_latency_seconds)',
    'histogram',
    () => histogramValues('mcp_ws_request_duration_seconds', m.requestLatency),
  );
  add('mcp_ws_errors_total', 'Errors by kind (seed: websocket_errors_total)', 'counter', () =>
    ERROR_KINDS.map((kind) => ({ labels: { kind }, value: m.errors[kind] })),
  );
  add('mcp_ws_upgrade_rejected_total', 'Upgrade requests rejected before the handshake, by reason', 'counter', () =>
    REJECT_REASONS.map((reason) => ({ labels: { reason }, value: m.rejected[reason] })),
  );
  for (const e of options.extra ?? []) add(e.name, e.help, e.type, e.read);
  if (options.defaultMetrics !== false) collectDefaultMetrics({ register: reg });
  return reg;
}
