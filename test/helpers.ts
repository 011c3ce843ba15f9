/**
 * Test helpers: real servers on loopback port 0, a raw ws client that
 * reads replies in order, and what many tests repeat: waiting for a
 * condition, a free port, a server's HTTP origin, its /metrics, a
 * WebSocket that may be refused. Nothing here is a mock.
 */
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { WebSocket } from 'ws';
import { McpWsServer } from '../src/server/server.js';
import type { McpWsServerOptions } from '../src/server/server-options.js';
import { createDemoRouter } from '../src/demo/demo-router.js';

const started: McpWsServer[] = [];

/** Starts a server on 127.0.0.1:0. Closed by closeAll(). */
export async function startServer(options: Partial<McpWsServerOptions> = {}): Promise<{ server: McpWsServer; url: string; base: string }> {
  const server = new McpWsServer({ handler: createDemoRouter(), port: 0, processMetrics: false, ...options });
  const addr = await server.listen();
  started.push(server);
  return { server, url: addr.url, base: `http://127.0.0.1:${addr.port}` };
}

export async function closeAll(): Promise<void> {
  await Promise.all(started.splice(0).map((s) => s.close()));
}

/** A raw WebSocket with a queue of received messages. */
export class RawClient {
  readonly ws: WebSocket;
  private readonly queue: Array<{ data: string; binary: boolean }> = [];
  private waiters: Array<(m: { data: string; binary: boolean }) => void> = [];
  closed: Promise<{ code: number; reason: string }>;
  private nextId = 1;

  private constructor(ws: WebSocket) {
    this.ws = ws;
    ws.on('message', (data, binary) => {
      const m = { data: (data as Buffer).toString(), binary };
      const w = this.waiters.shift();
      if (w) w(m);
      else this.queue.push(m);
    });
    this.closed = new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  }

  static async open(url: string, protocols: string[] = ['mcp'], options: ConstructorParameters<typeof WebSocket>[2] = {}): Promise<RawClient> {
    const ws = new WebSocket(url, protocols, options);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
      ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    });
    return new RawClient(ws);
  }

  /** Opens and initializes with `version`. */
  static async session(url: string, version = '2025-11-25'): Promise<RawClient> {
    const c = await RawClient.open(url);
    const r = await c.request('initialize', { protocolVersion: version, capabilities: {}, clientInfo: { name: 'test', version: '1' } });
    if (!r.result) throw new Error(`initialize failed: ${JSON.stringify(r)}`);
    c.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
    return c;
  }

  send(msg: unknown): void {
    this.ws.send(typeof msg === 'string' ? msg : JSON.stringify(msg));
  }

  next(timeoutMs = 5000): Promise<any> {
    return this.nextRaw(timeoutMs).then((m) => JSON.parse(m.data));
  }

  nextRaw(timeoutMs = 5000): Promise<{ data: string; binary: boolean }> {
    const m = this.queue.shift();
    if (m) return Promise.resolve(m);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== done);
        reject(new Error('no message within timeout'));
      }, timeoutMs);
      const done = (msg: { data: string; binary: boolean }): void => {
        clearTimeout(t);
        resolve(msg);
      };
      this.waiters.push(done);
    });
  }

  /** Sends a request and returns the next message (tests keep one request in flight unless they say so). */
  async request(method: string, params?: unknown, id: string | number = this.nextId++): Promise<any> {
    this.send(params === undefined ? { jsonrpc: '2.0', id, method } : { jsonrpc: '2.0', id, method, params });
    return this.next();
  }

  /** Next message that is a response (skips notifications). */
  async nextResponse(timeoutMs = 5000): Promise<any> {
    for (;;) {
      const m = await this.next(timeoutMs);
      if ('id' in m) return m;
    }
  }

  /** No message arrives within `ms`. */
  async expectSilence(ms = 100): Promise<void> {
    await new Promise((r) => setTimeout(r, ms));
    if (this.queue.length > 0) throw new Error(`unexpected message: ${this.queue[0]!.data}`);
  }

  close(): void {
    this.ws.close();
  }
}

// ------------------------------------------------------------ waiting, ports, HTTP

/**
 * Polls `done` every `intervalMs` until it is true or `ms` pass; resolves
 * with its last answer (callers assert it). A throw from `done` propagates.
 */
export async function until(done: () => boolean | Promise<boolean>, ms = 20_000, intervalMs = 25): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await done()) return true;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  return done();
}

/** {@link until}, counting a throw (a refused or timed-out request while a server starts) as not yet. */
export function untilOk(done: () => boolean | Promise<boolean>, ms = 20_000, intervalMs = 50): Promise<boolean> {
  const attempt = async (): Promise<boolean> => {
    try {
      return await done();
    } catch {
      return false;
    }
  };
  return until(attempt, ms, intervalMs);
}

/** Polls `pred` until true; throws naming `what` after `ms`. */
export async function waitFor(pred: () => boolean, ms = 5_000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A loopback port free now (bound and released). */
export async function freePort(): Promise<number> {
  const srv = createNetServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as AddressInfo).port;
  await new Promise((r) => srv.close(r));
  return port;
}

/** The HTTP origin of a ws:// or wss:// URL (its path dropped): where /metrics and /readyz are. */
export function httpBase(url: string): string {
  const u = new URL(url);
  return `${u.protocol === 'wss:' ? 'https:' : 'http:'}//${u.host}`;
}

/** The /metrics text of the server at `base` (an HTTP origin). */
export async function scrape(base: string, timeoutMs = 10_000): Promise<string> {
  return (await fetch(`${base}/metrics`, { signal: AbortSignal.timeout(timeoutMs) })).text();
}

/** One unlabelled sample of `name` in exposition `text`, or undefined. */
export function metricIn(text: string, name: string): number | undefined {
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : undefined;
}

/** One unlabelled sample of `name`, scraped from `base` now. */
export async function metric(base: string, name: string, timeoutMs?: number): Promise<number | undefined> {
  return metricIn(await scrape(base, timeoutMs), name);
}

/**
 * Opens a WebSocket with the `mcp` subprotocol: resolves with it open, or
 * with the status of a refused upgrade; rejects on a network error.
 */
export function openWs(url: string, options: ConstructorParameters<typeof WebSocket>[2] = {}): Promise<WebSocket | number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, 'mcp', { handshakeTimeout: 10_000, ...options });
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      res.resume();
      ws.terminate();
    });
    ws.once('error', reject);
  });
}
