/**
 * llm_generate end to end: a real server, real WebSocket clients (the SDK
 * v1 Client and a raw one that sees every byte), the real `openai` and
 * `@anthropic-ai/sdk` packages talking to a local fake provider that writes
 * each API's streaming wire format (fake-provider.ts).
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import { SdkHost } from '../../src/sdk/sdk-host.js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { McpRouter } from '../../src/router/router.js';
import type { McpWsServer } from '../../src/server/server.js';
import { relayStream, sdkStreamTarget } from '../../src/router/stream.js';
import { WebSocketClientTransport } from '../../src/transport/client-transport.js';
import { createLlmService, LlmService } from '../../src/llm/generate.js';
import { llmMetrics } from '../../src/llm/metrics.js';
import { resolveLlmConfig, type LlmConfig } from '../../src/llm/options.js';
import type { LlmOutcome } from '../../src/llm/provider.js';
import { closeAll, RawClient, startServer, scrape } from '../helpers.js';
import { FakeProvider, type Script } from './fake-provider.js';

const KEY = 'sk-test-SECRET-0123456789abcdefABCDEF';
let fake: FakeProvider;

beforeAll(async () => {
  fake = await new FakeProvider().start();
});
afterAll(async () => {
  await fake.close();
});
afterEach(async () => {
  await closeAll();
  fake.fallback = {};
});

/** A server whose router has llm_generate for `provider` against the fake, plus extra tools from `extra`. */
async function serve(
  provider: LlmConfig['provider'],
  options: Partial<LlmConfig> = {},
  serverOptions: Record<string, unknown> = {},
  extra?: (router: McpRouter, llm: LlmService) => void,
): Promise<{ url: string; base: string; llm: LlmService; server: McpWsServer }> {
  const baseURL = provider === 'anthropic' ? fake.anthropicBase : fake.openaiBase;
  const llm = createLlmService(resolveLlmConfig({ provider, baseURL, apiKeyEnv: 'FAKE_LLM_KEY', model: 'fake-model-1', ...options }, { FAKE_LLM_KEY: KEY }));
  const router = new McpRouter({ name: 'llm-test', version: '1' });
  llm.register(router);
  extra?.(router, llm);
  const { url, base, server } = await startServer({ handler: router, metrics: llmMetrics(llm.metrics), ...serverOptions });
  return { url, base, llm, server };
}

/** Calls llm_generate on a raw client with a progress token; returns every message up to the response, raw text included. */
async function rawCall(c: RawClient, args: Record<string, unknown>, id = 7): Promise<{ notes: any[]; response: any; raw: string[] }> {
  c.send({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'llm_generate', arguments: args, _meta: { progressToken: 'p1' } } });
  const notes: any[] = [];
  const raw: string[] = [];
  for (;;) {
    const m = await c.nextRaw(20_000);
    raw.push(m.data);
    const msg = JSON.parse(m.data);
    if (msg.id === id) return { notes, response: msg, raw };
    notes.push(msg);
  }
}

const until = async (cond: () => boolean, timeoutMs = 20_000): Promise<void> => {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
};

describe('llm_generate over the wire formats', () => {
  const cases: Array<[LlmConfig['provider'], Script]> = [
    ['openai', { eol: '\n', writes: 'events' }],
    ['openai', { eol: '\r\n', writes: 'bytes' }],
    ['openai', { eol: '\n', writes: 'whole' }],
    ['anthropic', { eol: '\n', writes: 'events' }],
    ['anthropic', { eol: '\r\n', writes: 'bytes' }],
    ['anthropic', { eol: '\r\n', writes: 'whole' }],
    ['openai-responses', { eol: '\n', writes: 'bytes' }],
    ['openai-responses', { eol: '\r\n', writes: 'whole' }],
    ['openai-compatible', { eol: '\n', writes: 'events' }],
  ];
  for (const [provider, script] of cases) {
    it(`${provider}, ${JSON.stringify(script.eol)} line ends, ${script.writes} writes: the SDK v1 Client gets every delta in order, then the whole text`, async () => {
      const deltas = ['Once', ' upon', ' a', ' time', ' — ünïcödé ✓', '.'];
      fake.enqueue({ ...script, deltas });
      const { url } = await serve(provider);
      const client = new Client({ name: 't', version: '1' });
      await client.connect(new WebSocketClientTransport(url, { heartbeat: false }));
      const progress: Array<{ progress: number; message?: string }> = [];
      const r = await client.callTool({ name: 'llm_generate', arguments: { prompt: 'tell me', system: 'be brief', maxTokens: 50 } }, undefined, {
        onprogress: (p) => progress.push(p),
      });
      await client.close();
      expect(progress.map((p) => p.message)).toEqual(deltas);
      const ps = progress.map((p) => p.progress);
      expect(ps).toEqual([...ps].sort((a, b) => a - b));
      expect(new Set(ps).size).toBe(ps.length);
      expect(r.isError).toBeFalsy();
      expect((r.content as Array<{ text: string }>)[0]!.text).toBe(deltas.join(''));
      const sc = r.structuredContent as { model: string; finishReason: string; usage: { inputTokens: number; outputTokens: number } };
      expect(sc.model).toBe('fake-model-1');
      expect(sc.finishReason).toBe(provider === 'anthropic' ? 'end_turn' : provider === 'openai-responses' ? 'completed' : 'stop');
      expect(sc.usage).toEqual({ inputTokens: 7, outputTokens: 4 });
      // What the SDK sent: the key in the provider's header, the prompt, streaming on.
      const req = fake.seen.at(-1)!;
      if (provider === 'anthropic') {
        // This SDK sends the key as x-api-key or, in its newer releases, as a bearer token.
        expect([req.headers['x-api-key'], req.headers.authorization]).toContain(req.headers['x-api-key'] === undefined ? `Bearer ${KEY}` : KEY);
        expect(req.body).toMatchObject({ stream: true, system: 'be brief', max_tokens: 50 });
      } else {
        expect(req.headers.authorization).toBe(`Bearer ${KEY}`);
        expect(req.body.stream).toBe(true);
      }
    });
  }
});

describe('provider failures become tool errors, never the key', () => {
  it('401 whose body echoes the key: isError with the message, the key nowhere in what the client received', async () => {
    fake.enqueue({ status: 401, message: `Incorrect API key provided: ${KEY}. Find your key at https://example.invalid` });
    const { url } = await serve('openai');
    const c = await RawClient.session(url);
    const { response, raw } = await rawCall(c, { prompt: 'hi' });
    c.close();
    expect(response.result.isError).toBe(true);
    expect(response.result.content[0].text).toContain('(auth, HTTP 401)');
    expect(response.result.content[0].text).toContain('Incorrect API key provided');
    for (const text of raw) {
      expect(text).not.toContain(KEY);
      expect(text).not.toContain('SECRET');
    }
  });

  it('anthropic 401: the same', async () => {
    fake.enqueue({ status: 401, message: `invalid x-api-key ${KEY}` });
    const { url } = await serve('anthropic');
    const c = await RawClient.session(url);
    const { response, raw } = await rawCall(c, { prompt: 'hi' });
    c.close();
    expect(response.result.isError).toBe(true);
    expect(raw.join('')).not.toContain('SECRET');
  });

  it('429 with Retry-After, then a 503: retried before the first token, the text sent once', async () => {
    fake.enqueue({ status: 429, headers: { 'retry-after': '0' }, message: 'slow down' }, { status: 503, message: 'busy' }, { deltas: ['a', 'b', 'c'] });
    const before = fake.seen.length;
    const { url, base } = await serve('openai');
    const c = await RawClient.session(url);
    const { notes, response } = await rawCall(c, { prompt: 'hi' });
    c.close();
    expect(fake.seen.length - before).toBe(3);
    expect(response.result.isError).toBeFalsy();
    expect(response.result.content[0].text).toBe('abc');
    expect(notes.map((n) => n.params.message)).toEqual(['a', 'b', 'c']);
    const metrics = await scrape(base);
    expect(metrics).toContain('mcp_ws_llm_retries_total 2');
  });

  it('a Retry-After longer than the cap is not waited for: isError rate_limited at once', async () => {
    fake.enqueue({ status: 429, headers: { 'retry-after': '3600' }, message: 'quota' });
    const before = fake.seen.length;
    const { url } = await serve('anthropic');
    const c = await RawClient.session(url);
    const { response } = await rawCall(c, { prompt: 'hi' });
    c.close();
    expect(fake.seen.length - before).toBe(1);
    expect(response.result.content[0].text).toContain('rate_limited');
  });

  for (const provider of ['openai', 'anthropic', 'openai-responses'] as const) {
    it(`${provider}: an error event after two deltas is not retried (no text twice): isError with the provider's message`, async () => {
      fake.enqueue({ deltas: ['one', 'two', 'three'], errorAfter: 2 });
      const before = fake.seen.length;
      const { url } = await serve(provider);
      const c = await RawClient.session(url);
      const { notes, response } = await rawCall(c, { prompt: 'hi' });
      c.close();
      expect(fake.seen.length - before).toBe(1);
      expect(notes.map((n) => n.params.message)).toEqual(['one', 'two']);
      expect(response.result.isError).toBe(true);
      expect(response.result.content[0].text).toContain('upstream failure mid-stream');
    });
  }

  it('a connection cut mid-stream: isError, not retried', async () => {
    fake.enqueue({ deltas: ['one', 'two', 'three'], cutAfter: 2 });
    const before = fake.seen.length;
    const { url, base } = await serve('openai');
    const c = await RawClient.session(url);
    const { notes, response } = await rawCall(c, { prompt: 'hi' });
    c.close();
    expect(fake.seen.length - before).toBe(1);
    expect(notes.map((n) => n.params.message)).toEqual(['one', 'two']);
    expect(response.result.isError).toBe(true);
    const metrics = await scrape(base);
    expect(metrics).toMatch(/mcp_ws_llm_errors_total\{kind="(connection|stream)"\} 1/);
  });

  it('no first token in time: isError first_token_timeout and the upstream connection is closed', async () => {
    fake.enqueue({ silent: true });
    const { url } = await serve('openai', { firstTokenTimeoutMs: 300, maxRetries: 0 });
    const c = await RawClient.session(url);
    const { response } = await rawCall(c, { prompt: 'hi' });
    c.close();
    expect(response.result.content[0].text).toContain('first_token_timeout');
    const req = fake.seen.at(-1)!;
    await until(() => req.closedAt !== 0);
  });
});

describe('cancellation reaches the provider', () => {
  it('notifications/cancelled mid-stream closes the upstream connection and sends no reply', async () => {
    fake.enqueue({ deltas: Array.from({ length: 200 }, (_, i) => `w${i} `), dripMs: 50 });
    const { url, base } = await serve('openai');
    const c = await RawClient.session(url);
    c.send({ jsonrpc: '2.0', id: 9, method: 'tools/call', params: { name: 'llm_generate', arguments: { prompt: 'long' }, _meta: { progressToken: 'p' } } });
    const first = await c.next(20_000);
    expect(first.params.message).toBe('w0 ');
    const req = fake.seen.at(-1)!;
    expect(req.closedAt).toBe(0);
    c.send({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 9, reason: 'enough' } });
    await until(() => req.closedAt !== 0);
    // The server still answers; the cancelled call got no reply.
    c.send({ jsonrpc: '2.0', id: 10, method: 'ping' });
    for (;;) {
      const m = await c.next(20_000);
      if (m.id !== undefined) {
        expect(m.id).toBe(10);
        break;
      }
    }
    c.close();
    const metrics = await scrape(base);
    expect(metrics).toContain('mcp_ws_llm_streams_cancelled_total 1');
    expect(metrics).toContain('mcp_ws_llm_streams_active 0');
  });

  for (const [how, resumeGraceMs] of [
    ['closes its socket', 30_000],
    ['drops its connection (resume off)', 0],
    ['drops its connection and does not resume within the grace period', 500],
  ] as const) {
    it(`a client that ${how} mid-stream: the upstream request is aborted`, async () => {
      fake.enqueue({ deltas: Array.from({ length: 400 }, (_, i) => `w${i} `), dripMs: 50 });
      const { url, llm } = await serve('anthropic', {}, { resumeGraceMs });
      const c = await RawClient.session(url);
      c.send({ jsonrpc: '2.0', id: 9, method: 'tools/call', params: { name: 'llm_generate', arguments: { prompt: 'long' }, _meta: { progressToken: 'p' } } });
      await c.next(20_000);
      const req = fake.seen.at(-1)!;
      if (how === 'closes its socket') c.close();
      else c.ws.terminate();
      await until(() => req.closedAt !== 0);
      await until(() => llm.activeStreams === 0);
      expect(llm.metrics.cancelled).toBe(1);
    });
  }

  it('a dropped client that resumes its session: the stream waits (bounded) while it is away, then goes on where it stopped', async () => {
    fake.enqueue({ deltas: Array.from({ length: 60 }, (_, i) => `w${i} `), dripMs: 10 });
    const { url, llm } = await serve('openai', { bufferSize: 4 }, { resumeGraceMs: 30_000 });
    const c = await RawClient.open(url);
    const init = await c.request('initialize', { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 't', version: '1' } });
    const resumeId = init.result.mcpSessionId as string;
    c.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
    c.send({ jsonrpc: '2.0', id: 9, method: 'tools/call', params: { name: 'llm_generate', arguments: { prompt: 'long' }, _meta: { progressToken: 'p' } } });
    const first = await c.next(20_000);
    c.ws.terminate();
    await new Promise((r) => setTimeout(r, 500));
    const req = fake.seen.at(-1)!;
    expect(req.closedAt).toBe(0);
    expect(llm.activeStreams).toBe(1);
    const d = await RawClient.open(url);
    d.send({ jsonrpc: '2.0', id: 'r', method: 'ping', mcpSessionId: resumeId });
    let text = first.params.message as string;
    let last = first.params.progress as number;
    for (;;) {
      const m = await d.next(20_000);
      if (m.id === 9) {
        expect(m.result.content[0].text).toBe(Array.from({ length: 60 }, (_, i) => `w${i} `).join(''));
        break;
      }
      if (m.method !== 'notifications/progress') continue;
      expect(m.params.progress - last).toBe(m.params.message.length);
      last = m.params.progress;
      text += m.params.message;
    }
    expect(text).toBe(Array.from({ length: 60 }, (_, i) => `w${i} `).join(''));
    d.close();
  });

  it('maxConcurrentStreams: a second stream is refused with isError (busy) while the first runs', async () => {
    fake.enqueue({ deltas: Array.from({ length: 100 }, (_, i) => `w${i} `), dripMs: 30 });
    const { url } = await serve('openai', { maxConcurrentStreams: 1 });
    const a = await RawClient.session(url);
    a.send({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'llm_generate', arguments: { prompt: 'long' }, _meta: { progressToken: 'p' } } });
    await a.next(20_000);
    const b = await RawClient.session(url);
    const { response } = await rawCall(b, { prompt: 'second' });
    expect(response.result.isError).toBe(true);
    expect(response.result.content[0].text).toContain('busy');
    a.close();
    b.close();
  });

  it('a consumer that throws: the call fails with -32603 (no detail), the upstream is closed, the server goes on', async () => {
    fake.enqueue({ deltas: Array.from({ length: 100 }, (_, i) => `w${i} `), dripMs: 20 });
    const { url } = await serve('openai', {}, {}, (router, llm) => {
      router.tool({ name: 'fragile' }, (_args, ctx) => {
        const outcome: LlmOutcome = { model: undefined, finishReason: undefined, inputTokens: undefined, outputTokens: undefined };
        let n = 0;
        return relayStream(ctx, (signal) => llm.provider.stream({ prompt: 'x' }, outcome, signal), {
          onDelta: () => {
            if (++n === 3) throw new Error('consumer broke with internal detail');
          },
        }).then((r) => r.text);
      });
    });
    const c = await RawClient.session(url);
    c.send({ jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'fragile', arguments: {} } });
    const r = await c.nextResponse(20_000);
    expect(r.error.code).toBe(-32603);
    expect(JSON.stringify(r)).not.toContain('internal detail');
    const req = fake.seen.at(-1)!;
    await until(() => req.closedAt !== 0);
    expect((await c.request('ping')).result).toEqual({});
    c.close();
  });
});

describe('backpressure reaches the provider', () => {
  it('a client that stops reading: the relay stops reading the provider, whose writes stall; reading again delivers everything in order', async () => {
    fake.enqueue({ flood: 200 });
    const bufferSize = 16;
    const { url, base, llm } = await serve('openai', { bufferSize, chunkSize: 4096, idleTimeoutMs: 0 }, { maxBufferedBytes: 65536, slowConsumerTimeoutMs: 120_000 });
    const c = await RawClient.session(url);
    const socket = (c.ws as unknown as { _socket: import('node:net').Socket })._socket;
    c.send({ jsonrpc: '2.0', id: 5, method: 'tools/call', params: { name: 'llm_generate', arguments: { prompt: 'flood' }, _meta: { progressToken: 'p' } } });
    const first = await c.next(20_000);
    socket.pause();
    // The fake provider's writes stall (write() false, no 'drain') and stay stalled.
    // Kernel buffers grow as they autotune: wait until nothing more is written for 2 s.
    await until(() => fake.stalled, 60_000);
    let written = -1;
    for (let i = 0; i < 60 && fake.bytesWritten !== written; i++) {
      written = fake.bytesWritten;
      await new Promise((r) => setTimeout(r, 2000));
    }
    expect(fake.stalled).toBe(true);
    expect(fake.bytesWritten).toBe(written);
    // Bounded: kernel buffers and a few bounded queues, not the flood.
    expect(written).toBeLessThan(256 * 1024 * 1024);
    expect(llm.metrics.paused).toBeGreaterThan(0); // the relay stopped reading the provider
    // Read again: deltas arrive in order (progress keeps growing, text is contiguous), coalesced when held.
    socket.resume();
    let last = first.params.progress as number;
    let received = 0;
    while (received < 2_000_000) {
      const m = await c.next(20_000);
      expect(m.method).toBe('notifications/progress');
      expect(m.params.progress).toBeGreaterThan(last);
      expect(m.params.progress - last).toBe(m.params.message.length);
      expect(/^x+$/.test(m.params.message)).toBe(true);
      last = m.params.progress;
      received += m.params.message.length;
    }
    c.send({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 5 } });
    const req = fake.seen.at(-1)!;
    await until(() => req.closedAt !== 0);
    await until(() => llm.activeStreams === 0);
    expect(llm.metrics.paused).toBeGreaterThan(0);
    const metrics = await scrape(base);
    expect(metrics).toMatch(/mcp_ws_llm_upstream_bytes_total [1-9]/);
    c.close();
  }, 120_000);
});

describe('the demo stream_text and partial results', () => {
  it('stream_text streams the words as progress, in order, and returns the text', async () => {
    const { url } = await startServer();
    const client = new Client({ name: 't', version: '1' });
    await client.connect(new WebSocketClientTransport(url, { heartbeat: false }));
    const text = 'the quick brown fox jumps over the lazy dog';
    const messages: string[] = [];
    const r = await client.callTool({ name: 'stream_text', arguments: { text, wordsPerSecond: 200 } }, undefined, { onprogress: (p) => messages.push(p.message!) });
    await client.close();
    expect(messages.join('')).toBe(text);
    expect(messages.length).toBe(9);
    expect((r.content as Array<{ text: string }>)[0]!.text).toBe(text);
  });

  it('a client declaring experimental.partialResults gets notifications/tools/partial_result instead of progress', async () => {
    const { url } = await startServer();
    const c = await RawClient.open(url);
    await c.request('initialize', { protocolVersion: '2025-11-25', capabilities: { experimental: { partialResults: {} } }, clientInfo: { name: 't', version: '1' } });
    c.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
    c.send({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'stream_text', arguments: { text: 'a b c', wordsPerSecond: 1000 }, _meta: { progressToken: 'p' } } });
    const notes: any[] = [];
    for (;;) {
      const m = await c.next(20_000);
      if (m.id === 2) break;
      notes.push(m);
    }
    c.close();
    expect(notes.map((n) => n.method)).toEqual(Array(3).fill('notifications/tools/partial_result'));
    expect(notes.map((n) => n.params.index)).toEqual([0, 1, 2]);
    expect(notes.map((n) => n.params.content[0].text).join('')).toBe('a b c');
    expect(notes[0].params.requestId).toBe(2);
  });
});

describe('SDK-hosted servers', () => {
  it('an SDK v1 McpServer tool streams with LlmService through sdkStreamTarget; the SDK v1 Client gets the deltas in order', async () => {
    const deltas = ['from', ' an', ' SDK', ' server'];
    fake.enqueue({ deltas, writes: 'whole' });
    const llm = createLlmService(resolveLlmConfig({ provider: 'anthropic', baseURL: fake.anthropicBase, apiKeyEnv: 'K' }, { K: KEY }));
    const makeServer = (): McpServer => {
      const server = new McpServer({ name: 'sdk-llm', version: '1' });
      server.registerTool('generate', { inputSchema: { prompt: z.string() } }, async ({ prompt }, extra) => {
        const r = await llm.toolResult(sdkStreamTarget(extra), { prompt });
        return { content: r.content as Array<{ type: 'text'; text: string }>, ...(r.isError ? { isError: true } : {}) };
      });
      return server;
    };
    const { url } = await startServer({ handler: new SdkHost(makeServer) });
    const client = new Client({ name: 't', version: '1' });
    await client.connect(new WebSocketClientTransport(url, { heartbeat: false }));
    const messages: string[] = [];
    const r = await client.callTool({ name: 'generate', arguments: { prompt: 'hi' } }, undefined, { onprogress: (p) => messages.push(p.message!) });
    await client.close();
    expect(messages).toEqual(deltas);
    expect((r.content as Array<{ text: string }>)[0]!.text).toBe(deltas.join(''));
  });
});

describe('llm config', () => {
  it('names the missing variable, never a key', () => {
    expect(() => resolveLlmConfig({ provider: 'openai' }, {})).toThrow(/set OPENAI_API_KEY/);
    expect(() => resolveLlmConfig({ provider: 'anthropic', apiKeyEnv: 'NOPE' }, {})).toThrow(/NOPE is not set/);
    expect(() => resolveLlmConfig({ provider: 'openai-compatible', model: 'm' }, {})).toThrow(/llm.baseURL is required/);
    expect(() => resolveLlmConfig({ provider: 'openai', bufferSize: 0 }, { OPENAI_API_KEY: KEY })).toThrow(/llm.bufferSize/);
    const r = resolveLlmConfig({ provider: 'anthropic' }, { ANTHROPIC_API_KEY: KEY, ANTHROPIC_BASE_URL: 'http://127.0.0.1:1' });
    expect(r.apiKey).toBe(KEY);
    expect(r.baseURL).toBe('http://127.0.0.1:1');
  });
});
