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
