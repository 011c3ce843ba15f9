/**
 * One Streamable HTTP response as a message stream: the reply to one POST,
 * or the SSE stream a legacy session opens with GET.
 *
 * A POST's response stays undecided until the first thing is sent on it:
 *
 *   reply first            → 200 application/json, the reply, end
 *   a message first (a progress or log notification) and the client
 *   accepts text/event-stream
 *                          → 200 text/event-stream, each message an event,
 *                            the reply as the last event, end
 *   the core refused it    → the error row's HTTP status, the error as JSON
 *
 * Headers are not written before that choice, so it costs nothing. The
 * bytes a response holds unsent are bounded: past maxBufferedBytes the
 * client is a slow consumer and the response is destroyed (counted in
 * mcp_ws_errors_total{kind="slow_consumer"}). Before that, from half of
 * maxBufferedBytes, the response is `congested`: a producer that asks
 * (relayStream, through HttpSession.congested / whenWritable) holds its
 * messages until the client reads again; a response congested for
 * slowConsumerTimeoutMs is destroyed the same way (checkSlow, on the sweep). A handler's own error reply
 * in a stateless (2026-07-28) request takes the status of its table row
 * (404 for -32601, as that revision asks); in a legacy session it stays 200.
 */
import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import type { ServerMetrics } from '../metrics/metrics.js';
import { httpStatusOfRpc, type ErrorSpec } from '../protocol/errors.js';
import type { ReplySink } from './message-core.js';

/** What a response reads from its server. */
export interface HttpReplyHost {
  readonly metrics: ServerMetrics;
  readonly maxBufferedBytes: number;
  /** Coarse clock (ms). */
  readonly now: number;
}

const JSON_HEADERS = { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' } as const;
const SSE_HEADERS = {
  'Content-Type': 'text/event-stream',
  'Cache-Control': 'no-store',
  // Reverse proxies (nginx) must not hold events back.
  'X-Accel-Buffering': 'no',
} as const;

/** Counts a response status in mcp_ws_http_responses_total. */
export function countStatus(metrics: ServerMetrics, status: number): void {
  const key = String(status) as keyof ServerMetrics['httpResponses'];
  if (key in metrics.httpResponses) metrics.httpResponses[key]++;
  else metrics.httpResponses.other++;
}

/**
 * The JSON-RPC error code of a serialised error reply, or undefined for a
 * result. Reads the text instead of parsing it: a response has exactly one
 * of "result" and "error", and only an error reply lacks the former.
 */
export function errorCodeOf(text: string): number | undefined {
  const at = text.indexOf('"error":{"code":');
  if (at === -1 || text.includes('"result":')) return undefined;
  const code = Number.parseInt(text.slice(at + 16, at + 28), 10);
  return Number.isFinite(code) ? code : undefined;
}

/** One HTTP response carrying MCP messages. */
export class HttpReply implements ReplySink {
  /** The final reply was sent, or the response ended otherwise. */
  done = false;
  /** The response switched to SSE. */
  private sse = false;
  /** When (coarse ms) this response last sent anything. */
  private lastSent = 0;
  /** Called once when the response is finished or abandoned. */
  onDone: ((reply: HttpReply) => void) | undefined;
  /** When (coarse ms) the response became congested; 0 while it is not. */
  private congestedAt = 0;
  /** Callers of whenWritable() waiting for 'drain' (or the end). */
  private writable: Array<() => void> | undefined;

  /** The request's headers (tracing reads `traceparent` / `tracestate` from them). */
  get httpHeaders(): IncomingHttpHeaders | undefined {
    return this.res.req?.headers;
  }

  constructor(
    private readonly host: HttpReplyHost,
    readonly res: ServerResponse,
    /** The client listed text/event-stream in Accept. */
    readonly acceptsSse: boolean,
    /** A 2026-07-28 request: a handler's error reply takes its row's status. */
    private readonly stateless: boolean,
    /** Headers every outcome carries (Mcp-Session-Id). */
    private readonly extraHeaders: Record<string, string> = {},
  ) {
    res.once('close', () => this.finish());
  }

  /** An SSE stream from the start (GET): headers now, no final reply. */
  openStream(): void {
    this.startSse(200);
    this.lastSent = this.host.now;
    // Send the headers now: the client waits for them before it reads events.
    this.res.flushHeaders();
  }

  /** ReplySink: the final reply of the request this response carries. */
  reply(text: string | undefined, error?: ErrorSpec): void {
    if (this.done) {
      if (text !== undefined) this.host.metrics.errors.undeliverable++;
      return;
    }
    const res = this.res;
    if (this.sse) {
      if (text !== undefined) this.writeEvent(text);
      res.end();
      this.finish();
      return;
    }
    if (text === undefined) {
      // A request that ended without a reply (cancelled): nothing to carry.
      this.head(204, {});
      res.end();
      this.finish();
      return;
    }
    let status = 200;
    if (error !== undefined) status = error.http;
    else if (this.stateless) {
      const code = errorCodeOf(text);
      if (code !== undefined) status = httpStatusOfRpc(code);
    }
    this.head(status, JSON_HEADERS);
    const m = this.host.metrics;
    m.messagesSent++;
    const body = Buffer.from(text);
    m.bytesSent += body.length;
    res.end(body);
    this.finish();
  }

  /** The POST held only notifications or responses: 202, no body. */
  accepted(): void {
    if (this.done) return;
    this.head(202, {});
    this.res.end();
    this.finish();
  }

  /** True when {@link send} would carry a message. */
  get canSend(): boolean {
    return !this.done && (this.sse || this.acceptsSse);
  }

  /**
   * A message the handler sent before the reply (or on a GET stream).
   * Returns false when this response cannot carry it: finished, or the
   * client does not take SSE.
   */
  send(text: string): boolean {
    if (this.done || !(this.sse || this.acceptsSse)) return false;
    if (!this.sse) this.startSse(200);
    this.writeEvent(text);
    return true;
  }

  /**
   * An SSE comment when the stream has been quiet for `intervalMs`, so
   * proxies and client idle timers keep a quiet stream open.
   */
  keepAlive(now: number, intervalMs: number): void {
    if (this.done || !this.sse || now - this.lastSent < intervalMs) return;
    this.lastSent = now;
    this.res.write(':\n\n');
  }

  /**
   * True while the client is not reading: an SSE response holding more than
   * half of maxBufferedBytes unsent, waiting for 'drain'. A producer should
   * hold its messages until {@link whenWritable} resolves.
   */
  get congested(): boolean {
    return this.congestedAt !== 0;
  }

  /** Resolves once the response drains (at once when it is not congested) or ends. */
  whenWritable(): Promise<void> {
    if (this.congestedAt === 0 || this.done) return Promise.resolve();
    return new Promise<void>((resolve) => (this.writable ??= []).push(resolve));
  }

  /** Destroys a response congested for `timeoutMs` (a client that stopped reading); true when it did. */
  checkSlow(now: number, timeoutMs: number): boolean {
    if (this.congestedAt === 0 || this.done || now - this.congestedAt < timeoutMs) return false;
    this.host.metrics.errors.slow_consumer++;
    this.res.destroy();
    this.finish();
    return true;
  }

  /** Ends the response (an SSE stream ends cleanly; an undecided one gets `status`). */
  end(status = 204): void {
    if (this.done) return;
    if (!this.sse) this.head(status, {});
    this.res.end();
    this.finish();
  }

  private startSse(status: number): void {
    this.sse = true;
    this.head(status, SSE_HEADERS);
  }

  private head(status: number, headers: Readonly<Record<string, string>>): void {
    countStatus(this.host.metrics, status);
    this.res.writeHead(status, { ...headers, ...this.extraHeaders });
  }

  private writeEvent(text: string): void {
    const m = this.host.metrics;
    m.messagesSent++;
    // One data line per line of the message (serialised JSON has none, but a handler's text may).
    const event = `event: message\ndata: ${text.includes('\n') ? text.split(/\r?\n/).join('\ndata: ') : text}\n\n`;
    m.bytesSent += Buffer.byteLength(event);
    const res = this.res;
    this.lastSent = this.host.now;
    const flowing = res.write(event);
    const queued = res.writableLength;
    if (queued > this.host.maxBufferedBytes) {
      // A client that does not read: its queue stops here.
      m.errors.slow_consumer++;
      res.destroy();
      this.finish();
      return;
    }
    // write() said wait, so 'drain' will come: only then is the response congested.
    if (!flowing && this.congestedAt === 0 && queued > this.host.maxBufferedBytes / 2) {
      this.congestedAt = this.host.now || 1;
      res.once('drain', this.drained);
    }
  }

  private readonly drained = (): void => {
    this.congestedAt = 0;
    const waiting = this.writable;
    this.writable = undefined;
    if (waiting !== undefined) for (const w of waiting) w();
  };

  private finish(): void {
    if (this.done) return;
    this.done = true;
    if (this.congestedAt !== 0) {
      this.res.off('drain', this.drained);
      this.drained();
    }
    const cb = this.onDone;
    this.onDone = undefined;
    cb?.(this);
  }
}
