/**
 * Tracing through the OpenTelemetry API only: a span per request, with the
 * MCP attributes, parented by the caller's W3C trace context when the
 * request carries one in `params._meta` (`traceparent` / `tracestate`, as
 * 2026-07-28 requests do; SEP-414), or, over Streamable HTTP, in the
 * request's headers.
 *
 * No SDK is bundled: an application registers its own (NodeSDK,
 * BasicTracerProvider, …) and the spans go wherever it sends them.
 * `@opentelemetry/api` is an optional peer, imported on demand when a
 * server starts listening; without it, or with it and no tracer provider
 * registered, the message path reads one property (`host.tracer`, which
 * stays undefined) and does nothing else. The server's sweep asks
 * {@link TracingProbe.current} once per pass whether a provider has been
 * registered since, so an SDK started after the server is picked up.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type * as OtelApi from '@opentelemetry/api';

/**
 * A started request span. Opaque outside this module: the published types
 * name nothing of `@opentelemetry/api`, which stays an optional peer.
 */
export interface RequestSpan {
  readonly tracer: RequestTracer;
}

/** Starts and ends request spans; exists only while a tracer provider is registered. */
export interface RequestTracer {
  begin(method: string, id: unknown, params: unknown, sessionId: string, headers?: IncomingHttpHeaders): RequestSpan;
  /** Runs `fn` with the request's span as the active one (handlers' own spans nest under it). */
  run<T>(s: RequestSpan, fn: () => T): T;
  /** Ends the span with the outcome read from the reply text: ok, a JSON-RPC error (its code), or no reply (cancelled). */
  end(s: RequestSpan, reply: string | undefined): void;
}

/** Whether tracing is possible, and the tracer while a provider is registered. */
export interface TracingProbe {
  /** True when `@opentelemetry/api` could be imported. */
  readonly available: boolean;
  /** A tracer when a tracer provider is registered, else undefined (nothing to record to). */
  current(): RequestTracer | undefined;
}

interface OtelSpan extends RequestSpan {
  readonly span: OtelApi.Span;
  readonly context: OtelApi.Context;
}

/** The W3C trace context a request carries on to the next hop. */
export interface TraceHeaders {
  traceparent: string;
  tracestate?: string;
}

/** The API as {@link loadTracing} loaded it, for {@link activeTraceContext}. */
let loadedApi: typeof OtelApi | undefined;
/** The request span whose handler is running now (set by run(), for contexts without a context manager). */
let runningSpan: OtelSpan | undefined;

/**
 * The W3C trace context of the span running now: the active span of the
 * OpenTelemetry context (a handler's own span nests there), else the
 * server's request span while its handler runs synchronously. Undefined
 * when nothing is traced (no API, no provider, or a non-recording span).
 * The gateway calls it when it forwards a request, so its span becomes the
 * upstream's parent.
 */
export function activeTraceContext(): TraceHeaders | undefined {
  const api = loadedApi;
  if (api === undefined) return undefined;
  let sc = api.trace.getSpanContext(api.context.active());
  if (sc === undefined || !api.isSpanContextValid(sc)) sc = runningSpan?.span.spanContext();
  if (sc === undefined || !api.isSpanContextValid(sc)) return undefined;
  const out: TraceHeaders = { traceparent: `00-${sc.traceId}-${sc.spanId}-${(sc.traceFlags & 1) === 1 ? '01' : '00'}` };
  const state = sc.traceState?.serialize();
  if (state) out.tracestate = state;
  return out;
}

/** The instrumentation scope spans are reported under. */
export const TRACER_NAME = 'mcp-ws';

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

class OtelRequestTracer implements RequestTracer {
  constructor(
    private readonly api: typeof OtelApi,
    private readonly tracer: OtelApi.Tracer,
  ) {}

  /**
   * A SERVER span for one request. Its parent is the `traceparent` /
   * `tracestate` of `params._meta`, else those of the HTTP request's
   * headers (Streamable HTTP); a malformed traceparent is ignored, as W3C
   * Trace Context requires.
   */
  begin(method: string, id: unknown, params: unknown, sessionId: string, headers?: IncomingHttpHeaders): OtelSpan {
    const api = this.api;
    const p = typeof params === 'object' && params !== null ? (params as Record<string, unknown>) : undefined;
    let parent = api.ROOT_CONTEXT;
    const meta = p?._meta;
    let remote: OtelApi.SpanContext | undefined;
    if (typeof meta === 'object' && meta !== null) {
      remote = parseTraceparent(api, (meta as Record<string, unknown>).traceparent, (meta as Record<string, unknown>).tracestate);
    }
    if (remote === undefined && headers !== undefined) remote = parseTraceparent(api, headers.traceparent, headers.tracestate);
    if (remote) parent = api.trace.setSpanContext(parent, remote);
    const attributes: OtelApi.Attributes = {
      'mcp.method.name': method,
      'mcp.session.id': sessionId,
      'rpc.system': 'jsonrpc',
      'rpc.method': method,
    };
    if (typeof id === 'string' || typeof id === 'number') attributes['jsonrpc.request.id'] = String(id);
    let name = method;
    if (method === 'tools/call' && typeof p?.name === 'string') {
      attributes['gen_ai.tool.name'] = p.name;
      attributes['gen_ai.operation.name'] = 'execute_tool';
      name = `${method} ${p.name}`;
    } else if ((method === 'prompts/get') && typeof p?.name === 'string') {
      attributes['gen_ai.prompt.name'] = p.name;
      name = `${method} ${p.name}`;
    } else if (method.startsWith('resources/') && typeof p?.uri === 'string') {
      attributes['mcp.resource.uri'] = p.uri;
    }
    const span = this.tracer.startSpan(name, { kind: api.SpanKind.SERVER, attributes }, parent);
    return { tracer: this, span, context: api.trace.setSpan(parent, span) };
  }

  run<T>(s: RequestSpan, fn: () => T): T {
    const prev = runningSpan;
    runningSpan = s as OtelSpan;
    try {
      return this.api.context.with((s as OtelSpan).context, fn);
    } finally {
      runningSpan = prev;
    }
  }

  end(s: RequestSpan, reply: string | undefined): void {
    const { span } = s as OtelSpan;
    if (reply === undefined) {
      span.setAttribute('mcp.outcome', 'cancelled');
    } else {
      const code = errorCode(reply);
      if (code === undefined) {
        span.setAttribute('mcp.outcome', 'ok');
      } else {
        span.setAttributes({ 'mcp.outcome': 'error', 'rpc.jsonrpc.error_code': code, 'error.type': String(code) });
        span.setStatus({ code: this.api.SpanStatusCode.ERROR });
      }
    }
    span.end();
  }
}

/** The JSON-RPC error code of a reply, or undefined for a result. Replies are small objects written by the router: a scan, not a parse. */
function errorCode(reply: string): number | undefined {
  const at = reply.indexOf('"error":{');
  if (at === -1) return undefined;
  const m = /"code":(-?\d+)/.exec(reply.slice(at, at + 64));
  return m ? Number(m[1]) : 0;
}

function parseTraceparent(api: typeof OtelApi, traceparent: unknown, tracestate: unknown): OtelApi.SpanContext | undefined {
  if (typeof traceparent !== 'string' || traceparent.length > 256) return undefined;
  const m = TRACEPARENT.exec(traceparent.trim().toLowerCase());
  if (!m || m[1] === 'ff' || /^0+$/.test(m[2]!) || /^0+$/.test(m[3]!)) return undefined;
  const ctx: OtelApi.SpanContext = { traceId: m[2]!, spanId: m[3]!, traceFlags: parseInt(m[4]!, 16) & 1, isRemote: true };
  if (typeof tracestate === 'string' && tracestate.length > 0 && tracestate.length <= 512) {
    try {
      ctx.traceState = api.createTraceState(tracestate);
    } catch {
      // An unreadable tracestate is dropped; the traceparent still holds.
    }
  }
  return ctx;
}

/** The OpenTelemetry API as loaded (or not) by {@link loadTracing}. */
class OtelTracingProbe implements TracingProbe {
  private cached: RequestTracer | undefined;
  private delegate: unknown;

  constructor(private readonly api: typeof OtelApi | undefined) {}

  get available(): boolean {
    return this.api !== undefined;
  }

  current(): RequestTracer | undefined {
    const api = this.api;
    if (!api) return undefined;
    const provider = api.trace.getTracerProvider() as OtelApi.TracerProvider & { getDelegate?: () => unknown; getDelegateTracer?: (name: string) => OtelApi.Tracer | undefined };
    // The global provider is a proxy until an SDK sets its delegate; the proxy's own tracers do nothing.
    if (typeof provider.getDelegateTracer === 'function') {
      const delegate = provider.getDelegate?.();
      if (this.cached && delegate === this.delegate) return this.cached;
      const tracer = provider.getDelegateTracer(TRACER_NAME);
      this.delegate = delegate;
      this.cached = tracer ? new OtelRequestTracer(api, tracer) : undefined;
      return this.cached;
    }
    if (this.cached && provider === this.delegate) return this.cached;
    this.delegate = provider;
    this.cached = new OtelRequestTracer(api, provider.getTracer(TRACER_NAME));
    return this.cached;
  }
}

/** Imports `@opentelemetry/api` if it is installed; a probe that never traces if not. */
export async function loadTracing(): Promise<TracingProbe> {
  try {
    loadedApi ??= await import('@opentelemetry/api');
    return new OtelTracingProbe(loadedApi);
  } catch {
    return new OtelTracingProbe(undefined);
  }
}
