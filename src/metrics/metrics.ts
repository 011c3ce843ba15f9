/**
 * Server metrics: plain numbers on the hot path, Prometheus text at scrape time.
 *
 * The per-message path only does `m.messagesReceived++` or
 * `m.requestLatency.observe(s)` — property increments on an object of stable
 * shape — and the numbers are read when /metrics is scraped. This is why a
 * counter costs a few nanoseconds here instead of prom-client's ~40 ns per
 * `inc()` (PERFORMANCE.md), and why a histogram observation is a short
 * bucket scan.
 *
 * The exposition text of these metrics is written here (text format 0.0.4,
 * the same lines prom-client writes); prom-client supplies the process's
 * default metrics after them. prom-client has no public way to set a
 * histogram's buckets, which is why the text is ours rather than fed through
 * its metric objects.
 *
 * Names follow Prometheus conventions; the table in the README maps each to
 * the seed's name (websocket_connections_total → mcp_ws_connections_active, …).
 */
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
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
  'undeliverable',
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

/**
 * Statuses of Streamable HTTP responses on the MCP endpoint, counted in
 * mcp_ws_http_responses_total{status}: a fixed list, so a label never grows;
 * anything else counts as "other".
 */
export const HTTP_STATUSES = ['200', '202', '204', '400', '401', '403', '404', '405', '406', '408', '409', '413', '415', '426', '429', '500', '502', '503', '504', 'other'] as const;
export type HttpStatusLabel = (typeof HTTP_STATUSES)[number];

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

  /**
   * The q-quantile (0 < q ≤ 1) in seconds, interpolated linearly inside its
   * bucket as Prometheus' histogram_quantile() does; 0 when empty, the
   * largest finite bound when it falls in +Inf.
   */
  quantile(q: number): number {
    return bucketQuantile(this.bounds, this.counts, this.count, q);
  }
}

/** histogram_quantile() over non-cumulative bucket counts (the last slot is +Inf). */
export function bucketQuantile(bounds: ArrayLike<number>, counts: ArrayLike<number>, total: number, q: number): number {
  if (!(total > 0)) return 0;
  const rank = q * total;
  let cumulative = 0;
  for (let i = 0; i < counts.length; i++) {
    const c = counts[i]!;
    if (c > 0 && cumulative + c >= rank) {
      if (i >= bounds.length) return bounds[bounds.length - 1]!;
      const lower = i === 0 ? 0 : bounds[i - 1]!;
      return lower + ((bounds[i]! - lower) * (rank - cumulative)) / c;
    }
    cumulative += c;
  }
  return bounds[bounds.length - 1]!;
}

/** Distinct methods timed apart in {@link ServerMetrics.methodLatency}; later ones share {@link OTHER_METHOD}. */
export const MAX_TIMED_METHODS = 64;
/** The key of methods past {@link MAX_TIMED_METHODS} (method names come from clients). */
export const OTHER_METHOD = '(other)';

/** One method's latency in a snapshot. */
export interface MethodLatency {
  method: string;
  count: number;
  meanMs: number;
  p50Ms: number;
  p99Ms: number;
}

/** What {@link ServerMetrics.snapshot} returns: plain JSON. */
export interface MetricsSnapshot {
  /** Date.now() when taken. */
  time: number;
  connectionsActive: number;
  connectionsOpened: number;
  messagesReceived: number;
  messagesSent: number;
  bytesReceived: number;
  bytesSent: number;
  requestsInFlight: number;
  requests: number;
  latencySecondsSum: number;
  /** Request latency since start: the bucket bounds (s), counts per bucket (the last is +Inf), percentiles in ms. */
  latency: { bounds: number[]; counts: number[]; p50Ms: number; p90Ms: number; p99Ms: number; p999Ms: number; meanMs: number };
  /** Per-method latency, by request count. */
  methods: MethodLatency[];
  /** The five methods with the highest p99. */
  slowest: MethodLatency[];
  /** Event-loop delay in ms since the previous snapshot (perf_hooks.monitorEventLoopDelay), when monitored. */
  eventLoopDelay: { minMs: number; meanMs: number; p50Ms: number; p99Ms: number; maxMs: number } | null;
  errors: Record<ErrorKind, number>;
  rejected: Record<RejectReason, number>;
  httpResponses: Record<HttpStatusLabel, number>;
  httpSessionsActive: number;
  httpSessionsOpened: number;
}

const ms = (s: number): number => Math.round(s * 1e6) / 1e3;
const nsToMs = (ns: number): number => (Number.isFinite(ns) ? Math.round(ns / 1e3) / 1e3 : 0);

function methodLatency(method: string, h: LatencyHistogram): MethodLatency {
  return { method, count: h.count, meanMs: h.count > 0 ? ms(h.sum / h.count) : 0, p50Ms: ms(h.quantile(0.5)), p99Ms: ms(h.quantile(0.99)) };
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
  /** Streamable HTTP responses by status (see {@link HTTP_STATUSES}). */
  readonly httpResponses: Record<HttpStatusLabel, number>;
  /** Legacy (Mcp-Session-Id) Streamable HTTP sessions open. */
  httpSessionsActive = 0;
  /** Legacy Streamable HTTP sessions created since start. */
  httpSessionsOpened = 0;
  /** Passes of the server's session sweep (heartbeats and the other lifecycle policies). */
  sweeps = 0;
  /** Wall time the sweeps held the event loop, seconds. */
  sweepSeconds = 0;
  /** Process CPU time spent during the sweeps, seconds. */
  sweepCpuSeconds = 0;
  /** Request latency by JSON-RPC method; at most {@link MAX_TIMED_METHODS} keys plus {@link OTHER_METHOD}. */
  readonly methodLatency = new Map<string, LatencyHistogram>();
  private loopDelay: IntervalHistogram | undefined;

  constructor() {
    this.httpResponses = Object.fromEntries(HTTP_STATUSES.map((k) => [k, 0])) as Record<HttpStatusLabel, number>;
    this.errors = Object.fromEntries(ERROR_KINDS.map((k) => [k, 0])) as Record<ErrorKind, number>;
    this.rejected = Object.fromEntries(REJECT_REASONS.map((k) => [k, 0])) as Record<RejectReason, number>;
  }

  /**
   * Records one answered request: the overall histogram and its method's.
   * The per-method part is one Map lookup; a client cannot grow the map past
   * {@link MAX_TIMED_METHODS} with invented method names.
   */
  observeRequest(method: string, seconds: number): void {
    // One bucket scan serves both histograms: they share LATENCY_BUCKETS.
    const all = this.requestLatency;
    const b = all.bounds;
    let i = 0;
    while (i < b.length && seconds > b[i]!) i++;
    all.counts[i]!++;
    all.sum += seconds;
    all.count++;
    let h = this.methodLatency.get(method);
    if (h === undefined) {
      const key = this.methodLatency.size < MAX_TIMED_METHODS ? method : OTHER_METHOD;
      h = this.methodLatency.get(key);
      if (h === undefined) this.methodLatency.set(key, (h = new LatencyHistogram(LATENCY_BUCKETS)));
    }
    h.counts[i]!++;
    h.sum += seconds;
    h.count++;
  }

  /**
   * Starts sampling event-loop delay (perf_hooks.monitorEventLoopDelay, 20 ms
   * resolution: one libuv timer, nothing per message). Idempotent; snapshots
   * report it from then on. {@link stopEventLoopMonitor} ends it.
   */
  startEventLoopMonitor(): void {
    if (this.loopDelay) return;
    this.loopDelay = monitorEventLoopDelay({ resolution: 20 });
    this.loopDelay.enable();
  }

  stopEventLoopMonitor(): void {
    this.loopDelay?.disable();
    this.loopDelay = undefined;
  }

  /**
   * The seed's diagnostic, as plain JSON: counters, gauges, the latency
   * histogram with percentiles, per-method latency and the slowest methods,
   * event-loop delay since the previous snapshot (when monitored). Costs a
   * walk over a few dozen numbers; nothing on the message path.
   */
  snapshot(): MetricsSnapshot {
    const h = this.requestLatency;
    const methods = [...this.methodLatency].map(([k, v]) => methodLatency(k, v)).sort((a, b) => b.count - a.count);
    const d = this.loopDelay;
    let eventLoopDelay: MetricsSnapshot['eventLoopDelay'] = null;
    if (d) {
      eventLoopDelay = { minMs: nsToMs(d.min), meanMs: nsToMs(d.mean), p50Ms: nsToMs(d.percentile(50)), p99Ms: nsToMs(d.percentile(99)), maxMs: nsToMs(d.max) };
      d.reset();
    }
    return {
      time: Date.now(),
      connectionsActive: this.connectionsActive,
      connectionsOpened: this.connectionsOpened,
      messagesReceived: this.messagesReceived,
      messagesSent: this.messagesSent,
      bytesReceived: this.bytesReceived,
      bytesSent: this.bytesSent,
      requestsInFlight: this.requestsInFlight,
      requests: this.requestLatency.count,
      latencySecondsSum: this.requestLatency.sum,
      latency: {
        bounds: Array.from(h.bounds),
        counts: Array.from(h.counts),
        p50Ms: ms(h.quantile(0.5)),
        p90Ms: ms(h.quantile(0.9)),
        p99Ms: ms(h.quantile(0.99)),
        p999Ms: ms(h.quantile(0.999)),
        meanMs: h.count > 0 ? ms(h.sum / h.count) : 0,
      },
      methods,
      slowest: [...methods].sort((a, b) => b.p99Ms - a.p99Ms).slice(0, 5),
      eventLoopDelay,
      errors: { ...this.errors },
      rejected: { ...this.rejected },
      httpResponses: { ...this.httpResponses },
      httpSessionsActive: this.httpSessionsActive,
      httpSessionsOpened: this.httpSessionsOpened,
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

export type MetricType = 'counter' | 'gauge' | 'histogram';
export interface MetricValue {
  value: number;
  labels?: Record<string, string | number>;
  metricName?: string;
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

/** A sample value as the text format writes it. */
function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'Nan';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return `${v}`;
}

function escapeHelp(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function escapeLabel(s: string): string {
  return escapeHelp(s).replace(/"/g, '\\"');
}

/** `{a="x",b="y"}`, or '' without labels. */
function labelText(labels: Record<string, string | number> | undefined): string {
  if (labels === undefined) return '';
  let out = '';
  for (const k in labels) out += `${out === '' ? '{' : ','}${k}="${escapeLabel(String(labels[k]))}"`;
  return out === '' ? '' : `${out}}`;
}

/** One metric family: its header lines, fixed once, and a writer of its samples. */
interface Family {
  readonly name: string;
  readonly header: string;
  /** Appends `name{labels} value` lines, each ending in a newline. */
  readonly samples: () => string;
}

function family(name: string, help: string, type: MetricType, samples: () => string): Family {
  return { name, header: `# HELP ${name} ${escapeHelp(help)}\n# TYPE ${name} ${type}\n`, samples };
}

function extraFamily(e: ExtraMetric): Family {
  return family(e.name, e.help, e.type, () => {
    let out = '';
    for (const v of e.read()) out += `${v.metricName ?? e.name}${labelText(v.labels)} ${formatValue(v.value)}\n`;
    return out;
  });
}

/** Sample lines of a label-less histogram; the `le` parts are built once. */
function histogramFamily(name: string, help: string, h: LatencyHistogram): Family {
  const prefixes = Array.from(h.bounds, (b) => `${name}_bucket{le="${b}"} `);
  prefixes.push(`${name}_bucket{le="+Inf"} `);
  return family(name, help, 'histogram', () => {
    let out = '';
    let cumulative = 0;
    for (let i = 0; i < prefixes.length; i++) {
      cumulative += h.counts[i]!;
      out += `${prefixes[i]!}${formatValue(cumulative)}\n`;
    }
    return `${out}${name}_sum ${formatValue(h.sum)}\n${name}_count ${formatValue(h.count)}\n`;
  });
}

/** Sample lines of a counter with one label over fixed keys; the label parts are built once. */
function keyedFamily<K extends string>(name: string, help: string, label: string, keys: readonly K[], values: Record<K, number>): Family {
  const prefixes = keys.map((k) => `${name}{${label}="${escapeLabel(k)}"} `);
  return family(name, help, 'counter', () => {
    let out = '';
    for (let i = 0; i < keys.length; i++) out += `${prefixes[i]!}${formatValue(values[keys[i]!])}\n`;
    return out;
  });
}

function single(name: string, help: string, type: MetricType, read: () => number): Family {
  const prefix = `${name} `;
  return family(name, help, type, () => `${prefix}${formatValue(read())}\n`);
}

/** A family's text as prom-client writes one metric: header and samples, no trailing newline. */
function familyText(f: Family): string {
  return (f.header + f.samples()).slice(0, -1);
}

/**
 * A prom-client Registry whose `metrics()` and `getSingleMetricAsString()`
 * also give the server's own metrics, written at scrape time. The metrics
 * registered on it the usual way (the default ones) come after them.
 */
class ServerRegistry extends Registry {
  constructor(private readonly families: readonly Family[]) {
    super();
  }

  override async metrics(): Promise<string> {
    let out = '';
    for (const f of this.families) out += `${familyText(f)}\n\n`;
    if (this.getMetricsAsArray().length === 0) return out.slice(0, -1);
    return out + (await super.metrics());
  }

  override async getSingleMetricAsString(name: string): Promise<string> {
    for (const f of this.families) if (f.name === name) return familyText(f);
    return super.getSingleMetricAsString(name);
  }
}

/** Builds a prom-client registry exporting one server's metrics. One registry per server. */
export function createRegistry(m: ServerMetrics, options: RegistryOptions = {}): Registry {
  const families: Family[] = [
    single('mcp_ws_connections_active', 'Open WebSocket sessions (seed: websocket_connections_total)', 'gauge', () => m.connectionsActive),
    single('mcp_ws_connections_opened_total', 'WebSocket sessions accepted since start', 'counter', () => m.connectionsOpened),
    single('mcp_ws_messages_received_total', 'JSON-RPC messages received (seed: websocket_messages_received_total)', 'counter', () => m.messagesReceived),
    single('mcp_ws_messages_sent_total', 'JSON-RPC messages sent (seed: websocket_messages_sent_total)', 'counter', () => m.messagesSent),
    single('mcp_ws_received_bytes_total', 'Payload bytes received in WebSocket messages', 'counter', () => m.bytesReceived),
    single('mcp_ws_sent_bytes_total', 'Payload bytes sent in WebSocket messages', 'counter', () => m.bytesSent),
    single('mcp_ws_requests_in_flight', 'Requests being handled', 'gauge', () => m.requestsInFlight),
    histogramFamily(
      'mcp_ws_request_duration_seconds',
      'Time from receiving a request to sending its response (seed: websocket_latency_seconds)',
      m.requestLatency,
    ),
    keyedFamily('mcp_ws_errors_total', 'Errors by kind (seed: websocket_errors_total)', 'kind', ERROR_KINDS, m.errors),
    keyedFamily('mcp_ws_upgrade_rejected_total', 'Upgrade requests rejected before the handshake, by reason', 'reason', REJECT_REASONS, m.rejected),
    keyedFamily('mcp_ws_http_responses_total', 'Streamable HTTP responses on the MCP endpoint, by status', 'status', HTTP_STATUSES, m.httpResponses),
    single('mcp_ws_http_sessions_active', 'Open legacy (Mcp-Session-Id) Streamable HTTP sessions', 'gauge', () => m.httpSessionsActive),
    single('mcp_ws_http_sessions_opened_total', 'Legacy Streamable HTTP sessions created since start', 'counter', () => m.httpSessionsOpened),
    single('mcp_ws_sweeps_total', 'Passes of the session sweep (heartbeats, slow consumers, timeouts)', 'counter', () => m.sweeps),
    single('mcp_ws_sweep_seconds_total', 'Wall time the session sweeps held the event loop', 'counter', () => m.sweepSeconds),
    single('mcp_ws_sweep_cpu_seconds_total', 'Process CPU time spent during the session sweeps', 'counter', () => m.sweepCpuSeconds),
  ];
  const names = new Set(families.map((f) => f.name));
  for (const e of options.extra ?? []) {
    if (names.has(e.name)) throw new Error(`A metric with the name ${e.name} has already been registered.`);
    names.add(e.name);
    families.push(extraFamily(e));
  }
  const reg = new ServerRegistry(families);
  if (options.defaultMetrics !== false) collectDefaultMetrics({ register: reg });
  return reg;
}
