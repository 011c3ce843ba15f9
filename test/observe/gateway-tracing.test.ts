/**
 * Trace context through the gateway: the gateway's request span becomes the
 * parent of what it forwards. A real upstream (an mcp-ws server with the
 * demo router, behind a recorder of every message and HTTP request it
 * receives) reached over WebSocket and over Streamable HTTP; the client
 * speaks both eras (an initialized 2025-11-25 session, and 2026-07-28
 * stateless requests). Tracing goes through @opentelemetry/api only: the
 * test registers a tracer provider that keeps spans in memory and a
 * synchronous context manager (the API's contracts, which any SDK
 * implements). Checked: untraced, the client's `_meta` passes unchanged;
 * traced, the upstream receives `_meta.traceparent` naming the gateway's
 * SERVER span (same trace id as the client's, the gateway span's id), the
 * span's tracestate, and an HTTP upstream gets the same as headers.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { context, trace, ROOT_CONTEXT, type Context, type ContextManager, type Span, type SpanContext, type SpanOptions, type Tracer, type TracerProvider } from '@opentelemetry/api';
import { randomBytes } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { McpWsServer } from '../../src/server/server.js';
import { createDemoRouter } from '../../src/demo/demo-router.js';
import type { SessionHandler } from '../../src/server/handler.js';
import type { JsonRpcRequest } from '../../src/protocol/jsonrpc.js';
import { RawClient } from '../helpers.js';
import { closeAll, startGateway, until } from '../gateway/helpers.js';

const META_2026 = {
  'io.modelcontextprotocol/protocolVersion': '2026-07-28',
  'io.modelcontextprotocol/clientCapabilities': {},
  'io.modelcontextprotocol/clientInfo': { name: 'trace-test', version: '1' },
};

interface Recorded {
  name: string;
  parent: SpanContext | undefined;
  context: SpanContext;
  ended: boolean;
}

/** Keeps spans in memory; a child inherits its parent's trace id and tracestate. */
class MemoryProvider implements TracerProvider {
  readonly spans: Recorded[] = [];
  getTracer(): Tracer {
    const spans = this.spans;
    return {
      startSpan(name: string, _options: SpanOptions = {}, ctx?: Context): Span {
        const parent = ctx ? trace.getSpanContext(ctx) : undefined;
        const rec: Recorded = {
          name,
          parent,
          ended: false,
          context: { traceId: parent?.traceId ?? randomBytes(16).toString('hex'), spanId: randomBytes(8).toString('hex'), traceFlags: 1, ...(parent?.traceState ? { traceState: parent.traceState } : {}) },
        };
        spans.push(rec);
        const span: Span = {
          spanContext: () => rec.context,
          setAttribute: () => span,
          setAttributes: () => span,
          addEvent: () => span,
          addLink: () => span,
          addLinks: () => span,
          setStatus: () => span,
          updateName: () => span,
          end: () => {
            rec.ended = true;
          },
          isRecording: () => !rec.ended,
          recordException: () => {},
        };
        return span;
      },
      startActiveSpan: (() => {
        throw new Error('not used');
      }) as Tracer['startActiveSpan'],
    };
  }
}

/** A synchronous context manager: what `context.with` sets is active until fn returns. */
class StackContextManager implements ContextManager {
  private current: Context = ROOT_CONTEXT;
  active(): Context {
    return this.current;
  }
  with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(ctx: Context, fn: F, thisArg?: ThisParameterType<F>, ...args: A): ReturnType<F> {
    const prev = this.current;
    this.current = ctx;
    try {
      return fn.call(thisArg, ...args);
    } finally {
      this.current = prev;
    }
  }
  bind<T>(_ctx: Context, target: T): T {
    return target;
  }
  enable(): this {
    return this;
  }
  disable(): this {
    this.current = ROOT_CONTEXT;
    return this;
  }
}

/** An upstream mcp-ws server that records every request's params and every HTTP request's headers. */
async function recordingUpstream(): Promise<{ server: McpWsServer; ws: string; http: string; calls: JsonRpcRequest[]; headers: IncomingHttpHeaders[] }> {
  const router = createDemoRouter();
  const calls: JsonRpcRequest[] = [];
  const headers: IncomingHttpHeaders[] = [];
  const server = new McpWsServer({
    port: 0,
    processMetrics: false,
    handler: (peer) => {
      const h = router.createHandler(peer);
      const wrapped: SessionHandler = {
        get protocolVersion() {
          return h.protocolVersion;
        },
        request: (msg) => {
          if (msg.method === 'tools/call') calls.push(msg);
          return h.request(msg);
        },
        notification: (msg) => h.notification(msg),
        response: (msg) => h.response(msg),
        closed: () => h.closed(),
      };
      return wrapped;
    },
  });
  const { port } = await server.listen();
  server.http.on('request', (req) => {
    if (req.method === 'POST') headers.push(req.headers);
  });
  upstreams.push(server);
  return { server, ws: `ws://127.0.0.1:${port}/ws`, http: `http://127.0.0.1:${port}/mcp`, calls, headers };
}

const upstreams: McpWsServer[] = [];

afterEach(async () => {
  await closeAll();
  for (const s of upstreams.splice(0)) await s.close();
});

afterAll(() => {
  trace.disable();
  context.disable();
});

function meta(m: JsonRpcRequest): Record<string, unknown> {
  return (m.params?._meta ?? {}) as Record<string, unknown>;
}

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/;

describe('tracing through the gateway', () => {
  it('untraced: the client\'s trace context passes to the upstream unchanged', { timeout: 60_000 }, async () => {
    const up = await recordingUpstream();
    const { url, server } = await startGateway({ upstreams: [up.ws], pool: { minConnections: 0, maxConnections: 2 } });
    expect(server.tracingActive).toBe(false);
    const c = await RawClient.session(url);
    const tp = `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-01`;
    const r = await c.request('tools/call', { name: 'echo', arguments: { text: 'x' }, _meta: { traceparent: tp, tracestate: 'client=1' } });
    expect(r.result).toBeDefined();
    expect(meta(up.calls.at(-1)!)).toMatchObject({ traceparent: tp, tracestate: 'client=1' });
  });

  it('traced: the gateway span is the upstream\'s parent, in _meta for both eras over WebSocket and in headers over HTTP', { timeout: 90_000 }, async () => {
    const provider = new MemoryProvider();
    expect(context.setGlobalContextManager(new StackContextManager())).toBe(true);
    expect(trace.setGlobalTracerProvider(provider)).toBe(true);

    for (const kind of ['ws', 'http'] as const) {
      const up = await recordingUpstream();
      const { url, server } = await startGateway({ upstreams: [kind === 'ws' ? up.ws : up.http], pool: { minConnections: 0, maxConnections: 2 } });
      expect(server.tracingActive).toBe(true);

      // 2025-11-25, an initialized session; the client sends its own trace context.
      const c = await RawClient.session(url);
      const clientTrace = randomBytes(16).toString('hex');
      const clientSpan = randomBytes(8).toString('hex');
      const legacy = await c.request('tools/call', { name: 'echo', arguments: { text: 'legacy' }, _meta: { traceparent: `00-${clientTrace}-${clientSpan}-01`, tracestate: 'client=1' } });
      expect(legacy.result, kind).toBeDefined();
      const span = provider.spans.find((s) => s.name === 'tools/call echo' && s.parent?.spanId === clientSpan);
      expect(span, kind).toBeDefined();
      await until(() => up.calls.length >= 1, 10_000, 'the upstream call');
      const got = meta(up.calls.at(-1)!);
      expect(got.traceparent, kind).toBe(`00-${clientTrace}-${span!.context.spanId}-01`);
      expect(got.tracestate, kind).toBe('client=1');
      if (kind === 'http') {
        const h = up.headers.find((x) => x.traceparent === got.traceparent);
        expect(h, 'the POST carrying the call has the traceparent header').toBeDefined();
        expect(h!.tracestate).toBe('client=1');
      }

      // A request without trace context starts a trace at the gateway; the upstream is its child.
      const fresh = await c.request('tools/call', { name: 'echo', arguments: { text: 'fresh' } });
      expect(fresh.result).toBeDefined();
      const freshMeta = meta(up.calls.at(-1)!);
      const m = TRACEPARENT.exec(String(freshMeta.traceparent));
      expect(m, kind).not.toBeNull();
      const root = provider.spans.find((s) => s.context.spanId === m![2]);
      expect(root?.name).toBe('tools/call echo');
      expect(root?.parent).toBeUndefined();
      expect(freshMeta.tracestate).toBeUndefined();

      // 2026-07-28 stateless request on a new connection.
      const s = await RawClient.open(url);
      const t26 = randomBytes(16).toString('hex');
      const p26 = randomBytes(8).toString('hex');
      const modern = await s.request('tools/call', { name: 'echo', arguments: { text: 'modern' }, _meta: { ...META_2026, traceparent: `00-${t26}-${p26}-01` } });
      expect(modern.result, `${kind}: ${JSON.stringify(modern)}`).toBeDefined();
      const span26 = provider.spans.find((x) => x.parent?.spanId === p26);
      expect(span26, kind).toBeDefined();
      await until(() => up.calls.some((x) => String(meta(x).traceparent).includes(t26)), 10_000, 'the 2026 call upstream');
      const got26 = meta(up.calls.find((x) => String(meta(x).traceparent).includes(t26))!);
      expect(got26.traceparent, kind).toBe(`00-${t26}-${span26!.context.spanId}-01`);
      if (kind === 'http') expect(up.headers.some((x) => x.traceparent === got26.traceparent)).toBe(true);
      c.ws.close();
      s.ws.close();
      await closeAll();
    }
  });
});
