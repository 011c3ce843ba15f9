/**
 * Options of `mcp-ws bench`: defaults, then user values, validated once with
 * messages that name the option, then frozen. Both the CLI and the benchmark
 * suites under bench/ build a run from here.
 */
import { CODEC_NAMES, type CodecName } from '../compression/codec.js';
import { isCodecAvailable } from '../compression/codecs.js';

/** What a run is asked to do. Every field is resolved: see {@link resolveBenchOptions}. */
export interface BenchOptions {
  /** ws://, wss:// (MCP over WebSocket) or http://, https:// (Streamable HTTP). */
  readonly url: string;
  /** Sessions to open. Default 10. */
  readonly connections: number;
  /** Requests in flight per session in a closed-loop run. Default 1. */
  readonly concurrency: number;
  /** Measured run length in seconds; undefined when `messages` bounds the run. Default 10. */
  readonly durationSeconds: number | undefined;
  /** Total requests to send (after warm-up); undefined when `durationSeconds` bounds the run. */
  readonly messages: number | undefined;
  /** Approximate request size in bytes; pads the default echo text. Default 200. */
  readonly size: number;
  /** JSON-RPC method of each request. Default 'tools/call'. */
  readonly method: string;
  /** JSON-RPC params; undefined means the demo `echo` tool with padded text. */
  readonly params: Record<string, unknown> | undefined;
  /** Open loop: total requests per second sent on schedule; undefined for a closed loop. */
  readonly rate: number | undefined;
  /** Seconds over which the sessions are opened before the run starts. Default 0. */
  readonly rampSeconds: number;
  /** Seconds of load before measuring starts (JIT warm-up). Default 0. */
  readonly warmupSeconds: number;
  /** Extra handshake / request headers. */
  readonly headers: Readonly<Record<string, string>>;
  /** WebSocket subprotocol offered; '' offers none. Default 'mcp'. */
  readonly subprotocol: string;
  /** Codec offered as `mcp.<codec>` before the subprotocol (compressed binary frames when selected). */
  readonly codec: CodecName | undefined;
  /** worker_threads generating load; sessions are divided among them. Default 1. */
  readonly workers: number;
  /** A request unanswered this long counts as a timeout. Default 10,000 ms. */
  readonly timeoutMs: number;
  /** MCP revision asked for in initialize. Default '2025-11-25'. */
  readonly protocolVersion: string;
}

/** What a caller may pass: raw CLI strings or numbers; undefined means "default". */
export interface BenchInput {
  connections?: string | number;
  concurrency?: string | number;
  duration?: string | number;
  messages?: string | number;
  size?: string | number;
  method?: string;
  params?: string | Record<string, unknown>;
  rate?: string | number;
  ramp?: string | number;
  warmup?: string | number;
  header?: string[] | Record<string, string>;
  subprotocol?: string;
  codec?: string;
  workers?: string | number;
  timeoutMs?: string | number;
  protocolVersion?: string;
}

/** A user mistake in bench options: the CLI prints its message as one line and exits 1. */
export class BenchOptionError extends Error {
  readonly code = 'BENCH_BAD_OPTION';
}

const DEFAULT_DURATION_SECONDS = 10;
/** Sessions one run may open: far above one machine's ephemeral ports, but bounded. */
const MAX_CONNECTIONS = 1_000_000;

function fail(message: string): never {
  throw new BenchOptionError(message);
}

function show(v: unknown): string {
  return typeof v === 'string' ? `"${v}"` : String(v);
}

function integer(name: string, v: string | number | undefined, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
  if (v === undefined) return undefined;
  const n = typeof v === 'number' ? v : v.trim() === '' ? NaN : Number(v);
  if (!Number.isInteger(n) || n < min || n > max) {
    fail(`${name} should be an integer from ${min} to ${max}, got ${show(v)}`);
  }
  return n;
}

function positive(name: string, v: string | number | undefined, allowZero = false): number | undefined {
  if (v === undefined) return undefined;
  const n = typeof v === 'number' ? v : v.trim() === '' ? NaN : Number(v);
  if (!Number.isFinite(n) || n < 0 || (!allowZero && n === 0)) {
    fail(`${name} should be a ${allowZero ? 'non-negative' : 'positive'} number, got ${show(v)}`);
  }
  return n;
}

/** Parses repeated `--header "Name: value"` into an object. */
export function parseHeaders(list: string[] | Record<string, string> | undefined): Record<string, string> {
  if (list === undefined) return {};
  if (!Array.isArray(list)) return { ...list };
  const headers: Record<string, string> = {};
  for (const h of list) {
    const i = h.indexOf(':');
    if (i <= 0) fail(`--header should look like "Name: value", got "${h}"`);
    const name = h.slice(0, i).trim();
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) fail(`--header name should be an HTTP token, got "${name}"`);
    headers[name] = h.slice(i + 1).trim();
  }
  return headers;
}

function parseParams(v: string | Record<string, unknown> | undefined): Record<string, unknown> | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string') return v;
  let value: unknown;
  try {
    value = JSON.parse(v);
  } catch (err) {
    fail(`--params is not valid JSON: ${(err as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail('--params should be a JSON object');
  return value as Record<string, unknown>;
}

function parseUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    fail(`URL should look like ws://host:port/path or http://host:port/path, got "${url}"`);
  }
  if (!['ws:', 'wss:', 'http:', 'https:'].includes(u.protocol)) {
    fail(`URL should start with ws://, wss://, http:// or https://, got "${url}"`);
  }
  return u.href;
}

/** Resolves and validates the options of one run. Throws {@link BenchOptionError}. */
export function resolveBenchOptions(url: string, input: BenchInput = {}): BenchOptions {
  const connections = integer('--connections', input.connections, 1, MAX_CONNECTIONS) ?? 10;
  const concurrency = integer('--concurrency', input.concurrency, 1, 100_000);
  const duration = positive('--duration', input.duration);
  const messages = integer('--messages', input.messages, 1);
  const size = integer('--size', input.size, 0, 64 * 1024 * 1024);
  const rate = positive('--rate', input.rate);
  const ramp = positive('--ramp', input.ramp, true) ?? 0;
  const warmup = positive('--warmup', input.warmup, true) ?? 0;
  const workers = integer('--workers', input.workers, 1, 64) ?? 1;
  const timeoutMs = integer('--timeout-ms', input.timeoutMs, 1, 3_600_000) ?? 10_000;
  const params = parseParams(input.params);
  const method = input.method ?? 'tools/call';
  if (typeof method !== 'string' || method === '') fail('--method should be a non-empty JSON-RPC method name');
  if (duration !== undefined && messages !== undefined) fail('give --duration or --messages, not both');
  if (rate !== undefined && concurrency !== undefined) {
    fail('--concurrency applies to closed-loop runs; --rate sends on a fixed schedule whatever is in flight');
  }
  if (params !== undefined && size !== undefined) fail('--size pads the default echo text; it cannot be combined with --params');
  if (input.method !== undefined && params === undefined && method !== 'tools/call' && size !== undefined) {
    fail('--size pads the default echo text; it needs the default --method tools/call');
  }
  if (workers > connections) fail(`--workers should not exceed --connections (${connections}), got ${workers}`);
  const subprotocol = input.subprotocol ?? 'mcp';
  if (subprotocol !== '' && !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(subprotocol)) {
    fail(`--subprotocol should be a token such as mcp, got "${subprotocol}"`);
  }
  const codec = input.codec;
  if (codec !== undefined && !CODEC_NAMES.includes(codec as CodecName)) {
    fail(`--codec should be one of ${CODEC_NAMES.join(', ')}, got "${codec}"`);
  }
  if (codec !== undefined && !isCodecAvailable(codec as CodecName)) fail(`--codec ${codec} is not available in this process`);
  return Object.freeze({
    codec: codec as CodecName | undefined,
    url: parseUrl(url),
    connections,
    concurrency: concurrency ?? 1,
    durationSeconds: messages === undefined ? (duration ?? DEFAULT_DURATION_SECONDS) : undefined,
    messages,
    size: size ?? 200,
    method,
    params,
    rate,
    rampSeconds: ramp,
    warmupSeconds: warmup,
    headers: Object.freeze(parseHeaders(input.header)),
    subprotocol,
    workers,
    timeoutMs,
    protocolVersion: input.protocolVersion ?? '2025-11-25',
  });
}
