/**
 * Request spans through @opentelemetry/api. No SDK is bundled, so the test
 * registers a tracer provider of its own that keeps spans in memory: the
 * API's TracerProvider contract, which any SDK implements. Checked: nothing
 * is traced until a provider is registered (the server notices at its next
 * sweep), then a SERVER span per request with the MCP attributes, parented
 * by the caller's `_meta.traceparent` (or, over Streamable HTTP, its
 * `traceparent` header), with the outcome; a malformed
 * traceparent starts a new trace instead of failing the request; once the
 * provider is gone, tracing stops.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { trace, SpanKind, SpanStatusCode, type Attributes, type AttributeValue, type Context, type Span, type SpanContext, type SpanOptions, type SpanStatus, type Tracer, type TracerProvider } from '@opentelemetry/api';
import { randomBytes } from 'node:crypto';
import { closeAll, RawClient, startServer, waitFor, httpBase } from '../helpers.js';

afterAll(() => {
  trace.disable();
  return closeAll();
});

interface Recorded {
  name: string;
  kind: SpanKind | undefined;
  attributes: Attributes;
  parent: SpanContext | undefined;
  status: SpanStatus | undefined;
  ended: boolean;
  context: SpanContext;
}

/** Keeps every span in memory. */
class MemoryProvider implements TracerProvider {
  readonly spans: Recorded[] = [];
  getTracer(): Tracer {
    const spans = this.spans;
    return {
      startSpan(name: string, options: SpanOptions = {}, ctx?: Context): Span {
        const parent = ctx ? trace.getSpanContext(ctx) : undefined;
        const rec: Recorded = {
          name,
          kind: options.kind,
          attributes: { ...options.attributes },
          parent,
          status: undefined,
          ended: false,
          context: { traceId: parent?.traceId ?? randomBytes(16).toString('hex'), spanId: randomBytes(8).toString('hex'), traceFlags: 1 },
        };
        spans.push(rec);
        const span: Span = {
          spanContext: () => rec.context,
          setAttribute: (k: string, v: AttributeValue) => ((rec.attributes[k] = v), span),
          setAttributes: (a: Attributes) => (Object.assign(rec.attributes, a), span),
          addEvent: () => span,
          addLink: () => span,
          addLinks: () => span,
          setStatus: (s: SpanStatus) => ((rec.status = s), span),
          updateName: (n: string) => ((rec.name = n), span),
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

describe('request spans', () => {
  it('nothing is traced without a provider; with one, a span per request with MCP attributes and the caller as parent', async () => {
    const { server, url } = await startServer({ heartbeatIntervalMs: 400 });
    expect(server.tracingActive).toBe(false);
    const c = await RawClient.session(url);
    await c.request('tools/list');
    expect(server.metrics.snapshot().requests).toBe(2);

    const provider = new MemoryProvider();
    expect(trace.setGlobalTracerProvider(provider)).toBe(true);
    await waitFor(() => server.tracingActive, 10_000, 'the sweep to find the provider');

    const traceId = randomBytes(16).toString('hex');
    const parentId = randomBytes(8).toString('hex');
    const ok = await c.request('tools/call', { name: 'echo', arguments: { text: 'traced' }, _meta: { traceparent: `00-${traceId}-${parentId}-01`, tracestate: 'vendor=abc' } });
    expect(ok.result).toBeDefined();
    const bad = await c.request('no/such/method');
    expect(bad.error.code).toBe(-32601);
    const odd = await c.request('ping', { _meta: { traceparent: 'not-a-traceparent' } });
    expect(odd.result).toEqual({});

    await waitFor(() => provider.spans.filter((s) => s.ended).length >= 3, 5000, 'three ended spans');
    const [call, missing, ping] = provider.spans;
    expect(call!.name).toBe('tools/call echo');
    expect(call!.kind).toBe(SpanKind.SERVER);
    expect(call!.parent).toMatchObject({ traceId, spanId: parentId, isRemote: true });
    expect(call!.parent!.traceState?.get('vendor')).toBe('abc');
    expect(call!.attributes).toMatchObject({ 'mcp.method.name': 'tools/call', 'gen_ai.tool.name': 'echo', 'mcp.outcome': 'ok', 'rpc.system': 'jsonrpc' });
    expect(typeof call!.attributes['mcp.session.id']).toBe('string');
    expect(call!.status).toBeUndefined();

    expect(missing!.name).toBe('no/such/method');
    expect(missing!.attributes).toMatchObject({ 'mcp.outcome': 'error', 'rpc.jsonrpc.error_code': -32601 });
    expect(missing!.status?.code).toBe(SpanStatusCode.ERROR);
    expect(missing!.parent).toBeUndefined();

    expect(ping!.name).toBe('ping');
    expect(ping!.parent).toBeUndefined();

    expect(server.metrics.snapshot().methods.find((m) => m.method === 'tools/call')!.count).toBe(1);

    // Streamable HTTP: the traceparent of the request's headers.
    const hTrace = randomBytes(16).toString('hex');
    const hParent = randomBytes(8).toString('hex');
    const base = httpBase(url);
    const res = await fetch(`${base}/mcp`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream', traceparent: `00-${hTrace}-${hParent}-01` },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'h', version: '1' } } }),
    });
    expect(res.status).toBe(200);
    await res.text();
    await waitFor(() => provider.spans.some((s) => s.name === 'initialize' && s.ended), 5000, 'the HTTP span');
    const httpSpan = provider.spans.find((s) => s.name === 'initialize')!;
    expect(httpSpan.parent).toMatchObject({ traceId: hTrace, spanId: hParent });

    trace.disable();
    await waitFor(() => !server.tracingActive, 10_000, 'the sweep to see the provider gone');
    const before = provider.spans.length;
    await c.request('tools/list');
    expect(provider.spans.length).toBe(before);
  }, 30_000);
});
