/**
 * Bounded queues per session: requests in flight, outbound messages waiting
 * for an async compressor, inbound frames waiting for an async decompressor.
 * Each one over its bound stops reading the socket (TCP pushes back on the
 * client); nothing is refused or lost.
 */
import type { Socket } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { McpRouter } from '../../src/router/router.js';
import { createDemoRouter } from '../../src/demo/demo-router.js';
import { codecLimiter } from '../../src/compression/limiter.js';
import { MAX_PENDING_DECODES } from '../../src/server/session.js';
import { resolveServerOptions } from '../../src/server/server-options.js';
import { parseServeConfig } from '../../src/config/schema.js';
import { RawClient, closeAll, startServer } from '../helpers.js';
import { serve } from '../cli/run.js';

afterAll(closeAll);

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const socketOf = (c: RawClient): Socket => (c.ws as unknown as { _socket: Socket })._socket;

/** Samples `read()` every few ms until stopped; returns the largest value seen. */
function sampleMax(read: () => number): { stop: () => number } {
  let max = read();
  const timer = setInterval(() => {
    max = Math.max(max, read());
  }, 2);
  return {
    stop: () => {
      clearInterval(timer);
      return Math.max(max, read());
    },
  };
}

describe('maxInFlightPerSession', () => {
  it('is a validated option and config key with a default', () => {
    expect(resolveServerOptions({}).maxInFlightPerSession).toBe(256);
    expect(() => resolveServerOptions({ maxInFlightPerSession: 0 })).toThrow(/maxInFlightPerSession/);
    expect(parseServeConfig({ maxInFlightPerSession: 64 }).maxInFlightPerSession).toBe(64);
    expect(() => parseServeConfig({ maxInFlightPerSession: -1 })).toThrow(/maxInFlightPerSession/);
  });

  it('a client pipelining 20,000 slow calls never has more than the cap in flight, and every call is answered', async () => {
    const cap = 1000;
    const total = 20_000;
    const { url, server } = await startServer({ maxInFlightPerSession: cap });
    const c = await RawClient.session(url);
    // Do not read replies while pipelining: the client only writes.
    socketOf(c).pause();
    const peak = sampleMax(() => server.metrics.requestsInFlight);
    for (let i = 0; i < total; i++) {
      c.send({ jsonrpc: '2.0', id: i, method: 'tools/call', params: { name: 'sleep', arguments: { ms: 500 } } });
    }
    await sleep(1500);
    socketOf(c).resume();
    const seen = new Set<number>();
    for (let i = 0; i < total; i++) {
      const r = await c.nextResponse(10_000);
      expect(r.result?.content?.[0]?.text).toBe('slept 500 ms');
      seen.add(r.id as number);
    }
    const max = peak.stop();
    expect(seen.size).toBe(total);
    expect(max).toBeLessThanOrEqual(cap);
    expect(max).toBeGreaterThan(cap / 2);
    expect(server.metrics.requestsInFlight).toBe(0);
    // Still serving, reading again.
    expect((await c.request('ping', undefined, 'after')).result).toEqual({});
    c.close();
  }, 30_000);
});

describe('maxInFlightPerSession and batches (2025-03-26)', () => {
  it('counts every request of a batch, refuses a batch longer than the cap, and answers every call', async () => {
    const cap = 100;
    const { url, server } = await startServer({ maxInFlightPerSession: cap });
    const c = await RawClient.session(url, '2025-03-26');
    const tooLong = Array.from({ length: cap + 1 }, (_, i) => ({ jsonrpc: '2.0', id: `x${i}`, method: 'ping' }));
    c.send(tooLong);
    const refused = await c.nextResponse(10_000);
    expect(refused.error).toMatchObject({ code: -32600, data: { limit: cap } });
    socketOf(c).pause();
    const peak = sampleMax(() => server.metrics.requestsInFlight);
    const batches = 20;
    for (let b = 0; b < batches; b++) {
      c.send(Array.from({ length: cap }, (_, i) => ({ jsonrpc: '2.0', id: b * cap + i, method: 'tools/call', params: { name: 'sleep', arguments: { ms: 200 } } })));
    }
    await sleep(1000);
    socketOf(c).resume();
    const seen = new Set<number>();
    for (let b = 0; b < batches; b++) {
      const replies = (await c.next(20_000)) as unknown as Array<{ id: number; result?: { content: Array<{ text: string }> } }>;
      expect(Array.isArray(replies)).toBe(true);
      for (const r of replies) {
        expect(r.result?.content[0]?.text).toBe('slept 200 ms');
        seen.add(r.id);
      }
    }
    const max = peak.stop();
    expect(seen.size).toBe(batches * cap);
    // Reading stops once the cap is reached; the batch that reached it may pass it by its own length.
    expect(max).toBeLessThan(2 * cap);
    expect(server.metrics.requestsInFlight).toBe(0);
    c.close();
  }, 60_000);
});

describe('maxInFlightPerSession from a config file', () => {
  it('mcp-ws serve holds a pipelining client to the configured cap and answers every call', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mcp-ws-inflight-'));
    const config = join(dir, 'config.json');
    writeFileSync(config, JSON.stringify({ maxInFlightPerSession: 8 }));
    const s = await serve(['--port', '0', '--log-level', 'warn', '-c', config]);
    try {
      const metricsUrl = s.url.replace('ws://', 'http://').replace(/\/ws$/, '/metrics');
      const inFlight = async (): Promise<number> => {
        const text = await (await fetch(metricsUrl)).text();
        return Number(/^mcp_ws_requests_in_flight (\d+)/m.exec(text)?.[1] ?? NaN);
      };
      const c = await RawClient.session(s.url);
      const total = 200;
      for (let i = 0; i < total; i++) c.send({ jsonrpc: '2.0', id: i, method: 'tools/call', params: { name: 'sleep', arguments: { ms: 200 } } });
      let max = 0;
      const seen = new Set<number>();
      const replies = (async () => {
        for (let i = 0; i < total; i++) seen.add((await c.nextResponse(10_000)).id as number);
      })();
      for (let i = 0; i < 100 && seen.size < total; i++) {
        max = Math.max(max, await inFlight());
        await sleep(50);
      }
      await replies;
      expect(seen.size).toBe(total);
      expect(max).toBeGreaterThan(0);
      expect(max).toBeLessThanOrEqual(8);
      c.close();
    } finally {
      s.child.kill('SIGTERM');
      await s.exit;
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);
});

/** One masked client text frame (zero mask key: the payload goes as it is). */
function clientFrame(text: string): Buffer {
  const payload = Buffer.from(text);
  const n = payload.length;
  const head = n < 126 ? Buffer.from([0x81, 0x80 | n]) : Buffer.from([0x81, 0x80 | 126, n >> 8, n & 0xff]);
  return Buffer.concat([head, Buffer.alloc(4), payload]);
}

describe('a message cut by the pause', () => {
  it('is not timed out as incomplete while the server is not reading', async () => {
    const { url, server } = await startServer({ maxInFlightPerSession: 2, messageTimeoutMs: 300, closeTimeoutMs: 200 });
    const c = await RawClient.session(url);
    const call = (id: number): string => JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'sleep', arguments: { ms: 1500 } } });
    const third = clientFrame(JSON.stringify({ jsonrpc: '2.0', id: 3, method: 'ping' }));
    // Two calls fill the cap; the read that carries them ends inside the third message.
    socketOf(c).write(Buffer.concat([clientFrame(call(1)), clientFrame(call(2)), third.subarray(0, 10)]));
    await sleep(100);
    socketOf(c).write(third.subarray(10));
    const ids = [];
    for (let i = 0; i < 3; i++) ids.push((await c.nextResponse(10_000)).id);
    expect(ids.sort()).toEqual([1, 2, 3]);
    expect(server.metrics.errors.message_timeout).toBe(0);
    c.close();
  }, 30_000);

  it('is timed out from the resume on when the client never finishes it', async () => {
    const { url, server } = await startServer({ maxInFlightPerSession: 2, messageTimeoutMs: 300, closeTimeoutMs: 200 });
    const c = await RawClient.session(url);
    const call = (id: number): string => JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'sleep', arguments: { ms: 500 } } });
    const third = clientFrame(JSON.stringify({ jsonrpc: '2.0', id: 3, method: 'ping' }));
    socketOf(c).write(Buffer.concat([clientFrame(call(1)), clientFrame(call(2)), third.subarray(0, 10)]));
    expect((await c.nextResponse(10_000)).id).toBeTypeOf('number');
    expect((await c.closed).code).toBe(1008);
    expect(server.metrics.errors.message_timeout).toBe(1);
  }, 30_000);
});

describe('heartbeats while not reading', () => {
  it('a client held back at the in-flight cap is not terminated for a pong the server is not reading', async () => {
    const { url, server } = await startServer({ maxInFlightPerSession: 2, heartbeatIntervalMs: 100, heartbeatTimeoutMs: 100 });
    const c = await RawClient.session(url);
    for (let id = 1; id <= 3; id++) c.send({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'sleep', arguments: { ms: 1500 } } });
    const ids = [];
    for (let i = 0; i < 3; i++) ids.push((await c.nextResponse(10_000)).id);
    expect(ids.sort()).toEqual([1, 2, 3]);
    expect(server.metrics.errors.heartbeat_timeout).toBe(0);
    expect((await c.request('ping', undefined, 'after')).result).toEqual({});
    c.close();
  }, 30_000);
});

describe('two reasons to stop reading', () => {
  it('in flight dropping below the cap does not resume reading while the send queue is still over maxBufferedBytes', async () => {
    const big = 'y'.repeat(1024 * 1024);
    let calls = 0;
    const router = new McpRouter({ name: 'slow-big', version: '1' }).tool({ name: 'slowBig' }, async () => {
      calls++;
      await sleep(100);
      return big;
    });
    const cap = 4;
    const { url, server } = await startServer({ handler: router, maxInFlightPerSession: cap, maxBufferedBytes: 65536, slowConsumerTimeoutMs: 20_000 });
    const c = await RawClient.session(url);
    socketOf(c).pause();
    const total = 120;
    for (let i = 0; i < total; i++) c.send({ jsonrpc: '2.0', id: i, method: 'tools/call', params: { name: 'slowBig', arguments: {} } });
    // Long enough for every call to have run several times over, had reading resumed.
    await sleep(1500);
    expect(server.metrics.requestsInFlight).toBe(0);
    const callsWhilePaused = calls;
    // The kernel's socket buffers (tens of MiB at most) take a few replies; after that only the send queue cap holds reading.
    expect(callsWhilePaused).toBeLessThan(total / 2);
    socketOf(c).resume();
    const seen = new Set<number>();
    for (let i = 0; i < total; i++) seen.add((await c.nextResponse(10_000)).id as number);
    expect(seen.size).toBe(total);
    expect(calls).toBe(total);
    expect(server.metrics.errors.slow_consumer).toBe(0);
    c.close();
  }, 30_000);
});

describe('compression queues', () => {
  it('pending async compressions count toward maxBufferedBytes: a client that never reads is closed 4001 with the queue bounded', async () => {
    const replySize = 256 * 1024;
    // Hex of random bytes: compresses about 2:1, so replies stay large on the wire.
    const big = randomBytes(replySize / 2).toString('hex');
    let calls = 0;
    const router = new McpRouter({ name: 'big', version: '1' }).tool({ name: 'big' }, () => (calls++, big));
    const maxBufferedBytes = 1024 * 1024;
    const { url, server } = await startServer({
      handler: router,
      maxBufferedBytes,
      slowConsumerTimeoutMs: 500,
      closeTimeoutMs: 200,
      compression: { algorithms: ['gzip'], inlineMaxBytes: 0 },
    });
    const c = await RawClient.open(url, ['mcp.gzip']);
    expect(c.ws.protocol).toBe('mcp.gzip');
    c.send({ jsonrpc: '2.0', id: 'init', method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {} } });
    await c.next();
    socketOf(c).pause();
    const peak = sampleMax(() => codecLimiter.active + codecLimiter.waiting);
    for (let i = 0; i < 400; i++) c.send({ jsonrpc: '2.0', id: i, method: 'tools/call', params: { name: 'big', arguments: {} } });
    for (let i = 0; i < 300 && server.sessionCount > 0; i++) await sleep(50);
    const maxPending = peak.stop();
    expect(server.sessionCount).toBe(0);
    expect(server.metrics.errors.slow_consumer).toBe(1);
    // Reading stopped once queued + pending bytes passed the cap: at most a few replies beyond it.
    expect(maxPending * replySize).toBeLessThanOrEqual(maxBufferedBytes + 4 * replySize);
    // The rest of the 400 requests were never dispatched.
    expect(calls).toBeLessThan(400);
  }, 30_000);

  it(`queued decompressions stop reading beyond ${String(MAX_PENDING_DECODES)}, and every request is answered in order`, async () => {
    const { url, server } = await startServer({ compression: { algorithms: ['gzip'], inlineDecodeMaxBytes: 0, minCompressSize: 1 << 20 } });
    const c = await RawClient.open(url, ['mcp.gzip']);
    const total = 2000;
    const frames = Array.from({ length: total }, (_, i) => gzipSync(JSON.stringify({ jsonrpc: '2.0', id: i, method: 'ping' })));
    const peak = sampleMax(() => codecLimiter.active + codecLimiter.waiting);
    // One write: the server reads them in a few large chunks.
    socketOf(c).cork();
    for (const f of frames) c.ws.send(f, { binary: true });
    socketOf(c).uncork();
    for (let i = 0; i < total; i++) {
      const r = await c.next(10_000);
      expect(r.id).toBe(i);
    }
    const max = peak.stop();
    expect(max).toBeLessThanOrEqual(MAX_PENDING_DECODES);
    expect(max).toBeGreaterThan(0);
    expect(server.metrics.messagesReceived).toBe(total);
    c.close();
  }, 30_000);
});

describe('a session that closes runs nothing more', () => {
  it('messages held while paused are dropped when a held frame closes the session', async () => {
    const ran: number[] = [];
    const router = new McpRouter({ name: 'record', version: '1' })
      .tool({ name: 'slow' }, async () => {
        await sleep(300);
        return 'slow';
      })
      .tool({ name: 'record', inputSchema: { type: 'object', properties: { n: { type: 'number' } } } }, (args) => {
        ran.push(args.n as number);
        return 'recorded';
      });
    const { url } = await startServer({ handler: router, maxInFlightPerSession: 2, closeTimeoutMs: 500 });
    const c = await RawClient.session(url);
    const call = (id: number, name: string, args: object = {}): Buffer =>
      clientFrame(JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args } }));
    const binary = Buffer.from([0x82, 0x80 | 2, 0, 0, 0, 0, 1, 2]);
    // Two slow calls fill the cap; the binary frame (1003) and two more calls are held behind them.
    socketOf(c).write(Buffer.concat([call(1, 'slow'), call(2, 'slow'), binary, call(3, 'record', { n: 3 }), call(4, 'record', { n: 4 })]));
    expect((await c.closed).code).toBe(1003);
    await sleep(200);
    expect(ran).toEqual([]);
  }, 30_000);

  it('a message still being decompressed when the peer goes away is not dispatched', async () => {
    const router = createDemoRouter();
    const { url, server } = await startServer({ handler: router, compression: { algorithms: ['gzip'], inlineDecodeMaxBytes: 0, minCompressSize: 1 << 20 } });
    for (let i = 0; i < 10; i++) {
      const c = await RawClient.open(url, ['mcp.gzip']);
      await c.request('initialize', { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'gone', version: '1' } });
      const padded = JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'sleep', arguments: { ms: 5000 }, _meta: { pad: 'x'.repeat(3_000_000) } } });
      c.ws.send(gzipSync(padded), { binary: true }, () => socketOf(c).destroy());
      await c.closed;
    }
    for (let i = 0; i < 100 && server.sessionCount > 0; i++) await sleep(20);
    await sleep(300);
    expect(server.sessionCount).toBe(0);
    expect(server.metrics.requestsInFlight).toBe(0);
  }, 30_000);
});

